"""The training calibration on synthetic cases: a constant planted in made-up "published" values
(the model's own estimate under the planted constant, optionally times a common factor) is found
again by the fit; the whole-run factor and the spread follow from the arithmetic written here.

The cases are real registry records with every layout key fixed (one candidate each, so a run is
fast); the published values are computed at test time, so the tests hold whatever the shipped
constants are.
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.core.data import registry
from hwprof.core.perf import calibrate, training, validate
from hwprof.core.perf import efficiency as eff

LAYOUT = "tp=2,pp=1,dp=4,cp=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1"


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


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
