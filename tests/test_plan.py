"""Plans: systems x counts x layouts x purchase options, checked against the estimator itself."""

from __future__ import annotations

import json

import pytest

from hwprof.core.cli.app import main
from hwprof.core.cost import pricing
from hwprof.core.data import registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, plan, training


@pytest.fixture
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_cheapest_meeting_a_deadline_is_the_fewest_systems_that_meet_it(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    quote = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    work = reg.workload("llama3.1-8b")
    deadline = 20 * 86400
    result = plan.plan_train(work, [(system, chip, [quote])], reg.interconnects, 2e12, "bf16", deadline_s=deadline)
    best = result.cheapest
    assert best is not None and best.meets_deadline and "cheapest" in best.marks

    def time_with(count: int) -> float:
        target = cluster.cluster_for(chip, count * 8, system, reg.interconnects)
        try:
            return training.estimate_train(work, target, reg.interconnects, 2e12, "bf16").time_s.expected
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
    free = plan.plan_train(work, options, reg.interconnects, 1e12, "bf16")
    budget = 1.2 * min(r.cost_usd.expected for r in free.options if r.cost_usd)
    result = plan.plan_train(work, options, reg.interconnects, 1e12, "bf16", budget_usd=budget)
    assert result.fastest is not None and result.fastest.meets_budget
    assert result.fastest.cost_usd is not None and result.fastest.cost_usd.expected <= budget
    within = [r for r in result.options if r.meets_budget]
    assert result.fastest.time_s.expected == min(r.time_s.expected for r in within)
    assert len({r.count for r in result.options}) > 1  # more than the fewest that fit was tried
    tiny = plan.plan_train(work, options, reg.interconnects, 1e12, "bf16", budget_usd=1.0)
    assert tiny.cheapest is None and all(r.meets_budget is False for r in tiny.options)


def test_the_frontier_holds_no_dominated_option(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    options = [(reg.system(s), reg.chip(reg.system(s).chip), [pricing.quote(reg.cost_model("aws"), s)])
               for s in ("p5.48xlarge", "trn2.48xlarge")]  # fmt: skip
    result = plan.plan_train(work, options, reg.interconnects, 1e12, "bf16")
    assert result.frontier
    for r in result.frontier:
        assert r.cost_usd is not None
        for o in result.frontier:
            assert o.cost_usd is not None
            assert not (o.cost_usd.expected < r.cost_usd.expected and o.time_s.expected < r.time_s.expected)


def test_nonsense_goals_are_refused(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    with pytest.raises(HwprofError, match="deadline_days"):
        plan.plan_train(work, [], reg.interconnects, 1e12, "bf16", deadline_s=-1)
    with pytest.raises(HwprofError, match="budget"):
        plan.plan_train(work, [], reg.interconnects, 1e12, "bf16", budget_usd=0)
    with pytest.raises(HwprofError, match="at least 1"):
        plan.plan_train(work, [], reg.interconnects, 1e12, "bf16", top=0)


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
    result = plan.plan_train(work, [priced, unpriced], reg.interconnects, 1e11, "bf16", budget_usd=1e9)
    assert all(r.meets_budget is None for r in result.options if r.system == "p5e.48xlarge")
    assert result.cheapest is not None and result.cheapest.system == "p5.48xlarge"
    assert result.fastest is not None and result.fastest.system == "p5.48xlarge"
