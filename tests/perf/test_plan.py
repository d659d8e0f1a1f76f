"""Plans: systems x counts x layouts x purchase options, checked against the estimator itself.

Plans by their properties: the count search on made-up time curves (the fewest that fit, doubling
while the time falls, the fewest meeting a deadline), the marks against brute force (the frontier is
Pareto: no point dominated; the cheapest meeting a deadline is the cheapest of the feasible ones;
the fastest within a budget), and ``plan_train`` against the estimator it calls, count by count.

The time curves and rows are synthetic; the one real plan is checked against
``training.estimate_train`` at the same counts, so nothing pins today's constants.

``plan train``'s goals checked at their edges (fast: no systems to search), and a plan row's marks
before marking.

``plan train`` over several systems: each system is planned on its own (one that cannot run does
not stop the others), the layouts evaluated add up, and the reason fewer systems are out quotes
the search's own refusal at one system fewer.
"""

from __future__ import annotations

import itertools
import json
import math

import attrs
import pytest

from hwprof.cli.app import main
from hwprof.cost import pricing
from hwprof.data import registry
from hwprof.errors import HwprofError
from hwprof.perf import cluster, plan
from hwprof.perf.train import search, training
from hwprof.perf.train.layout import Layout
from hwprof.perf.train.training import Span
from tests.facts import facts


