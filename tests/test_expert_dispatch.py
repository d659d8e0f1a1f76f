"""Mixture-of-experts dispatch and all-to-all overlap as properties of the run (a case's
``expert_dispatch`` and ``expert_a2a_overlap``), from the recipes each case cites."""

from __future__ import annotations

from hwprof.core.data import registry
from hwprof.core.perf import training, validate


def test_cases_carry_their_dispatcher_and_overlap_to_the_job() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    cases = reg.validation_cases
    expected = {  # (node-level dispatch, all-to-all overlapped)
        "cal-nemo-deepseek-v3-fp8-1024": (True, True),  # DeepEP, overlap_moe_expert_parallel_comm
        "val-deepseek-v3-gpu-hours": (True, True),  # IB once per node then NVLink; DualPipe
        "val-mbridge260401-qwen3-30b-fp8-16": (True, False),  # hybridep, moe_a2a_overlap False
        "val-mbridge260401-qwen3-235b-fp8-256": (False, True),  # alltoall, moe_a2a_overlap True
    }
    for name, (node, overlap) in expected.items():
        job, _ = validate.train_job(cases[name], reg, training.constants())
        assert (job.node_dispatch, job.a2a_overlap) == (node, overlap), name
