"""``python -m hwprof.core.perf.calibrate`` prints each fitted constant with its cases, the whole-run
factor, the spread, and each calibration case's residual; run here on synthetic cases whose planted
constants are known (the registry is the real one with its cases replaced)."""

from __future__ import annotations

import math

import attrs
import pytest
from test_mut_calibrate import make_case, name_of, published_at, with_cases

from hwprof.core.data import registry
from hwprof.core.perf import calibrate, training, validate


def test_main_prints_the_fit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    half, eight = name_of("matmul_16bit"), name_of("matmul_8bit")
    monkeypatch.setattr(calibrate, "FITTED", {n: calibrate.FITTED[n] for n in (half, eight)})
    start = training.constants()
    planted = attrs.evolve(start, matmul_16bit=start.matmul_16bit * 1.2)
    a16 = published_at(make_case(reg, "a16", calibrates=(half,)), reg, planted)
    a8 = published_at(make_case(reg, "a8", precision="fp8", calibrates=(eight,)), reg, planted)
    job, _ = validate.train_job(a16, reg, planted)
    flops = 6 * job.active_params + 6 * job.layers * job.seq_len * job.heads * job.head_dim
    hours = 1e11 * flops / (0.4 * job.peak_matmul * 8) / 3600 * 8
    steady = make_case(reg, "steady", metric="mfu", published=0.4)
    whole = make_case(reg, "whole", metric="chip_hours", tokens=1e11, full_run=True, published=hours / 0.9,
                      calibrates=calibrate.FULL_RUN)  # fmt: skip
    held = attrs.evolve(steady, id="held", role="validation")
    serve = next(c for c in reg.validation_cases.values() if c.kind == "serve" and c.role == "calibration")
    synthetic = with_cases(reg, a16, a8, steady, whole, held, serve)
    monkeypatch.setattr(registry, "build", lambda settings: synthetic)
    calibrate.main()
    lines = capsys.readouterr().out.splitlines()
    consts, full_run, spread = calibrate.fit(synthetic)
    assert lines[0] == f"{half:30s} {consts.matmul_16bit:.4g}   cases: a16"
    assert lines[1] == f"{eight:30s} {consts.matmul_8bit:.4g}   cases: a8"
    assert lines[2] == f"{'full_run_factor':20s} {full_run:.4g}   cases: whole"
    assert lines[3] == f"{'residual_spread':20s} {spread:.4g}   (90th percentile of |log residual|, steady-state cases)"
    # every training calibration case, by id, with its residual as a relative error; not the held-out one
    # nor the serving one
    assert [line.split()[0] for line in lines[4:]] == ["a16", "a8", "steady", "whole"]
    for line, case in zip(lines[4:], (a16, a8, steady, whole), strict=True):
        assert line == f"  {case.id:34s} {math.expm1(calibrate.residual(case, synthetic, consts)):+.3f}"
    assert abs(consts.matmul_16bit / planted.matmul_16bit - 1) < 2e-3
