"""The training calibration on synthetic cases: a constant planted in made-up "published" values
(the model's own estimate under the planted constant, optionally times a common factor) is found
again by the fit; the whole-run factor and the spread follow from the arithmetic written here.

The cases are real registry records with every layout key fixed (one candidate each, so a run is
fast); the published values are computed at test time, so the tests hold whatever the shipped
constants are.

``python -m hwprof.perf.fit.calibrate`` prints each fitted constant with its cases, the whole-run
factor, the spread, and each calibration case's residual; run here on synthetic cases whose planted
constants are known (the registry is the real one with its cases replaced).

The training model's constants refit from their calibration cases alone, and what the issue
asks of precisions and UltraServers, checked on the real profiles.

A chip's own matmul half width (profile field ``matmul_half_width``, per rank): training and
serving read it in place of the model's default, which is fitted per chip on chips of one rank.
Expectations are worked by hand here.
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.data import records, registry
from hwprof.perf import cluster, ranges, validate
from hwprof.perf import efficiency as eff
from hwprof.perf.cluster import cluster_for
from hwprof.perf.fit import calibrate
from hwprof.perf.serve import layout as sl
from hwprof.perf.train import layout, step, training
from hwprof.perf.train.job import Constants, Job, job_for, own_half_width

LAYOUT = "tp=2,pp=1,dp=4,cp=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1"


def name_of(field: str) -> str:
    """The FITTED entry that fits ``field`` (names may change; fields are the Constants')."""
    return next(n for n, v in calibrate.FITTED.items() if v[0] == field)


def make_case(reg: registry.Registry, id: str, **changes: object) -> object:
    template = next(c for c in reg.validation_cases.values() if c.kind == "train" and c.chip == "h100-sxm")
    base = {"id": id, "role": "calibration", "model": "llama3.1-8b", "chip": "h100-sxm", "chips": 8,
            "system": "hgx-h100-8", "precision": "bf16", "metric": "tokens_per_s_per_chip", "layout": LAYOUT,
            "global_batch": 64, "seq_len": 4096, "full_run": False, "tokens": None, "calibrates": (),
            "ranks_per_chip": 1}  # fmt: skip
    base.update(changes)
    return attrs.evolve(template, **base)


def with_cases(reg: registry.Registry, *cases: object) -> registry.Registry:
    return attrs.evolve(reg, validation_cases={c.id: c for c in cases})  # type: ignore[attr-defined]


def published_at(case: object, reg: registry.Registry, consts: object, times: float = 1.0) -> object:
    """``case`` with its published value set to the model's estimate under ``consts`` (x ``times``)."""
    value = validate.run_train(case, reg, consts).value  # type: ignore[arg-type]
    return attrs.evolve(case, published=value * times)


def test_the_16bit_share_is_found_again_where_it_was_planted(reg: registry.Registry) -> None:
    name = name_of("matmul_16bit")
    start = training.constants()
    planted = attrs.evolve(start, matmul_16bit=start.matmul_16bit * 1.25)
    cases = [
        published_at(make_case(reg, "a", calibrates=(name,)), reg, planted),
        published_at(
            make_case(
                reg,
                "b",
                calibrates=(name,),
                layout=LAYOUT.replace("tp=2", "tp=8").replace("dp=4", "dp=1"),
                seq_len=8192,
            ),
            reg,
            planted,
        ),  # fmt: skip
        # a chip-hours case: a slower estimate means more hours (the residual's sign flips)
        published_at(make_case(reg, "c", calibrates=(name,), metric="chip_hours", tokens=1e11), reg, planted),
    ]
    synthetic = with_cases(reg, *cases)
    assert calibrate.fit_one(name, synthetic, start) == pytest.approx(planted.matmul_16bit, rel=2e-3)
    # each case alone, too (one case: its residual is the median)
    for case in cases:
        alone = with_cases(reg, case)
        assert calibrate.fit_one(name, alone, start) == pytest.approx(planted.matmul_16bit, rel=2e-3), case.id
    # below the start as well
    low = attrs.evolve(start, matmul_16bit=start.matmul_16bit * 0.4)
    lower = with_cases(reg, published_at(cases[2], reg, low))
    assert calibrate.fit_one(name, lower, start) == pytest.approx(low.matmul_16bit, rel=2e-3)


def test_a_constant_without_cases_cannot_be_fitted(reg: registry.Registry) -> None:
    name = name_of("matmul_16bit")
    with pytest.raises(ValueError, match=f"^no calibration case names {name}$"):
        calibrate.fit_one(name, with_cases(reg), training.constants())


def test_the_8bit_share_is_fitted_on_the_gain_over_its_16bit_twin(reg: registry.Registry) -> None:
    name = name_of("matmul_8bit")
    start = training.constants()
    planted = attrs.evolve(start, matmul_8bit=0.45)
    # The whole stack runs 20% faster than the model says, in both precisions: the twin cancels it.
    fp16 = published_at(make_case(reg, "bf16-twin"), reg, planted, times=1.2)
    fp8 = published_at(make_case(reg, "fp8", precision="fp8", calibrates=(name,)), reg, planted, times=1.2)
    synthetic = with_cases(reg, fp16, fp8)
    assert calibrate.twin(fp8, synthetic) == fp16
    assert calibrate.twin_residual(fp8, synthetic, planted) == pytest.approx(0.0, abs=1e-9)
    assert calibrate.residual(fp8, synthetic, planted) == pytest.approx(math.log(1 / 1.2))
    assert calibrate.fit_one(name, synthetic, attrs.evolve(start, matmul_8bit=0.8)) == pytest.approx(0.45, rel=2e-3)
    # without its twin, the 20% leaks into the fit
    alone = with_cases(reg, fp8)
    assert calibrate.twin(fp8, alone) is None
    assert calibrate.twin_residual(fp8, alone, planted) == pytest.approx(math.log(1 / 1.2))
    assert calibrate.fit_one(name, alone, start) > 0.45 * 1.1


def test_twin_needs_the_same_model_chips_layout_and_source(reg: registry.Registry) -> None:
    fp8 = make_case(reg, "fp8", precision="fp8", published=1.0)
    for change in ({"model": "llama2-7b"}, {"chips": 16, "layout": LAYOUT.replace("dp=4", "dp=8")},
                   {"layout": LAYOUT.replace("mb=1", "mb=2")}, {"precision": "fp8"}):  # fmt: skip
        other = make_case(reg, "other", published=1.0, **change)
        assert calibrate.twin(fp8, with_cases(reg, fp8, other)) is None, change
    other_source = attrs.evolve(
        make_case(reg, "other", published=1.0), source=attrs.evolve(fp8.source, key="elsewhere")
    )  # type: ignore[attr-defined]
    assert calibrate.twin(fp8, with_cases(reg, fp8, other_source)) is None
    fp16 = make_case(reg, "fp16", precision="fp16", published=1.0)
    assert calibrate.twin(fp8, with_cases(reg, fp8, fp16)) == fp16


def test_residual_is_the_log_ratio_and_whole_runs_leave_their_factor_out(reg: registry.Registry) -> None:
    consts = training.constants()
    case = make_case(reg, "a", published=1.0)
    estimate = validate.run_train(case, reg, consts).value
    case = attrs.evolve(case, published=estimate * 1.3)
    assert calibrate.residual(case, reg, consts) == pytest.approx(math.log(1 / 1.3))
    hours = make_case(reg, "h", metric="chip_hours", tokens=1e11, full_run=True, published=1.0)
    whole = validate.run_train(hours, reg, consts).value  # includes / FULL_RUN_FACTOR
    hours = attrs.evolve(hours, published=whole)
    # the step model alone: the whole-run estimate times the factor, against the published hours
    assert calibrate.residual(hours, reg, consts) == pytest.approx(math.log(eff.FULL_RUN_FACTOR.value))
    assert calibrate._speed(hours, 0.2) == -0.2 and calibrate._speed(case, 0.2) == 0.2


def test_the_whole_run_factor_is_steady_state_hours_over_published_hours(reg: registry.Registry) -> None:
    consts = training.constants()
    tokens = 1e11
    mfu = make_case(reg, "steady", metric="mfu", published=0.4)
    whole = make_case(reg, "whole", metric="chip_hours", tokens=tokens, full_run=True, published=1.0,
                      calibrates=calibrate.FULL_RUN)  # fmt: skip
    job, _ = validate.train_job(whole, reg, consts)
    # by hand: tokens x 6 (N + L s h) FLOPs at 40% of 8 chips' peak, in chip-hours
    flops_per_token = 6 * job.active_params + 6 * job.layers * job.seq_len * job.heads * job.head_dim
    steady_hours = tokens * flops_per_token / (0.4 * job.peak_matmul * 8) / 3600 * 8
    whole = attrs.evolve(whole, published=steady_hours / 0.85)
    assert calibrate.fit_full_run(with_cases(reg, mfu, whole), consts) == pytest.approx(0.85)
    # the twin must be a calibration MFU case of the same model, chip and chip count
    for change in ({"role": "validation"}, {"metric": "tokens_per_s_per_chip"}, {"model": "llama2-7b"},
                   {"chips": 16, "layout": LAYOUT.replace("dp=4", "dp=8")}):  # fmt: skip
        other = attrs.evolve(mfu, **change)
        # without a twin the model's own steady state stands in for it
        model = validate.run_train(whole, reg, consts).value * eff.FULL_RUN_FACTOR.value
        got = calibrate.fit_full_run(with_cases(reg, other, whole), consts)
        assert got == pytest.approx(model / whole.published), change
    # the median over several whole runs
    w2 = attrs.evolve(whole, id="w2", published=steady_hours / 0.5)
    w3 = attrs.evolve(whole, id="w3", published=steady_hours / 0.9)
    assert calibrate.fit_full_run(with_cases(reg, mfu, whole, w2, w3), consts) == pytest.approx(0.85)


def test_the_spread_is_the_90th_percentile_of_the_absolute_residuals(reg: registry.Registry) -> None:
    consts = training.constants()
    logs = [0.01, -0.02, 0.03, -0.04, 0.05, 0.06, -0.07, 0.08, 0.09, -0.10]
    cases = [published_at(make_case(reg, f"c{i}"), reg, consts, math.exp(-r)) for i, r in enumerate(logs)]
    # cases the spread does not read: a whole run, a validation case, a serving case
    ignored = [
        attrs.evolve(cases[0], id="whole", full_run=True, metric="chip_hours", tokens=1e11, published=1.0),
        attrs.evolve(cases[0], id="held", role="validation", published=cases[0].published * 10),  # type: ignore[attr-defined]
    ]
    synthetic = with_cases(reg, *cases, *ignored)
    assert calibrate.spread(synthetic, consts) == pytest.approx(0.09)  # ceil(0.9 x 10) = 9th of 10
    assert calibrate.spread(synthetic, consts, share=0.45) == pytest.approx(0.05)  # ceil(4.5) = 5th
    assert calibrate.spread(synthetic, consts, share=1.0) == pytest.approx(0.10)  # the largest
    assert calibrate.spread(synthetic, consts, share=0.05) == pytest.approx(0.01)  # 1st
    assert calibrate.spread(with_cases(reg), consts) == 0.0


def test_chip_factors_come_from_the_calibration_cases_that_name_them(reg: registry.Registry) -> None:
    named = make_case(reg, "a", published=1.0, calibrates=("h100-sxm.training_efficiency",))
    held = attrs.evolve(named, id="b", role="validation", calibrates=("trainium1.training_efficiency",))
    serve = attrs.evolve(named, id="c", kind="serve", calibrates=("trainium2.training_efficiency",))
    other = attrs.evolve(named, id="d", calibrates=("h200.memory",))
    entries = calibrate.fitted(with_cases(reg, named, held, serve, other))
    assert set(entries) == set(calibrate.FITTED) | {"h100-sxm.training_efficiency"}
    field, low, high, names = entries["h100-sxm.training_efficiency"]
    assert field == "chip:h100-sxm" and low < 1 < high and names == ("h100-sxm.training_efficiency",)


def test_values_and_chip_factors_round_trip(reg: registry.Registry) -> None:
    consts = training.constants()
    assert calibrate.value_of(consts, "half_width") == consts.half_width
    changed = calibrate.with_value(consts, "half_width", 123.0)
    assert changed.half_width == 123.0 and changed.matmul_8bit == consts.matmul_8bit
    one = calibrate.with_value(consts, "chip:x", 0.5)
    two = calibrate.with_value(calibrate.with_value(one, "chip:y", 0.7), "chip:x", 0.6)
    assert dict(two.chip_factors) == {"x": 0.6, "y": 0.7} and len(two.chip_factors) == 2
    assert calibrate.value_of(two, "chip:x") == 0.6 and calibrate.value_of(two, "chip:y") == 0.7
    # the shipped constants carry each fitted chip's profile factor (1 when the profile has none)
    named = make_case(reg, "a", published=1.0, calibrates=("h100-sxm.training_efficiency",))
    synthetic = with_cases(reg, named)
    chip = reg.chip("h100-sxm")
    expected = chip.training_efficiency.value if chip.training_efficiency else 1.0
    assert dict(calibrate.shipped(synthetic).chip_factors) == {"h100-sxm": expected}
    assert calibrate.shipped(with_cases(reg)).chip_factors == ()
    planted = attrs.evolve(chip, training_efficiency=None)
    bare = attrs.evolve(synthetic, chips={**reg.chips, "h100-sxm": planted})
    assert dict(calibrate.shipped(bare).chip_factors) == {"h100-sxm": 1.0}


def test_cases_and_names_select_calibration_training_cases(reg: registry.Registry) -> None:
    a = make_case(reg, "a", published=1.0, calibrates=("x",))
    b = attrs.evolve(a, id="b", calibrates=("trainium1.training_efficiency",))
    c = attrs.evolve(a, id="c", role="validation")
    d = attrs.evolve(a, id="d", kind="serve")
    e = attrs.evolve(a, id="e", calibrates=("y",))
    synthetic = with_cases(reg, e, d, c, b, a)
    assert [x.id for x in calibrate.cases_for(synthetic, ("x",))] == ["a"]
    assert [x.id for x in calibrate.cases_for(synthetic, ("x", "y"))] == ["a", "e"]  # sorted by id
    assert [x.id for x in calibrate.cases_for(synthetic, (".training_efficiency",))] == ["b"]
    assert calibrate._names("a.z", (".z",)) and not calibrate._names("a.z", ("z",))
    assert calibrate._names("z", ("z",)) and not calibrate._names("zz", (".z",))
    for names in (v[3] for v in calibrate.FITTED.values()):
        assert all(calibrate.known(n) for n in names)
    assert calibrate.known("full_run_factor") and not calibrate.known("no_such_constant")


def test_the_bisection_stops_at_its_tolerance(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    name = name_of("matmul_16bit")
    field, low, high, _ = calibrate.FITTED[name]
    start = training.constants()
    planted = attrs.evolve(start, matmul_16bit=start.matmul_16bit * 1.2)
    synthetic = with_cases(reg, published_at(make_case(reg, "a", calibrates=(name,)), reg, planted))
    calls = []
    real = validate.run_train

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "run_train", counted)
    for tolerance in (1e-3, 1e-6):
        calls.clear()
        got = calibrate.fit_one(name, synthetic, start, tolerance=tolerance)
        assert got == pytest.approx(planted.matmul_16bit, rel=10 * tolerance)
        # one run per case per trial: the two ends, then one halving per trial until the bracket is
        # within the tolerance of the value
        halvings = math.ceil(math.log2((high - low) / (tolerance * planted.matmul_16bit)))
        assert 2 + halvings - 2 <= len(calls) <= 2 + halvings + 1, (tolerance, len(calls), halvings)


def test_fit_refits_every_constant_in_turn(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    half, eight = name_of("matmul_16bit"), name_of("matmul_8bit")
    monkeypatch.setattr(calibrate, "FITTED", {n: calibrate.FITTED[n] for n in (half, eight)})
    start = training.constants()
    planted = attrs.evolve(start, matmul_16bit=start.matmul_16bit * 1.15, matmul_8bit=start.matmul_8bit * 0.95)
    cases = [
        published_at(make_case(reg, "a16", calibrates=(half,)), reg, planted),
        published_at(make_case(reg, "b16", calibrates=(half,), seq_len=8192), reg, planted),
        published_at(make_case(reg, "a8", precision="fp8", calibrates=(eight,)), reg, planted),
    ]
    job, _ = validate.train_job(cases[0], reg, planted)
    steady = make_case(reg, "steady", metric="mfu", published=0.4)
    flops_per_token = 6 * job.active_params + 6 * job.layers * job.seq_len * job.heads * job.head_dim
    hours = 1e11 * flops_per_token / (0.4 * job.peak_matmul * 8) / 3600 * 8
    whole = make_case(reg, "whole", metric="chip_hours", tokens=1e11, full_run=True, published=hours / 0.9,
                      calibrates=calibrate.FULL_RUN)  # fmt: skip
    synthetic = with_cases(reg, *cases, steady, whole)
    consts, full_run, spread = calibrate.fit(synthetic)
    assert consts.matmul_16bit == pytest.approx(planted.matmul_16bit, rel=2e-3)
    assert consts.matmul_8bit == pytest.approx(planted.matmul_8bit, rel=2e-3)
    assert full_run == pytest.approx(0.9)
    # the residuals left are those of the steady-state cases at the fitted constants
    assert spread == pytest.approx(calibrate.spread(synthetic, consts))
    assert spread < 0.01 + abs(calibrate.residual(steady, synthetic, consts))
    one_round = calibrate.fit(synthetic, rounds=1)[0]
    assert one_round.matmul_16bit == pytest.approx(planted.matmul_16bit, rel=2e-2)


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


@pytest.mark.parametrize("name", list(calibrate.FITTED))
def test_each_constant_refits_from_its_cases_within_3_percent(reg: registry.Registry, name: str) -> None:
    shipped = training.constants()
    field = calibrate.FITTED[name][0]
    cases = calibrate.cases_for(reg, calibrate.FITTED[name][3])
    assert cases and all(c.role == "calibration" for c in cases)
    refit = calibrate.fit_one(name, reg, calibrate.shipped(reg))
    assert refit == pytest.approx(getattr(shipped, field), rel=0.03), f"{name}: refit {refit:.4g}"
    assert eff.DEFAULTS[name].value == getattr(shipped, field)


def test_each_chip_software_factor_refits_from_its_cases_within_3_percent(reg: registry.Registry) -> None:
    chips = [name for name in calibrate.fitted(reg) if name not in calibrate.FITTED]
    # the chips with published runs of their own
    assert chips == ["trainium1.training_efficiency", "trainium2.training_efficiency"]
    consts = calibrate.shipped(reg)
    for name in chips:
        assert calibrate.cases_for(reg, calibrate.fitted(reg)[name][3])
        profile = reg.chip(name.split(".")[0]).training_efficiency
        assert profile is not None and profile.status == "derived"
        assert calibrate.fit_one(name, reg, consts) == pytest.approx(profile.value, rel=0.03)


def test_chips_without_runs_of_their_own_carry_an_estimated_factor(reg: registry.Registry) -> None:
    # Trainium3 has no published training run: it borrows the factor of the nearest chip with one
    # (its profile's `nearest`, Trainium2 first), marked estimated, and its range is the wider one.
    trn3 = reg.chip("trainium3")
    assert trn3.nearest[0] == "trainium2"
    nearest = reg.chip("trainium2").training_efficiency
    figure = trn3.training_efficiency
    assert figure is not None and nearest is not None
    assert figure.status == "estimated" and figure.value == nearest.value and nearest.status == "derived"


def test_whole_run_factor_refit_within_3_percent(reg: registry.Registry) -> None:
    consts = training.constants()
    consts = calibrate.shipped(reg)
    assert calibrate.fit_full_run(reg, consts) == pytest.approx(eff.FULL_RUN_FACTOR.value, rel=0.03)
    # by hand: 15.6T tokens x (6 x 405.85B + 6 x 126 x 8,192 x 16,384) FLOPs at 41% of 989.5 TFLOPS, over
    # the 30.84M GPU-hours of the model card
    flops = 15.6e12 * (6 * 405.85e9 + 6 * 126 * 8192 * 16384)
    steady_hours = flops / (0.41 * 989.5e12) / 3600
    llama = steady_hours / 30.84e6  # 0.879
    # DeepSeek-V3 publishes no steady MFU: the model's steady state on its layout over its 2.664M GPU-hours
    v3 = reg.validation_cases["cal-deepseek-v3-gpu-hours"]
    deepseek = validate.run_train(v3, reg, consts).value * eff.FULL_RUN_FACTOR.value / 2.664e6
    assert 0.8 < deepseek < llama  # the median of two runs is their mean
    assert eff.FULL_RUN_FACTOR.value == pytest.approx((llama + deepseek) / 2, rel=0.01)


def test_no_validation_case_is_read_by_the_fit(reg: registry.Registry) -> None:
    for name in calibrate.FITTED:
        assert all(c.role == "calibration" for c in calibrate.cases_for(reg, calibrate.FITTED[name][3]))
    assert all(c.role == "calibration" for c in calibrate.cases_for(reg, calibrate.FULL_RUN))


def _time(reg: registry.Registry, model: str, system: str, count: int, precision: str, layout: str | None = None,
          batch: int | None = None) -> float:  # fmt: skip
    s = reg.system(system)
    target = cluster.cluster_for(reg.chip(s.chip), count * s.chips, s, reg.interconnects)
    work = reg.workload(model)
    request = training.TrainRequest(work, target, 1e12, precision, global_batch_seqs=batch)
    return training.estimate_train(request, reg.interconnects, layout).time_s.expected


def test_trainium1_fp8_is_no_slower_than_bf16(reg: registry.Registry) -> None:
    # Trainium1's 8-bit peak equals its 16-bit one (190 TFLOPS): at the same layout, no slower.
    lay = "tp=32,pp=8,dp=4"  # in ranks: 2 per chip
    assert _time(reg, "llama3.1-70b", "trn1.32xlarge", 32, "fp8", lay) <= _time(reg, "llama3.1-70b", "trn1.32xlarge",
                                                                                 32, "bf16", lay)  # fmt: skip


@pytest.mark.parametrize(("model", "count", "lay", "batch"), [
    ("llama3.1-70b", 8, "tp=4,pp=4,cp=2,dp=2,vpp=5,recompute=none,grads=16", 128),  # NeMo 70B: published 1.34x
    ("llama3.1-405b", 72, "tp=8,pp=9,cp=2,dp=4,vpp=7,recompute=none,grads=16", 252),  # NeMo 405B: published 1.53x
])  # fmt: skip
def test_h100_fp8_gain_stays_in_the_published_band(reg: registry.Registry, model: str, count: int, lay: str,
                                                   batch: int) -> None:  # fmt: skip
    gain = _time(reg, model, "hgx-h100-8", count, "bf16", lay, batch) / _time(reg, model, "hgx-h100-8", count, "fp8",
                                                                              lay, batch)  # fmt: skip
    assert 1.34 * 0.99 <= gain <= 1.53 * 1.01, gain


def test_trainium3_mxfp8_gain_rests_on_a_stated_fraction_with_a_wider_range(reg: registry.Registry) -> None:
    s = reg.system("trn3-ultraserver-64")
    target = cluster.cluster_for(reg.chip("trainium3"), 64, s, reg.interconnects)
    work = reg.workload("llama3.1-70b")
    lay = "tp=16,pp=4,dp=4"  # in ranks: 4 per chip
    bf16 = training.estimate_train(training.TrainRequest(work, target, 1e12, "bf16"), reg.interconnects, lay)
    mx = training.estimate_train(training.TrainRequest(work, target, 1e12, "mxfp8"), reg.interconnects, lay)
    gain = bf16.time_s.expected / mx.time_s.expected
    # 2,517 / 671 = 3.75x the peak, but the 8-bit share fitted where the peak ratio is 2 (0.73 against
    # 0.99 for 16 bits) and attention stays at 16 bits: well under 3.75x
    assert 1.5 < gain < 3.75 * eff.MATMUL_8BIT.value / eff.MATMUL_16BIT.value
    assert "3.75x its 16-bit one" in mx.range_basis and mx.range is not None and mx.range.evidence == "borrowed"
    assert mx.time_s.high / mx.time_s.expected > bf16.time_s.high / bf16.time_s.expected


def test_an_ultraserver_changes_the_time_where_traffic_leaves_the_instance(reg: registry.Registry) -> None:
    # 1,024 Trainium2: traffic between instances rides NeuronLink inside an UltraServer instead of
    # EFA. With 128 sequences of 8K (1M tokens) per step, little compute per chip hides 405B's
    # traffic: faster (measured -19%; -9.5% since sequence-parallel tensor traffic hides beside the matmuls). At the default 4M-token batch the traffic hides behind compute
    # either way (-0.6%), and 70B's fits an instance's 16 chips but for its data-parallel traffic: no slower.
    assert _time(reg, "llama3.1-405b", "trn2-ultraserver", 16, "bf16", batch=128) < 0.95 * _time(
        reg, "llama3.1-405b", "trn2.48xlarge", 64, "bf16", batch=128
    )
    assert _time(reg, "llama3.1-405b", "trn2-ultraserver", 16, "bf16") <= _time(
        reg, "llama3.1-405b", "trn2.48xlarge", 64, "bf16"
    )
    assert _time(reg, "llama3.1-70b", "trn2-ultraserver", 16, "bf16") <= _time(
        reg, "llama3.1-70b", "trn2.48xlarge", 64, "bf16"
    )
    # and tensor parallel over 128 ranks (32 chips at 4 ranks each) only fits the UltraServer's domain:
    # refused there for memory, not for the domain
    with pytest.raises(Exception, match=r"\(domain\)"):
        _time(reg, "llama3.1-405b", "trn2.48xlarge", 4, "bf16", "tp=128,dp=2,recompute=full")
    with pytest.raises(Exception, match=r"\(memory\)"):
        _time(reg, "llama3.1-405b", "trn2-ultraserver", 1, "bf16", "tp=128,dp=2,recompute=full")


def test_estimate_reports_the_runner_up_and_the_tiers(reg: registry.Registry) -> None:
    s = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip("h100-sxm"), 64, s, reg.interconnects)
    own = ranges.own_chips(reg.validation_cases.values(), "train")
    result = training.estimate_train(training.TrainRequest(reg.workload("llama3.1-70b"), target, 1e12, "bf16"), reg.interconnects,
                                     evidence=training.Evidence(own))  # fmt: skip
    assert result.runner_up is not None and result.runner_up.step_s >= result.step.total_s  # type: ignore[union-attr]
    assert [t.split(":")[0] for t in result.tiers] == ["nvlink4", "efa-v2-p5"]
    assert result.memory is not None and result.memory.fits
    spread = attrs.evolve(result).range_basis
    # its class has its own 90% range, or (fewer than 19 results of its own) the pool's, and says which
    assert "90% " in spread and "held-out published training result" in spread and "calibration runs" in spread


def test_kernel_fit_recovers_a_curve_by_hand() -> None:
    # Two widths fix both unknowns: a = 0.84, n_half = 123 give 0.84 x 256 / 379 = 0.56738 and
    # 0.84 x 4,096 / 4,219 = 0.81551 of a 1,000 TFLOPS peak.
    a, half = calibrate.kernel_fit(((256, 567.38), (4096, 815.51)), 1000.0)
    assert (a, half) == (pytest.approx(0.84, rel=1e-4), pytest.approx(123.0, rel=1e-3))
    # a third point off the curve (1,024 wide at 700 where the curve says 0.84 x 1024 / 1147 = 0.7499):
    # the answer is the least-squares one, log residuals summing to zero and no nearby half width better
    points = ((256, 567.38), (1024, 700.0), (4096, 815.51))
    a, half = calibrate.kernel_fit(points, 1000.0)

    def squares(a: float, half: float) -> list[float]:
        return [math.log(t / 1000 / (a * n / (n + half))) for n, t in points]

    assert sum(squares(a, half)) == pytest.approx(0.0, abs=1e-9)
    best = sum(r * r for r in squares(a, half))
    for other in (half * 0.98, half * 1.02):
        gaps = [math.log(t / 1000) - math.log(n / (n + other)) for n, t in points]
        assert best < sum(r * r for r in squares(math.exp(sum(gaps) / 3), other))
    assert best < sum(r * r for r in squares(0.84, 123.0))


def test_the_half_width_is_the_kernel_fit_and_the_runs_fit_the_share() -> None:
    points = eff.GEMM_KERNEL_TFLOPS
    # the measured table by hand: 503.9 of 989.5 TFLOPS at 256 wide, 793.1 at 4,096 (16,384 rows); 27 shapes
    assert points[0] == (256, 503.9) and points[4] == (4096, 793.1) and len(points) == 27
    assert round(503.9 / 989.5, 3) == 0.509
    a, half = calibrate.kernel_fit(points, eff.GEMM_KERNEL_PEAK_TFLOPS)
    assert half == pytest.approx(eff.MATMUL_HALF_WIDTH.value, rel=0.01) and not eff.MATMUL_HALF_WIDTH.calibrated
    assert a == pytest.approx(eff.GEMM_KERNEL_SHARE, abs=1e-3)
    assert "matmul_half_width" not in calibrate.FITTED and eff.MATMUL_16BIT.calibrated
    # training reaches less of a wide matmul than the kernel alone
    assert eff.MATMUL_16BIT.value < eff.GEMM_KERNEL_SHARE


CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.1, expert_overlap=0.25)
# hidden 8,192, two ranks per chip, long sequences: the width is the hidden side
JOB = Job(name="toy", params=70e9, active_params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
          seq_len=8192, batch_seqs=64, chips=64, domain=32, memory_bytes=16e9, memory_bw=0.4e12, peak_matmul=95e12,
          peak_16bit=95e12, constants=CONSTANTS, ranks_per_chip=2)  # fmt: skip


