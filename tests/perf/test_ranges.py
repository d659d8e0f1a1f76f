"""Ranges from residuals of published results (core/perf/ranges.py): the conformal arithmetic on
hand-made residual lists, the fallback for thin classes, leave-one-out reporting in ``validate``,
and the shipped table against a refit.
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import range_table, ranges, validate
from hwprof.perf.fit import loso
from tests.conftest import ALL_PUBLISHED
from tests.facts import facts


def res(values: list[float], kind: str = "train", evidence: str = "own", tag: str = "") -> list[ranges.Residual]:
    return [ranges.Residual(f"{tag}{kind}-{evidence}-{i}", kind, evidence, v) for i, v in enumerate(values)]


def test_fewest_cases_for_a_two_sided_90_percent_range() -> None:
    # a/2 = 0.05 in each tail: the upper quantile is the ceil((n + 1) x 0.95)-th of n, finite from n = 19
    assert ranges.MIN_CASES == 19 == ranges.min_cases(0.9)
    assert ranges.min_cases(0.8) == 9  # ceil(10 x 0.9) = 9 <= 9
    assert ranges.quantiles([0.1] * 18) is None
    assert ranges.quantiles([0.1] * 19) == (0.1, 0.1)


def test_conformal_quantiles_by_hand() -> None:
    values = [i / 100 for i in range(1, 20)]  # 0.01 .. 0.19, given shuffled
    shuffled = values[::2] + values[1::2]
    # n = 19: floor(20 x 0.05) = 1st and ceil(20 x 0.95) = 19th: the extremes
    assert ranges.quantiles(shuffled) == (0.01, 0.19)
    # n = 39: floor(40 x 0.05) = 2nd smallest, ceil(40 x 0.95) = 38th
    many = [i / 100 for i in range(1, 40)]
    assert ranges.quantiles(many[::-1]) == (0.02, 0.38)
    # n = 25: floor(26 x 0.05) = 1st, ceil(26 x 0.95) = ceil(24.7) = 25th
    assert ranges.quantiles([float(i) for i in range(25)]) == (0.0, 24.0)
    # 80%: n = 9, floor(10 x 0.1) = 1st, ceil(10 x 0.9) = 9th; n = 19: 2nd and 18th
    assert ranges.quantiles([float(i) for i in range(19)], 0.8) == (1.0, 17.0)


def test_a_class_with_enough_cases_uses_its_own_asymmetric_quantiles() -> None:
    own = [-0.3, *[0.1] * 17, 0.5]  # 19 cases: the model is mostly too fast (published slower)
    table = ranges.fit(res(own) + res([0.2, -0.1], evidence="borrowed"))
    w = table["train", "own"]
    assert (w.low, w.high, w.cases, w.own_cases, w.factor) == (-0.3, 0.5, 19, 19, 1.0)
    # a range always contains the model's own value: all residuals positive still gives low = 0
    assert ranges.fit(res([0.1] * 19))["train", "own"].low == 0.0


def test_a_thin_class_takes_the_kinds_range_widened_only_for_borrowed_chips() -> None:
    own = [-0.3, *[0.1] * 17, 0.5]
    borrowed = [0.2, -0.1, 0.05]
    w = ranges.fit(res(own) + res(borrowed, evidence="borrowed"))["train", "borrowed"]
    # pooled n = 22: floor(23 x 0.05) = 1st = -0.3, ceil(23 x 0.95) = ceil(21.85) = 22nd = 0.5; then x2 in the
    # time ratio: slow end 1 + 2 (e^0.5 - 1), fast end 1 / (1 + 2 (e^0.3 - 1))
    assert ranges.BORROWED_FACTOR.value == 2.0
    slow, fast = 1 + 2 * (math.exp(0.5) - 1), 1 + 2 * (math.exp(0.3) - 1)
    assert (w.low, w.high, w.cases, w.own_cases, w.factor) == pytest.approx(
        (-math.log(fast), math.log(slow), 22, 3, 2.0)
    )
    # a thin class of chips WITH runs of their own takes the pooled range (its cases are in it), not widened
    w = ranges.fit(res([0.1, 0.2]) + res([-0.2, *[0.0] * 18, 0.4], evidence="borrowed"))["train", "own"]
    assert (w.low, w.high, w.factor) == pytest.approx((-0.2, 0.4, 1.0))
    # serving residuals never widen a training range
    assert ranges.fit(res(own) + res([5.0] * 30, kind="serve"))["train", "own"].high == 0.5


def test_widening_scales_the_time_ratio_not_its_logarithm() -> None:
    # +1,650% (x17.5) made twice as wide is +3,300% (x34), not x17.5 squared (+30,525%)
    low, high = ranges.widen(math.log(1 / 1.15), math.log(17.5), 2.0)
    assert math.expm1(high) == pytest.approx(33.0) and math.exp(-low) == pytest.approx(1.30)
    assert ranges.widen(-0.3, 0.5, 1.0) == pytest.approx((-0.3, 0.5))


def test_results_on_an_uncalibrated_stack_widen_only_their_own_class() -> None:
    own = [-0.3, *[0.1] * 17, 0.5]
    table = ranges.fit(res(own) + res([4.0, 4.5, -2.0], evidence="other"))
    assert (table["train", "own"].low, table["train", "own"].high) == (-0.3, 0.5)  # the pool leaves them out
    # too few of their own for quantiles: the pool's range, x2 as it was not measured on that software
    w = table["train", "other"]
    assert (w.cases, w.own_cases, w.factor) == (19, 3, 2.0)
    assert (w.low, w.high) == pytest.approx(ranges.widen(-0.3, 0.5, 2.0))
    many = ranges.fit(res(own) + res([0.4, *[0.3] * 17, 0.9], evidence="other"))["train", "other"]
    # enough of their own: their quantiles where they are wider (the slow end, 0.9), the widened pool where
    # they are narrower (the fast end: all 19 slower than the model, yet no run measured that stack)
    fast = 1 + 2 * (math.exp(0.3) - 1)
    assert (many.low, many.high, many.factor) == pytest.approx((-math.log(fast), 0.9, 2.0))


def test_a_case_on_a_stack_no_calibration_run_used_is_other(reg: registry.Registry) -> None:
    cases = list(reg.validation_cases.values())
    held = next(c for c in cases if c.role == "validation" and c.kind == "serve" and c.stack)
    chip = reg.chip(held.chip)
    assert ranges.case_evidence(held, chip, cases) != "other"  # its stack has a calibration case
    assert ranges.case_evidence(attrs.evolve(held, stack="a-new-engine"), chip, cases) == "other"
    assert ranges.case_evidence(attrs.evolve(held, stack=""), chip, cases) != "other"  # unknown counts as calibrated


def test_a_case_on_another_stack_is_checked_against_the_range_its_chip_shows(reg: registry.Registry) -> None:
    cases = list(reg.validation_cases.values())
    held = next(c for c in cases if c.id == "val-trn1-gpt3-175b-512")  # neuronx-nemo-megatron: no calibration run
    chip = reg.chip(held.chip)
    assert ranges.case_evidence(held, chip, cases) == "other"
    # Trainium1's own calibration run needed a chip factor: an estimate on it shows the corrected range
    assert ranges.shown_class(held, chip, cases) == "corrected"
    assert ranges.shown_class(attrs.evolve(held, stack=""), chip, cases) == "corrected"
    assert ranges.shown_class(attrs.evolve(held, chip="h100-sxm"), reg.chip("h100-sxm"), cases) == "own"


def test_leave_one_out_covers_18_of_20_distinct_residuals() -> None:
    # n = 20: without a case 19 remain, whose range is their extremes; only the overall smallest and
    # largest fall outside a range fitted without them: 18 / 20 = 90%
    values = [(-1) ** i * i / 40 for i in range(20)]
    found = res(values)
    inside = []
    for r in found:
        w = ranges.leave_one_out(found, r.case, "train", "own")
        inside.append(w.low <= r.value <= w.high)
    assert sum(inside) == 18
    assert not inside[values.index(min(values))] and not inside[values.index(max(values))]


def test_band_ends_and_the_physical_cap() -> None:
    w = ranges.Width("train", "own", math.log(0.8), math.log(1.25), 25, 25)
    b = ranges.band("train", "own", w)
    assert (b.fast, b.slow) == pytest.approx((1.25, 0.8))
    assert ranges.time_span(100.0, b) == pytest.approx((80.0, 125.0))
    assert ranges.time_span(100.0, b, fastest=90.0) == pytest.approx((90.0, 125.0))  # no run beats the ceiling
    assert ranges.rate_span(10.0, b) == pytest.approx((8.0, 12.5))
    assert ranges.rate_span(10.0, b, highest=11.0) == pytest.approx((8.0, 11.0))
    facts(b.text, "90%", "25 held-out", "training", "calibration runs")
    assert "-20%..+25% of the model's time" in b.text
    wider = ranges.band("train", "own", w, extrapolated="its 8-bit peak is 3.75x its 16-bit one")
    assert wider.log_high == pytest.approx(math.log(1 + 1.5 * 0.25)) and "x1.5 as its 8-bit peak" in wider.text
    thin = ranges.band("train", "borrowed", ranges.Width("train", "borrowed", -0.4, 0.6, 26, 1, 2.0))
    facts(thin.text, "only 1", "no calibration run of their own", "19 needed", "x2 as")
    # a range rerun at the band's ends is made at least as wide as the band itself
    assert ranges.widened(90.0, 100.0, None, b, True) == pytest.approx((80.0, None))
    assert ranges.widened(7.0, 10.0, 11.0, b, False) == pytest.approx((7.0, 12.5))


def test_residual_reads_as_published_time_over_the_models() -> None:
    assert ranges.residual_of(12.0, 10.0, time_like=True) == pytest.approx(math.log(1.2))  # ran slower
    assert ranges.residual_of(12.0, 10.0, time_like=False) == pytest.approx(math.log(10 / 12))  # ran faster


@pytest.fixture(scope="module")
def report(reg: registry.Registry) -> dict:  # type: ignore[type-arg]
    return loso.run(reg)


@ALL_PUBLISHED
def test_shipped_table_matches_a_refit(reg: registry.Registry) -> None:
    # a model change moves the residuals: refit with `python -m hwprof.perf.fit.ranges_fit --write`
    refit, shipped = ranges.fit(loso.all_residuals(reg)), ranges.shipped()
    assert set(shipped) == set(refit) == set(range_table.WIDTHS)
    for key, w in refit.items():
        s = shipped[key]
        assert (s.cases, s.own_cases, s.factor) == (w.cases, w.own_cases, w.factor), key
        assert s.low == pytest.approx(w.low, abs=2e-3) and s.high == pytest.approx(w.high, abs=2e-3), key


@ALL_PUBLISHED
def test_validate_checks_each_case_against_a_range_fitted_without_its_document(
    reg: registry.Registry, report: dict
) -> None:  # type: ignore[type-arg]
    found = loso.all_residuals(reg)
    by_id = {r.case: r for r in found if r.kind != "search"}
    rows = report["cases"]
    assert rows and all(row["id"] in by_id for row in rows)
    for row in rows:
        r = by_id[row["id"]]
        mates = {x["id"] for x in rows if x["document"] == row["document"]}
        # the width its class takes with every residual of its document left out, its own among them
        w = ranges.fit(x for x in found if x.case not in mates)[r.kind, r.evidence]
        assert row["evidence"] == row["range_class"] == r.evidence and row["range_cases"] == w.cases
        inside_band = w.low - 1e-9 <= r.value <= w.high + 1e-9
        if row["kind"] == "serve":  # the rerun at the band's ends is at least as wide as the band
            assert row["in_range"] or not inside_band, row["id"]
        else:  # training: the band, its fast end capped at the large-matmul rate
            assert row["in_range"] == inside_band or not row["in_range"], row["id"]
    # searched layouts: the same held-out cases, each against its class's "search" range
    for row in (row for row in rows if row["kind"] == "train"):
        r = next(x for x in found if (x.case, x.kind) == (row["id"], "search"))
        mates = {x["id"] for x in rows if x["document"] == row["document"]}
        w = ranges.fit(x for x in found if x.case not in mates)["search", row["range_class"]]
        assert r.value == pytest.approx(ranges.residual_of(row["published"], row["searched_estimate"],
                                                           row["metric"] in validate.TIME_METRICS))  # fmt: skip
        assert row["searched_in_range"] == (w.low - 1e-9 <= r.value <= w.high + 1e-9) or not row["searched_in_range"]
    listed = {(w["kind"], w["evidence"]): w for w in report["ranges"]}
    for evidence in ranges.CLASSES:
        mine = [row for row in rows if row["kind"] == "train" and row["evidence"] == evidence]
        assert listed["search", evidence]["held_out"] == len(mine)
        assert listed["search", evidence]["held_out_inside"] == sum(row["searched_in_range"] for row in mine)
    assert {(w["kind"], w["evidence"]) for w in report["ranges"]} == set(ranges.shipped())


@ALL_PUBLISHED
def test_validate_says_its_figures_are_leave_one_source_out(capsys: pytest.CaptureFixture[str]) -> None:
    from hwprof.cli.app import main

    assert main(["validate", "--role", "validation"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-source-out" in out and "by chip" in out and "by stack" in out
    assert "validation cases set range widths by this procedure only" in out


def test_estimates_say_where_their_range_comes_from(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hwprof.cli.app import main

    train = ["estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--system", "p5.48xlarge"]
    assert main(train) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("range "))
    w = ranges.shipped()["train", "own"]
    # enough cases of its own: their 90% range; too few: the pool's (the wording says which)
    said = (
        "90% of the "
        if w.own_cases >= ranges.MIN_CASES
        else (f"only {w.own_cases}" if w.own_cases else "none yet") + " on chips with calibration runs"
    )
    assert said in line and "held-out published training result" in line and "calibration runs" in line
    assert main([*train, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # no --layout: the search picked it, so the range is the one measured on searched layouts
    w = ranges.shipped()["search", "own"]
    assert data["range"]["kind"] == "search" and data["range"]["evidence"] == "own"
    assert data["range"]["cases"] == w.cases and data["range"]["log_high"] == pytest.approx(w.high)
    assert "each estimated on the layout the search picks" in data["range"]["text"]
    assert main([*train, "--layout", "tp=2,pp=1,dp=4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    w = ranges.shipped()["train", "own"]
    assert data["range"]["kind"] == "train" and data["range"]["log_high"] == pytest.approx(w.high)
    assert "search picks" not in data["range"]["text"]
    assert main(["estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["range"]["kind"] == "serve" and data["range"]["text"] in data["range_basis"]


def test_an_assumed_utilisation_never_passes_the_large_matmul_share() -> None:
    from hwprof.perf import cluster
    from hwprof.perf.train import training

    reg = registry.build(registry.Settings(profile_dirs=()))
    work = reg.workload("llama3.1-8b")
    target = cluster.cluster_for(reg.chip("h100-sxm"), 8, None, reg.interconnects)
    band = ranges.band("train", "borrowed", ranges.Width("train", "borrowed", -2.0, 1.0, 26, 1, 2.0))
    r = training.given_mfu(training.TrainRequest(work, target, 1e11, "bf16"), 0.4, band, "assumed")
    # e^2 x 0.4 = 2.96 of peak would be the band's fast end; the large-matmul share (0.639) stops it
    assert r.mfu.high == pytest.approx(0.6393) and r.mfu.low == pytest.approx(0.4 * math.exp(-1.0))
    assert r.time_s.low == pytest.approx(r.time_s.expected * 0.4 / 0.6393)


def test_evidence_class_from_calibration_runs_and_chip_factors(reg: registry.Registry) -> None:
    import attrs

    from hwprof.data import records

    base = reg.chip("h100-sxm")
    src = records.Source(key="k", title="t")
    fitted = attrs.evolve(
        base, id="x1", training_efficiency=records.Figure(0.7, src, "derived"), prefill_efficiency=None
    )
    guessed = attrs.evolve(fitted, training_efficiency=records.Figure(0.7, src, "estimated"))
    plain = attrs.evolve(fitted, training_efficiency=None)
    assert ranges.evidence("train", fitted, {"x1"}) == "corrected"  # its own runs needed a factor of their own
    assert ranges.evidence("train", guessed, {"x1"}) == "own"  # an estimated factor was not fitted on it
    assert ranges.evidence("train", plain, {"x1"}) == "own"
    assert ranges.evidence("serve", fitted, {"x1"}) == "own"  # serving reads prefill_efficiency, not training's
    assert ranges.evidence("train", fitted, {"x2"}) == ranges.evidence("train", plain, ()) == "borrowed"
    cal = next(c for c in reg.validation_cases.values() if c.role == "calibration" and c.kind == "serve")
    held = next(c for c in reg.validation_cases.values() if c.role == "validation" and c.kind == "serve")
    cases = [attrs.evolve(cal, chip="a"), attrs.evolve(held, chip="b"), attrs.evolve(cal, chip="c", kind="train")]
    assert ranges.own_chips(cases, "serve") == {"a"} and ranges.own_chips(cases, "train") == {"c"}


def test_texts_factors_and_edges_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # n = 38: floor(39 x 0.05) = floor(1.95) = 1st, ceil(39 x 0.95) = ceil(37.05) = 38th
    assert ranges.quantiles([float(i) for i in range(38)]) == (0.0, 37.0)
    w = ranges.Width("train", "own", math.log(0.8), math.log(1.25), 25, 25)
    b = ranges.band("train", "own", w)
    assert b.factor == 1.0 and b.cases == 25 and b.nominal == 0.9
    assert ranges.time_span(0.5, b) == pytest.approx((0.4, 0.625))  # no physical bound unless given
    x = ranges.band("train", "own", w, extrapolated="a reason")
    # x1.5 in the time ratio: slow end 1 + 1.5 x 0.25 = 1.375 (+37.5%, printed +37%), fast end 1 / 1.375
    assert (x.log_low, x.log_high, x.factor) == pytest.approx((-math.log(1.375), math.log(1.375), 1.5))
    assert "-20%..+25% of the model's time" not in x.text and "fell within -20%..+25%; x1.5 as a reason" in x.text
    facts(x.text.split("x1.5 as a reason")[1], "-27%..+37% of the model's time", "software stacks", "split conformal")
    # a thin class shows the kind's range before the factor, then after it: e^0.6 = 1.822 = 1 + 2 x 0.411,
    # e^0.4 = 1.492 = 1 + 2 x 0.246: before it -20% (1 / 1.246) .. +41%; after it -33%..+82%
    thin = ranges.band("serve", "corrected", ranges.Width("serve", "corrected", -0.4, 0.6, 1, 1, 2.0))
    before, after = thin.text.split("x2 as")
    facts(before, "only 1", "chip factor", "19 needed", "90%", "serving", "-20%..+41%")
    facts(after, "judgement", "-33%..+82% of the model's time")
    assert not ranges.BORROWED_FACTOR.calibrated and not ranges.EXTRAPOLATION_FACTOR.calibrated
    # a kind without any residual has no range; a class the shipped table lacks neither
    empty = ranges.fit(res([0.1] * 19))
    assert all((v.low, v.high) == (0.0, 0.0) for (kind, _), v in empty.items() if kind == "serve")
    monkeypatch.setattr(range_table, "WIDTHS", {})
    none = ranges.band("serve", "own")
    assert (none.log_low, none.log_high, none.cases) == (0.0, 0.0, 0) and none.text.startswith("none yet on chips")


def test_a_measured_class_without_runs_is_never_narrower_than_the_widened_pool() -> None:
    # 19 results on stacks no calibration run used, all within 1% of the model: enough for quantiles of
    # their own, but an estimate without runs still shows at least the pool of calibrated runs, x2
    own = [-0.3, *[0.1] * 17, 0.5]
    w = ranges.fit(res(own) + res([0.01] * 19, evidence="other"))["train", "other"]
    slow, fast = 1 + 2 * (math.exp(0.5) - 1), 1 + 2 * (math.exp(0.3) - 1)
    assert (w.low, w.high, w.cases, w.own_cases, w.factor) == pytest.approx(
        (-math.log(fast), math.log(slow), 38, 19, 2.0)
    )
    # its own results may widen it: a tail beyond the widened pool is kept
    w = ranges.fit(res(own) + res([-0.9, *[0.01] * 17, 2.0], evidence="other"))["train", "other"]
    assert (w.low, w.high) == pytest.approx((-0.9, 2.0))


def test_serving_regimes_have_their_own_quantiles_when_they_have_enough() -> None:
    # 19 decode results at +-10% and 19 first tokens at +-50%: each regime's own 90% range (the 1st and
    # 19th of 19 sorted); with only 5 first tokens the first-token range pools both regimes' 24 results.
    decode = [math.log(1 + 0.1 * (i - 9) / 9) for i in range(19)]  # -10% .. +10%
    first = [math.log(1 + 0.5 * (i - 9) / 9) for i in range(19)]  # -50% .. +50%
    table = ranges.fit(res(decode, "serve") + res(first, "first"))
    assert (table["serve", "own"].low, table["serve", "own"].high) == pytest.approx((math.log(0.9), math.log(1.1)))
    assert (table["first", "own"].low, table["first", "own"].high) == pytest.approx((math.log(0.5), math.log(1.5)))
    few = ranges.fit(res(decode, "serve") + res(first[7:12], "first"))
    assert few["first", "own"].cases == 24 and few["first", "own"].own_cases == 5
    pooled = sorted(decode + first[7:12])  # 24 results: the 1st and 24th (floor / ceil of 25 x 0.05, 0.95)
    assert (few["first", "own"].low, few["first", "own"].high) == pytest.approx((pooled[0], pooled[-1]))
    assert few["serve", "own"].cases == 19  # decode keeps its own


def test_a_first_token_is_judged_in_the_first_token_regime() -> None:
    case = type("Case", (), {"kind": "serve", "metric": "ttft_s"})()
    assert ranges.kind_of(case) == "first"  # type: ignore[arg-type]
    for kind, metric in (("serve", "tpot_s"), ("serve", "tokens_per_s"), ("train", "mfu")):
        assert ranges.kind_of(type("Case", (), {"kind": kind, "metric": metric})()) == kind  # type: ignore[arg-type]
