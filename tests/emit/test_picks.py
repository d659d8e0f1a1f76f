"""emit.picks: a plan's pick re-estimated for its launch files and report, on the plan's stack."""

from __future__ import annotations

import hwprof
from hwprof.emit import picks


def test_a_serve_pick_is_re_estimated_on_the_stack_the_plan_assumed() -> None:
    work = hwprof.workload("llama3.1-8b")
    for kind in ("aggregated", "disaggregated"):
        plan = hwprof.plan_serve(work, rate=5, ttft_slo=0.5, tpot_slo=0.05, systems=["trn2.48xlarge"], max_count=2,
                                 deployments=[kind], stack="optimum-neuron-vllm")  # fmt: skip
        d = plan.systems[0].best
        _, given = picks.serve_plan_estimate(work, d, 5, 1000, 500, plan.systems[0].stack)
        _, default = picks.serve_plan_estimate(work, d, 5, 1000, 500)
        # Optimum Neuron's vLLM pays 6,299 us of host time every decode step on Trainium2 (its profile),
        # which the default stack (NxD Inference) does not
        assert given.tpot_s.expected - default.tpot_s.expected >= 6_299e-6, kind


def test_a_train_pick_is_re_estimated_on_the_stack_the_plan_assumed() -> None:
    work = hwprof.workload("llama3.1-8b")
    plan = hwprof.plan_train(work, tokens=1e11, systems=["p5.48xlarge"], top=1, stack="torchtitan")
    row = plan.options[0]
    again = picks.reestimate(work, row, "bf16", 1e11)
    assert again.stack == "torchtitan" and again.range.evidence == "other"
    assert again.time_s.expected == row.time_s.expected and again.time_s.high == row.time_s.high
    default = hwprof.plan_train(work, tokens=1e11, systems=["p5.48xlarge"], top=1).options[0]
    assert picks.reestimate(work, default, "bf16", 1e11).range.evidence == "own"
