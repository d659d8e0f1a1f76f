"""``plan train`` over several systems: each system is planned on its own (one that cannot run does
not stop the others), the layouts evaluated add up, and the reason fewer systems are out quotes
the search's own refusal at one system fewer."""

from __future__ import annotations

import pytest

from hwprof.core.data import registry
from hwprof.core.perf import cluster, plan, search, training


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_systems_are_planned_independently(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 2)
    work = reg.workload("llama3.1-8b")
    p5, trn1 = reg.system("p5.48xlarge"), reg.system("trn1.32xlarge")
    a = (p5, reg.chip(p5.chip), [None])
    b = (trn1, reg.chip(trn1.chip), [None])
    alone_a = plan.plan_train(work, [a], reg.interconnects, 1e11, "bf16")
    alone_b = plan.plan_train(work, [b], reg.interconnects, 1e11, "bf16")
    both = plan.plan_train(work, [a, b], reg.interconnects, 1e11, "bf16", top=50)
    assert both.evaluated_layouts == alone_a.evaluated_layouts + alone_b.evaluated_layouts > 0
    assert {r.system for r in both.options} == {p5.id, trn1.id}
    # a system whose chip lacks the precision, or on which nothing fits, is skipped, not the end
    for first in ((p5, reg.chip(p5.chip), [None]),):
        lacking = plan.plan_train(work, [first, b], reg.interconnects, 1e11, "int3")
        assert set(lacking.reasons) == {p5.id, trn1.id}
    big = reg.workload("llama3.1-405b")
    nothing = plan.plan_train(big, [a, b], reg.interconnects, 1e11, "bf16")
    assert set(nothing.reasons) == {p5.id, trn1.id} and all(r.startswith("no count up to 2 fits: ")
                                                            for r in nothing.reasons.values())  # fmt: skip


def test_why_fewer_systems_are_out_quotes_the_search(reg: registry.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MAX_SYSTEMS", 4)
    trn1 = reg.system("trn1.32xlarge")
    chip = reg.chip(trn1.chip)
    work = reg.workload("llama3.1-70b")
    got = plan.plan_train(work, [(trn1, chip, [None])], reg.interconnects, 1e11, "bf16")
    first = min(r.count for r in got.options)
    assert first > 1
    target = cluster.cluster_for(chip, (first - 1) * trn1.chips, trn1, reg.interconnects)
    job = training.make_job(work, target, reg.interconnects, "bf16", None, None)
    why = training.refusal_text(search.search(job).refused)
    assert got.reasons[trn1.id] == f"fewer than {first} do not fit ({why})"
