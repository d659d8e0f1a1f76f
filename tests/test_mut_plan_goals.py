"""``plan train``'s goals checked at their edges (fast: no systems to search), and a plan row's marks
before marking."""

from __future__ import annotations

import pytest

from hwprof.core.data import registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import plan


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_goals_must_be_positive_and_any_positive_one_is_taken(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    for good in ({"deadline_s": 0.5}, {"deadline_s": 1e-9}, {"budget_usd": 0.5}, {"budget_usd": 1e-9}, {"top": 1}):
        got = plan.plan_train(work, [], reg.interconnects, 1e11, "bf16", **good)  # type: ignore[arg-type]
        assert got.options == () and got.cheapest is None and got.fastest is None and got.evaluated_layouts == 0
        assert got.reasons == {} and got.frontier == ()
        assert got.deadline_s == good.get("deadline_s") and got.budget_usd == good.get("budget_usd")
    for bad, subject, value in (({"deadline_s": -86400.0}, "deadline_days", -1.0), ({"deadline_s": 0.0}, "deadline_days", 0.0),
                                ({"budget_usd": -2.0}, "budget", -2.0), ({"budget_usd": 0.0}, "budget", 0.0),
                                ({"top": 0}, "top", 0), ({"top": -3}, "top", -3)):  # fmt: skip
        with pytest.raises(HwprofError) as caught:
            plan.plan_train(work, [], reg.interconnects, 1e11, "bf16", **bad)  # type: ignore[arg-type]
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
