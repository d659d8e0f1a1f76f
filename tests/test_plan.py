"""Plans: the fewest systems that meet a deadline, checked against the estimator itself."""

from __future__ import annotations

import json

import pytest

from hwprof.core.cli.app import main
from hwprof.core.cost import pricing
from hwprof.core.data import registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, plan, shape, training


@pytest.fixture
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_fewest_systems_meeting_a_deadline(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    quote = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    work = shape.from_workload(reg.workload("llama3.1-70b"))
    deadline = 30 * 86400
    [row] = plan.plan_train(work, [(system, chip, quote)], reg.interconnects, 15e12, "bf16", deadline_s=deadline)
    assert row["meets_deadline"] and row["cheapest"]

    def time_with(count: int) -> float:
        target = cluster.cluster_for(chip, count * 8, system, reg.interconnects)
        return float(training.estimate_train(work, target, 15e12, "bf16")["time_s"]["expected"])

    assert time_with(row["count"]) <= deadline < time_with(row["count"] - 1)
    # cost = systems x price x hours
    assert row["cost_usd"]["expected"] == pytest.approx(row["count"] * 55.04 * time_with(row["count"]) / 3600)


def test_budget_marks_options_over_it(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    quote = pricing.quote(reg.cost_model("aws"), system.id)
    work = shape.from_workload(reg.workload("llama3.1-8b"))
    [row] = plan.plan_train(work, [(system, reg.chip(system.chip), quote)], reg.interconnects, 1e12, "bf16",
                            budget_usd=1.0)  # fmt: skip
    assert row["meets_budget"] is False and "cheapest" not in row


def test_nonsense_goals_are_refused(reg: registry.Registry) -> None:
    work = shape.from_workload(reg.workload("llama3.1-8b"))
    with pytest.raises(HwprofError, match="deadline_days"):
        plan.plan_train(work, [], reg.interconnects, 1e12, "bf16", deadline_s=-1)


def test_plan_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    registry.reset()
    code = main(["plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "10",
                 "--systems", "p5.48xlarge,trn2.48xlarge", "--json"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    rows = json.loads(out)["options"]
    assert {r["system"] for r in rows} == {"p5.48xlarge", "trn2.48xlarge"}
    assert all(r["time_s"]["expected"] <= 10 * 86400 for r in rows)


def test_an_option_without_a_price_cannot_meet_a_budget(reg: registry.Registry) -> None:
    work = shape.from_workload(reg.workload("llama3.1-8b"))
    priced = (reg.system("p5.48xlarge"), reg.chip("h100-sxm"), pricing.quote(reg.cost_model("aws"), "p5.48xlarge"))
    unpriced = (reg.system("p5e.48xlarge"), reg.chip("h200-sxm"), None)
    rows = plan.plan_train(work, [priced, unpriced], reg.interconnects, 1e11, "bf16", budget_usd=1e9)
    by_system = {r["system"]: r for r in rows}
    assert by_system["p5e.48xlarge"]["meets_budget"] is None and "fastest" not in by_system["p5e.48xlarge"]
    assert by_system["p5.48xlarge"]["cheapest"] and by_system["p5.48xlarge"]["fastest"]