def test_cheapest_meeting_a_deadline_is_the_fewest_systems_that_meet_it(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    quote = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    work = reg.workload("llama3.1-8b")
    deadline = 20 * 86400
    result = plan.plan_train(
        plan.TrainPlanRequest(work, 2e12, "bf16", deadline_s=deadline), [(system, chip, [quote])], reg.interconnects
    )
    best = result.cheapest
    assert best is not None and best.meets_deadline and "cheapest" in best.marks

    def time_with(count: int) -> float:
        target = cluster.cluster_for(chip, count * 8, system, reg.interconnects)
        try:
            return training.estimate_train(
                training.TrainRequest(work, target, 2e12, "bf16"), reg.interconnects
            ).time_s.expected
        except HwprofError:  # no layout fits this count (the batch does not divide)
            return float("inf")

    assert time_with(best.count) <= deadline
    assert all(time_with(c) > deadline for c in range(max(1, best.count - 3), best.count))
    # cost = systems x price x hours
    assert best.cost_usd is not None
    assert best.cost_usd.expected == pytest.approx(best.count * 55.04 * time_with(best.count) / 3600)
    # the layout columns are the layout
    assert best.layout.startswith(f"tp={best.tp},pp={best.pp},dp={best.dp},cp={best.cp}")
    assert best.tp * best.pp * best.dp * best.cp == best.chips


def test_a_budget_alone_searches_and_marks_the_fastest_within_it(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    quote = pricing.quote(reg.cost_model("aws"), system.id)
    work = reg.workload("llama3.1-8b")
    options = [(system, reg.chip(system.chip), [quote])]
    free = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16"), options, reg.interconnects)
    budget = 1.2 * min(r.cost_usd.expected for r in free.options if r.cost_usd)
    result = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", budget_usd=budget), options, reg.interconnects)
    assert result.fastest is not None and result.fastest.meets_budget
    assert result.fastest.cost_usd is not None and result.fastest.cost_usd.expected <= budget
    within = [r for r in result.options if r.meets_budget]
    assert result.fastest.time_s.expected == min(r.time_s.expected for r in within)
    assert len({r.count for r in result.options}) > 1  # more than the fewest that fit was tried
    tiny = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", budget_usd=1.0), options, reg.interconnects)
    assert tiny.cheapest is None and all(r.meets_budget is False for r in tiny.options)


def test_the_frontier_holds_no_dominated_option(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    options = [(reg.system(s), reg.chip(reg.system(s).chip), [pricing.quote(reg.cost_model("aws"), s)])
               for s in ("p5.48xlarge", "trn2.48xlarge")]  # fmt: skip
    result = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16"), options, reg.interconnects)
    assert result.frontier
    for r in result.frontier:
        assert r.cost_usd is not None
        for o in result.frontier:
            assert o.cost_usd is not None
            assert not (o.cost_usd.expected < r.cost_usd.expected and o.time_s.expected < r.time_s.expected)


def test_nonsense_goals_are_refused(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    with pytest.raises(HwprofError, match="deadline_days"):
        plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", deadline_s=-1), [], reg.interconnects)
    with pytest.raises(HwprofError, match="budget"):
        plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", budget_usd=0), [], reg.interconnects)
    with pytest.raises(HwprofError, match="at least 1"):
        plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", top=0), [], reg.interconnects)


def test_plan_cli_json_shows_layouts_that_fit_and_divide(capsys: pytest.CaptureFixture[str]) -> None:
    registry.reset()
    code = main(["plan", "train", "--model", "llama3.1-70b", "--tokens", "1e12", "--deadline-days", "30",
                 "--systems", "p5.48xlarge,trn2.48xlarge", "--top", "3", "--json"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    rows = data["options"]
    assert 1 <= len(rows) <= 5 and data["cheapest"]["meets_deadline"]
    for r in rows:
        batch = (4 if r["chips"] <= 1024 else 8) * 2**20 // 8192  # the default global batch, in sequences
        assert r["tp"] * r["pp"] * r["dp"] * r["cp"] == r["chips"] * r["ranks_per_chip"]  # trn2: 4 per chip
        assert batch % (r["dp"] * r["mb"]) == 0  # every data-parallel rank gets whole micro-batches
        assert r["memory_gib_per_chip"] > 0
    assert set(data["reasons"]) == {"p5.48xlarge", "trn2.48xlarge"}


def test_an_option_without_a_price_cannot_meet_a_budget(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    priced = (reg.system("p5.48xlarge"), reg.chip("h100-sxm"), [pricing.quote(reg.cost_model("aws"), "p5.48xlarge")])
    unpriced = (reg.system("p5e.48xlarge"), reg.chip("h200-sxm"), [None])
    result = plan.plan_train(
        plan.TrainPlanRequest(work, 1e11, "bf16", budget_usd=1e9), [priced, unpriced], reg.interconnects
    )
    assert all(r.meets_budget is None for r in result.options if r.system == "p5e.48xlarge")
    assert result.cheapest is not None and result.cheapest.system == "p5.48xlarge"
    assert result.fastest is not None and result.fastest.system == "p5.48xlarge"


class Result:
    """What ``_counts`` reads of an estimate: ``time_s.expected``."""

    def __init__(self, seconds: float) -> None:
        self.time_s = Span(seconds, seconds, seconds)


def curve(times: dict[int, float] | None = None, fits_from: int = 1, fn: object = None) -> object:
    calls: list[int] = []

    def at(count: int) -> Result | None:
        calls.append(count)
        if count < fits_from:
            return None
        if fn is not None:
            seconds = fn(count)  # type: ignore[operator]
            return None if seconds is None else Result(seconds)
        return Result(times[count]) if times and count in times else None

    at.calls = calls  # type: ignore[attr-defined]
    return at


@pytest.mark.parametrize("first", [*range(1, 70), 1000, 4097, plan.MAX_SYSTEMS])
def test_the_fewest_fitting_count_is_found_exactly(first: int) -> None:
    at = curve(fits_from=first, fn=lambda c: 1.0)
    assert plan._fewest_fitting(at) == first
    # doubling then bisecting: a logarithmic number of trials, never a count above twice the answer
    assert len(at.calls) <= 2 * math.ceil(math.log2(first) + 1) + 1  # type: ignore[attr-defined]
    assert max(at.calls) < 2 * first  # type: ignore[attr-defined]


def test_nothing_fits_up_to_the_largest_count() -> None:
    at = curve(fits_from=plan.MAX_SYSTEMS + 1, fn=lambda c: 1.0)
    assert plan._fewest_fitting(at) is None
    assert max(at.calls) <= 2 * plan.MAX_SYSTEMS  # type: ignore[attr-defined]


def test_counts_double_while_the_time_falls_enough() -> None:
    gain = plan.GAIN_TO_CONTINUE
    assert 0.5 < gain < 1

    def falls(ratio: float, until: int) -> object:
        return lambda c: 100.0 * ratio ** math.log2(min(c, until))

    # each doubling just beats the gain up to 16, then the time stays: 16 is the last shown
    assert plan._counts(curve(fn=falls(gain - 0.005, 16)), 1, None) == [1, 2, 4, 8, 16]
    # just short of the gain: the first doubling already stops
    assert plan._counts(curve(fn=falls(gain + 0.005, 10**9)), 1, None) == [1]
    # perfect scaling doubles up to the largest count
    doubled = plan._counts(curve(fn=lambda c: 100.0 / c), 3, None)
    assert doubled == [3 * 2**k for k in range(20) if 3 * 2**k <= plan.MAX_SYSTEMS]
    # a count with no layout ends the doubling
    assert plan._counts(curve(fn=lambda c: None if c >= 8 else 1.0 / c), 1, None) == [1, 2, 4]


def test_a_missed_deadline_keeps_doubling_and_the_first_count_meeting_it_is_scanned_for() -> None:
    # the time stops falling at 64 chips' worth; the deadline is never met: doubling goes on
    flat = curve(fn=lambda c: 100.0 / min(c, 64))
    counts = plan._counts(flat, 1, 0.5)
    assert counts == [2**k for k in range(20) if 2**k <= plan.MAX_SYSTEMS]
    # met from 37 on: doubling reaches 64, then evenly spaced counts between 32 and 64 are tried
    # (step (64 - 32) // 16 = 2: 34, 36, 38 ...) and the first that meets it, 38, is added
    met = curve(fn=lambda c: 100.0 / min(c, 256))
    counts = plan._counts(met, 1, 100.0 / 37)
    assert 38 in counts and not any(32 < c < 64 and c != 38 for c in counts)
    assert counts == sorted(set(counts)) and counts[:7] == [1, 2, 4, 8, 16, 32, 38]
    # the stop at a small gain waits for the deadline to be met at the current count
    assert max(counts) == 256
    # met already at the first count: nothing is scanned
    assert plan._counts(curve(fn=lambda c: 1.0 / min(c, 4)), 1, 10.0) == [1, 2, 4]
    # a narrow gap: step 1
    narrow = curve(fn=lambda c: 100.0 / min(c, 16))
    assert plan._counts(narrow, 5, 100.0 / 11) == [5, 10, 11, 20]


def row(cost: float | None, days: float, deadline: bool = True, budget: bool | None = None, name: str = "s") -> object:
    seconds = days * 86400
    return plan.PlanRow(
        system=name, purchase=None, region=None, count=1, chips=8, layout="tp=1", tp=1, pp=1, dp=8, cp=1, ep=1,
        vpp=1, mb=1, zero=1, recompute="selective", time_s=Span(seconds, seconds, seconds), time_days=days,
        cost_usd=None if cost is None else Span(cost, cost, cost), usd_per_hour=None, mfu=0.4,
        memory_gib_per_chip=10.0, meets_deadline=deadline, meets_budget=budget, price=None, warnings=(), marks=(),
    )  # fmt: skip


def pareto(rows: list[object]) -> set[int]:
    """Indexes of priced rows no other priced row beats or ties on both cost and time while differing."""
    out = set()
    for i, r in enumerate(rows):
        if r.cost_usd is None:  # type: ignore[attr-defined]
            continue
        point = (r.cost_usd.expected, r.time_s.expected)  # type: ignore[attr-defined]
        if not any(o.cost_usd is not None and o.cost_usd.expected <= point[0] and o.time_s.expected <= point[1]  # type: ignore[attr-defined]
                   and (o.cost_usd.expected, o.time_s.expected) != point for o in rows):  # type: ignore[attr-defined]  # fmt: skip
            out.add(i)
    return out


def test_the_marks_against_brute_force() -> None:
    costs = [5.0, 3.0, 8.0, 3.0, 1.0, 9.0, None, 4.0]
    days = [2.0, 4.0, 1.0, 5.0, 9.0, 1.0, 0.5, 3.0]
    meets = [True, True, True, True, False, True, True, True]
    rows = [row(c, d, m) for c, d, m in zip(costs, days, meets, strict=True)]
    got = plan._marked(rows, 6 * 86400.0, None, 3, {"s": "why"}, 99)
    front = pareto(rows)
    assert {(r.cost_usd.expected, r.time_s.expected) for r in got.frontier} == {  # type: ignore[union-attr]
        (rows[i].cost_usd.expected, rows[i].time_s.expected) for i in front}  # type: ignore[attr-defined]  # fmt: skip
    assert all(r.frontier and "frontier" in r.marks for r in got.frontier)
    # no frontier point is dominated by any row
    for f, o in itertools.product(got.frontier, rows):
        assert not (o.cost_usd and o.cost_usd.expected < f.cost_usd.expected and o.time_s.expected < f.time_s.expected)  # type: ignore[attr-defined, union-attr]
    # the cheapest meeting the deadline: the cheapest of the priced feasible rows (the 1.0 misses it)
    feasible = [r for r in rows if r.meets_deadline and r.cost_usd is not None]  # type: ignore[attr-defined]
    assert got.cheapest is not None
    assert got.cheapest.cost_usd.expected == min(r.cost_usd.expected for r in feasible) == 3.0  # type: ignore[union-attr, attr-defined]
    assert got.cheapest.time_s.expected == 4 * 86400  # of the two at 3.0, the one listed first
    assert got.cheapest.cheapest and "cheapest" in got.cheapest.marks
    # the fastest: the quickest feasible row, priced or not
    assert got.fastest is not None and got.fastest.time_s.expected == 0.5 * 86400 and got.fastest.fastest
    # options: the top 3 by (cost, time), plus the cheapest and fastest when not among them
    shown = sorted((r.cost_usd.expected if r.cost_usd else math.inf, r.time_s.expected) for r in got.options)
    assert shown == [(3.0, 4 * 86400), (3.0, 5 * 86400), (4.0, 3 * 86400), (math.inf, 0.5 * 86400)]
    assert [(r.cost_usd.expected if r.cost_usd else math.inf) for r in got.options] == [3.0, 3.0, 4.0, math.inf]
    assert got.reasons == {"s": "why"} and got.evaluated_layouts == 99
    assert got.deadline_s == 6 * 86400 and got.budget_usd is None
    assert all(r.cheapest == ("cheapest" in r.marks) for r in got.options)


def test_rows_within_half_a_percent_of_the_fastest_share_the_mark() -> None:
    rows = [row(1.0, 1.0), row(2.0, 1.004), row(3.0, 1.006), row(0.5, 0.9, deadline=False)]
    got = plan._marked(rows, 86400.0 * 2, None, 10, {}, 0)
    fast = {r.time_days for r in got.options if r.fastest}
    assert fast == {1.0, 1.004}
    assert got.fastest is not None and got.fastest.time_days == 1.0  # the missed one does not count


def test_a_budget_keeps_the_rows_within_it() -> None:
    rows = [row(1.0, 5.0, budget=True), row(2.0, 3.0, budget=True), row(9.0, 1.0, budget=False),
            row(None, 0.1, budget=None)]  # fmt: skip
    got = plan._marked(rows, None, 2.5, 10, {}, 0)
    assert (
        got.fastest is not None and got.fastest.time_days == 3.0
    )  # 1.0 is over budget; unpriced ones cannot be judged
    assert got.cheapest is not None and got.cheapest.time_days == 5.0
    assert {r.time_days for r in got.options} == {5.0, 3.0}
    free = plan._marked(rows, None, None, 10, {}, 0)
    assert free.fastest is not None and free.fastest.time_days == 0.1


def test_when_nothing_meets_the_goals_the_nearest_misses_are_shown() -> None:
    rows = [row(1.0, 5.0, deadline=False), row(2.0, 3.0, deadline=False), row(3.0, 4.0, deadline=False)]
    got = plan._marked(rows, 86400.0, None, 2, {}, 0)
    assert got.cheapest is None and got.fastest is None
    assert [r.time_days for r in got.options] == [3.0, 4.0]  # the two fastest, shown cheapest first
    assert [r.time_days for r in plan._marked(rows, 86400.0, None, 1, {}, 0).options] == [3.0]


def test_a_row_costs_systems_times_price_times_hours(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    work = reg.workload("llama3.1-8b")
    target = cluster.cluster_for(reg.chip(system.chip), 16, system, reg.interconnects)
    result = training.estimate_train(
        training.TrainRequest(work, target, 1e11, "bf16"), reg.interconnects, "tp=2,pp=2,dp=4,cp=1,mb=2,zero=3"
    )
    r = plan._row(system, 2, result, q, result.time_s.expected * 1.01, None)
    assert r.usd_per_hour == pytest.approx(2 * q.usd_per_hour)
    assert r.cost_usd is not None
    assert r.cost_usd.expected == pytest.approx(2 * q.usd_per_hour * result.time_s.expected / 3600)
    assert r.cost_usd.high == pytest.approx(2 * q.usd_per_hour * result.time_s.high / 3600)
    assert (r.tp, r.pp, r.dp, r.cp, r.ep, r.vpp, r.mb, r.zero, r.recompute) == (2, 2, 4, 1, 1, 1, 2, 3, "selective")
    assert (r.count, r.chips, r.system, r.layout) == (2, 16, "p5.48xlarge", result.layout)
    assert r.time_days == pytest.approx(result.time_s.expected / 86400) and r.mfu == result.mfu.expected
    assert r.memory_gib_per_chip == pytest.approx(result.memory.total_bytes_per_chip / 2**30)  # type: ignore[union-attr]
    assert r.meets_deadline and r.meets_budget is None and r.price == q.as_json()
    assert (r.purchase, r.region) == (q.price.purchase, q.price.region)
    assert not plan._row(system, 2, result, q, result.time_s.expected * 0.99, None).meets_deadline
    assert plan._row(system, 2, result, q, None, None).meets_deadline
    budget = r.cost_usd.expected
    assert plan._row(system, 2, result, q, None, budget).meets_budget is True
    assert plan._row(system, 2, result, q, None, budget * 0.99).meets_budget is False
    unpriced = plan._row(system, 2, result, None, None, budget)
    assert unpriced.cost_usd is None and unpriced.usd_per_hour is None and unpriced.meets_budget is None
    assert unpriced.price is None and unpriced.warnings == () and unpriced.purchase is None


@pytest.mark.parametrize(("kwargs", "subject"), [({"deadline_s": 0.0}, "deadline_days"), ({"budget_usd": -1.0}, "budget"),
                                                 ({"top": 0}, "top")])  # fmt: skip
def test_bad_goals_are_refused(reg: registry.Registry, kwargs: dict[str, float], subject: str) -> None:
    with pytest.raises(HwprofError) as caught:
        plan.plan_train(
            plan.TrainPlanRequest(reg.workload("llama3.1-8b"), 1e11, "bf16", **kwargs), [], reg.interconnects
        )  # type: ignore[arg-type]
    assert caught.value.subject == subject


def test_a_plan_agrees_with_the_estimator_count_by_count(
    reg: registry.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 8)
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    work = reg.workload("llama3.1-8b")
    tokens = 1e11

    def estimate(count: int) -> training.TrainEstimate:
        target = cluster.cluster_for(chip, count * 8, system, reg.interconnects)
        return training.estimate_train(training.TrainRequest(work, target, tokens, "bf16"), reg.interconnects)

    one = estimate(1).time_s.expected
    deadline = one / 3  # 1 and 2 miss it; 4 (scaling near-linearly) meets it
    result = plan.plan_train(
        plan.TrainPlanRequest(work, tokens, "bf16", deadline_s=deadline, top=20),
        [(system, chip, [q, None])],
        reg.interconnects,
    )
    counts = sorted({r.count for r in result.options})
    assert counts[0] == 4 and set(counts) <= {1, 2, 3, 4, 5, 6, 7, 8}
    for r in result.options:
        est = estimate(r.count)
        assert r.time_s.expected == pytest.approx(est.time_s.expected, rel=1e-9) and r.layout == est.layout
        assert r.meets_deadline == (est.time_s.expected <= deadline)
        if r.cost_usd is not None:
            assert r.cost_usd.expected == pytest.approx(r.count * q.usd_per_hour * est.time_s.expected / 3600)
    assert result.cheapest is not None and result.cheapest.count == 4 and result.cheapest.purchase is not None
    assert result.fastest is not None and result.fastest.count == 8
    facts(result.reasons["p5.48xlarge"], "2 or fewer", "deadline", f"{estimate(2).time_s.expected / 86400:,.1f} days")
    front = pareto(list(result.frontier))
    assert len(front) == len(result.frontier)  # every frontier row is undominated
    assert result.evaluated_layouts > 0 and result.deadline_s == deadline


def test_why_the_fewer_are_out_and_systems_that_cannot_run(
    reg: registry.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 4)
    trn1 = reg.system("trn1.32xlarge")
    p5 = reg.system("p5.48xlarge")
    work = reg.workload("llama3.1-70b")
    result = plan.plan_train(
        plan.TrainPlanRequest(work, 1e11, "bf16"),
        [(trn1, reg.chip(trn1.chip), [None]), (p5, reg.chip(p5.chip), [None])],
        reg.interconnects,
    )
    first = min(r.count for r in result.options if r.system == trn1.id)
    target = cluster.cluster_for(reg.chip(trn1.chip), (first - 1) * trn1.chips, trn1, reg.interconnects)
    with pytest.raises(HwprofError):  # one fewer: no layout fits
        training.estimate_train(training.TrainRequest(work, target, 1e11, "bf16"), reg.interconnects)
    assert result.reasons[trn1.id].startswith(f"fewer than {first} do not fit (")
    assert result.cheapest is None  # nothing priced
    # a model that fits nowhere up to the largest count
    big = plan.plan_train(
        plan.TrainPlanRequest(reg.workload("llama3.1-405b"), 1e11, "bf16"),
        [(p5, reg.chip(p5.chip), [None])],
        reg.interconnects,
    )
    assert big.options == () and big.reasons[p5.id].startswith("no count up to 4 fits: ")
    assert "weights, gradients" in big.reasons[p5.id]
    # a precision the chip lacks
    none = plan.plan_train(
        plan.TrainPlanRequest(work, 1e11, "int3"), [(p5, reg.chip(p5.chip), [None])], reg.interconnects
    )
    assert none.reasons == {p5.id: "h100-sxm has no int3 peak"} and none.options == ()
    # the fewest that fit is 1: nothing fewer to explain
    small = plan.plan_train(
        plan.TrainPlanRequest(reg.workload("llama3.1-8b"), 1e9, "bf16"),
        [(p5, reg.chip(p5.chip), [None])],
        reg.interconnects,
    )
    facts(small.reasons[p5.id], "fewest that fit")


def test_goals_must_be_positive_and_any_positive_one_is_taken(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    for good in ({"deadline_s": 0.5}, {"deadline_s": 1e-9}, {"budget_usd": 0.5}, {"budget_usd": 1e-9}, {"top": 1}):
        got = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16", **good), [], reg.interconnects)  # type: ignore[arg-type]
        assert got.options == () and got.cheapest is None and got.fastest is None and got.evaluated_layouts == 0
        assert got.reasons == {} and got.frontier == ()
        assert got.deadline_s == good.get("deadline_s") and got.budget_usd == good.get("budget_usd")
    for bad, subject, value in (({"deadline_s": -86400.0}, "deadline_days", -1.0), ({"deadline_s": 0.0}, "deadline_days", 0.0),
                                ({"budget_usd": -2.0}, "budget", -2.0), ({"budget_usd": 0.0}, "budget", 0.0),
                                ({"top": 0}, "top", 0), ({"top": -3}, "top", -3)):  # fmt: skip
        with pytest.raises(HwprofError) as caught:
            plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16", **bad), [], reg.interconnects)  # type: ignore[arg-type]
        assert caught.value.subject == subject and caught.value.value == value
        assert str(caught.value).endswith(
            "must be positive" if subject != "top" else "must be at least 1 (options to show)"
        )


def test_a_row_is_unmarked_until_the_plan_marks_it() -> None:
    row = plan.PlanRow(system="s", purchase=None, region=None, count=1, chips=8, layout="tp=1", tp=1, pp=1, dp=8, cp=1,
                       ep=1, vpp=1, mb=1, zero=1, recompute="selective", time_s=None, time_days=1.0, cost_usd=None,  # type: ignore[arg-type]
                       usd_per_hour=None, mfu=0.4, memory_gib_per_chip=1.0, meets_deadline=True, meets_budget=None,
                       price=None, warnings=(), marks=())  # fmt: skip
    assert (row.cheapest, row.fastest, row.frontier) == (False, False, False)


def test_systems_are_planned_independently(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 2)
    work = reg.workload("llama3.1-8b")
    p5, trn1 = reg.system("p5.48xlarge"), reg.system("trn1.32xlarge")
    a = (p5, reg.chip(p5.chip), [None])
    b = (trn1, reg.chip(trn1.chip), [None])
    alone_a = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16"), [a], reg.interconnects)
    alone_b = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16"), [b], reg.interconnects)
    both = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16", top=50), [a, b], reg.interconnects)
    assert both.evaluated_layouts == alone_a.evaluated_layouts + alone_b.evaluated_layouts > 0
    assert {r.system for r in both.options} == {p5.id, trn1.id}
    # a system whose chip lacks the precision, or on which nothing fits, is skipped, not the end
    for first in ((p5, reg.chip(p5.chip), [None]),):
        lacking = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "int3"), [first, b], reg.interconnects)
        assert set(lacking.reasons) == {p5.id, trn1.id}
    big = reg.workload("llama3.1-405b")
    nothing = plan.plan_train(plan.TrainPlanRequest(big, 1e11, "bf16"), [a, b], reg.interconnects)
    assert set(nothing.reasons) == {p5.id, trn1.id} and all(r.startswith("no count up to 2 fits: ")
                                                            for r in nothing.reasons.values())  # fmt: skip


def test_why_fewer_systems_are_out_quotes_the_search(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 4)
    trn1 = reg.system("trn1.32xlarge")
    chip = reg.chip(trn1.chip)
    work = reg.workload("llama3.1-70b")
    got = plan.plan_train(plan.TrainPlanRequest(work, 1e11, "bf16"), [(trn1, chip, [None])], reg.interconnects)
    first = min(r.count for r in got.options)
    assert first > 1
    target = cluster.cluster_for(chip, (first - 1) * trn1.chips, trn1, reg.interconnects)
    job = training.make_job(training.TrainRequest(work, target, 1e12, "bf16"), reg.interconnects)
    why = training.refusal_text(search.search(job).refused)
    facts(got.reasons[trn1.id], f"fewer than {first}", "do not fit", why)


def test_a_system_with_no_scale_out_tier_is_planned_at_one_and_says_why_not_more(reg: registry.Registry) -> None:
    """A single board (one 8-chip NVLink domain, no network) runs one copy; the plan does not abort
    on it, shows that copy, and says in one line why no more (issue 23)."""
    board = reg.system("hgx-h100-8")
    solo = attrs.evolve(board, id="solo-h100", tiers=board.tiers[:1])
    work = reg.workload("llama3.1-8b")
    result = plan.plan_train(
        plan.TrainPlanRequest(work, 1e11, "bf16"), [(solo, reg.chip("h100-sxm"), [None])], reg.interconnects
    )
    assert [(r.system, r.count, r.chips) for r in result.options] == [("solo-h100", 1, 8)]
    facts(result.reasons["solo-h100"], "no more than 1", "solo-h100", "no scale-out tier", "16 chips", "at most 8")
    # Too big for one board: no row, and the reason gives both halves.
    big = plan.plan_train(
        plan.TrainPlanRequest(reg.workload("llama3.1-405b"), 1e11, "bf16"),
        [(solo, reg.chip("h100-sxm"), [None])],
        reg.interconnects,
    )
    assert big.options == () and big.reasons["solo-h100"].startswith("one does not fit (")
    facts(big.reasons["solo-h100"], "no more can be joined", "no scale-out tier", "at most 8")


# ----------------------------------------------------------------------------- issue 21: robust, headroom, notes
def test_robust_meets_the_deadline_at_the_slow_end(reg: registry.Registry) -> None:
    """Judged on the expected time, the cheapest pick's slow end misses the deadline; with ``robust``
    the pick's slow end meets it, and it takes more systems (or a dearer option) to do so."""
    system = reg.system("p5.48xlarge")
    quote = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    options = [(system, reg.chip(system.chip), [quote])]
    work, deadline = reg.workload("llama3.1-8b"), 20 * 86400
    plain = plan.plan_train(plan.TrainPlanRequest(work, 2e12, "bf16", deadline_s=deadline), options, reg.interconnects)
    robust = plan.plan_train(
        plan.TrainPlanRequest(work, 2e12, "bf16", deadline_s=deadline, robust=True), options, reg.interconnects
    )
    assert plain.cheapest is not None and robust.cheapest is not None
    assert plain.cheapest.time_s.expected <= deadline < plain.cheapest.time_s.high
    assert robust.cheapest.time_s.high <= deadline and robust.robust and robust.cheapest.robust
    assert robust.cheapest.count > plain.cheapest.count
    assert robust.cheapest.cost_usd.expected > plain.cheapest.cost_usd.expected  # type: ignore[union-attr]
    # every robust row's verdict is its slow end's
    for row in robust.options:
        assert row.meets_deadline == (row.time_s.high <= deadline)


def test_memory_headroom_leaves_gib_free_and_moves_no_time(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    options = [(system, reg.chip(system.chip), [None])]
    work = reg.workload("llama3.1-70b")
    none = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", headroom_gib=0.0), options, reg.interconnects)
    roomy = plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", headroom_gib=10.0), options, reg.interconnects)
    assert (none.headroom_gib, roomy.headroom_gib) == (0.0, 10.0)
    a, b = none.options[0], roomy.options[0]
    assert a.memory_usable_gib_per_chip - b.memory_usable_gib_per_chip == pytest.approx(10.0)
    for row in roomy.options:
        assert row.memory_gib_per_chip <= row.memory_usable_gib_per_chip
    # the same layout on the same count takes the same time with or without headroom (memory bounds the choice only)
    same = [(r, s) for r in none.options for s in roomy.options if (r.count, r.layout) == (s.count, s.layout)]
    assert same and all(r.time_s == s.time_s for r, s in same)
    with pytest.raises(HwprofError, match="memory_headroom"):
        plan.plan_train(plan.TrainPlanRequest(work, 1e12, "bf16", headroom_gib=-1.0), options, reg.interconnects)


def test_unusual_picks_are_noted() -> None:
    class Memory:
        total_bytes_per_chip, usable_bytes_per_chip = 71.3 * 2**30, 71.7 * 2**30

    class Result:
        layout_fields = Layout(tp=8, pp=42, dp=16, recompute="none")
        memory = Memory()

    notes = plan.unusual(Result(), 126)
    assert notes == ("deep pipeline: pp=42 leaves 3 of 126 layers a stage",
                     "memory 99% of usable (71.3 of 71.7 GiB)")  # fmt: skip
    Result.layout_fields = Layout(tp=8, pp=16, dp=16, recompute="none", uneven=1)  # 8 layers a stage
    Memory.total_bytes_per_chip = 0.95 * Memory.usable_bytes_per_chip
    assert plan.unusual(Result(), 126) == ()