def test_without_its_own_the_chip_keeps_the_default_per_chip() -> None:
    tp32 = layout.Layout(tp=32)
    # a chip holds 2 of the 32 shards: 8,192 x 2 / 32 = 512 columns against the constants' 1,024
    assert step.chip_width(tp32, JOB) == 512
    assert step.half_width(JOB) == 1024
    assert step.size_factor(tp32, JOB) == pytest.approx(512 / 1536)


def test_its_own_half_width_counts_each_ranks_columns() -> None:
    own = attrs.evolve(JOB, rank_half_width=64.0)
    tp32, tp8 = layout.Layout(tp=32), layout.Layout(tp=8)
    # per rank: 8,192 / 32 = 256 columns against 64 -> 256 / 320 = 0.8; tp 8: 1,024 / 1,088
    assert step.chip_width(tp32, own) == 256
    assert step.size_factor(tp32, own) == pytest.approx(0.8)
    assert step.size_factor(tp8, own) == pytest.approx(1024 / 1088)
    # short micro-batches: 2 sequences of 8,192 over cp 64 = 256 tokens is the narrower side at tp 8
    assert step.size_factor(layout.Layout(tp=8, cp=64, mb=2), own) == pytest.approx(256 / 320)
    # the matmul time follows: at tp 32 the compute of the same layout is in the ratio of the factors
    default, mine = step.step(tp32, JOB), step.step(tp32, own)
    assert mine.matmul_share / default.matmul_share == pytest.approx(0.8 / (512 / 1536))


def test_routed_experts_use_the_chips_own_half_width_too() -> None:
    moe = attrs.evolve(JOB, experts=64, experts_per_token=2, expert_params=60e9, moe_layers=80, active_params=12e9,
                       rank_half_width=64.0)  # fmt: skip
    lay = layout.Layout(tp=8, ep=1)
    # rows reaching one expert: 8,192 tokens x 2 / 64 = 256; an expert's own MLP width 60e9 / (80 layers
    # x 64 experts x 3 x 8,192) = 476.8, over tp 8 = 59.6 columns per rank, narrower still: 59.6 / 123.6
    share = 60e9 * 2 / 64 / 12e9
    dense = step.step(lay, attrs.evolve(moe, experts=0, experts_per_token=0, expert_params=0.0, moe_layers=0))
    routed = step.step(lay, moe)
    width = 60e9 / (80 * 64 * 3 * 8192) / 8
    size, expert_size = 1024 / 1088, width / (width + 64)
    linear = 6 * 12e9 * 8192 / 8  # the layout's matmul FLOPs per micro-batch per rank (pp 1, cp 1)
    extra = share * linear / (95e12 * 0.5 * size) * (size / expert_size - 1)
    # plus routing's memory traffic: 8 (k + 1) h bytes / tp per token and layer at 0.724 of 0.4 TB/s
    permute = 8192 * 80 * 8 * 3 * 8192 / 8 / (0.4e12 * 0.724)
    assert (routed.compute - dense.compute) / routed.micro_batches == pytest.approx(extra + permute, rel=1e-6)
    # the expert term by hand: 0.15625 x 1.649 s x (0.941 / 0.482 - 1)
    assert extra == pytest.approx(0.2453, rel=1e-3)


def test_profiles_give_trainium_its_own_and_gpus_none(reg: registry.Registry) -> None:
    trn1, h100 = reg.chip("trainium1"), reg.chip("h100-sxm")
    assert own_half_width(trn1) == 64 and trn1.matmul_half_width.status == "estimated"
    assert own_half_width(h100) == 0.0
    work, system = reg.workload("llama3.1-70b"), reg.system("trn1.32xlarge")
    job = job_for(
        work, cluster_for(trn1, 512, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS, 8192, 1024
    )
    assert job.rank_half_width == 64 and job.ranks_per_chip == 2
    # Neuron's TP32 on 16 chips: 8,192 / 32 = 256 columns per rank -> 0.8 of a wide matmul's share
    assert step.size_factor(layout.Layout(tp=32, pp=8, dp=4), job) == pytest.approx(0.8)


def test_serving_reads_the_chips_own_half_width_per_rank(reg: registry.Registry) -> None:
    system = reg.system("trn2.48xlarge")
    trn2 = reg.chip("trainium2")
    work = reg.workload("llama3.1-70b")
    own = cluster.cluster_for(trn2, 16, system, reg.interconnects)
    bare = cluster.cluster_for(attrs.evolve(trn2, matmul_half_width=None), 16, system, reg.interconnects)
    lay = sl.ServeLayout(tp=16)
    # own: TP 16 chips x 4 ranks = 64 ranks, 8,192 / 64 = 128 columns against 64 -> 2/3; without
    # it, 8,192 / 16 = 512 columns per chip against the default half width
    ratio = (128 / 192) / (512 / (512 + eff.MATMUL_HALF_WIDTH.value))
    got = sl.replica(work, own, lay).prefill_flops_per_s / sl.replica(work, bare, lay).prefill_flops_per_s
    assert got == pytest.approx(ratio)


def test_the_reader_refuses_a_half_width_of_zero(tmp_path: object) -> None:
    from hwprof.data import rules

    bound = rules.FIELD_BOUNDS[(records.Chip, "matmul_half_width")]
    assert bound.problem(0) is not None and bound.problem(-5.0) is not None
    assert bound.problem(64) is None


def test_the_whole_run_factor_says_what_the_other_published_whole_runs_imply(reg: registry.Registry) -> None:
    # Llama 3.1 model card: 8B 1.46M, 70B 7.0M, 405B 30.84M H100-hours for ~15T tokens; 6N x 15T over
    # the hours at the H100's 989.5 TFLOPS BF16 peak is each whole run's MFU
    peak = reg.chip("h100-sxm").peak_dense_tflops["bf16"].value * 1e12
    implied = {model: 6 * reg.workload(model).params * 15e12 / (hours * 3600 * peak)
               for model, hours in (("llama3.1-8b", 1.46e6), ("llama3.1-70b", 7.0e6), ("llama3.1-405b", 30.84e6))}  # fmt: skip
    why = eff.FULL_RUN_FACTOR.why
    for model in implied:
        assert f"{implied[model]:.1%}" in why, (model, implied[model])
    slower = (implied["llama3.1-405b"] / implied["llama3.1-70b"], implied["llama3.1-405b"] / implied["llama3.1-8b"])
    assert f"{slower[0]:.1f}-{slower[1]:.1f}x" in why
