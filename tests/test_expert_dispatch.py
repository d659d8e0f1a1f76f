"""Mixture-of-experts dispatch and all-to-all overlap as properties of the run (a case's
``expert_dispatch`` and ``expert_a2a_overlap``), from the recipes each case cites."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.data import registry
from hwprof.core.perf import comm, step, training, validate


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
        # DeepSeek-V3 report sec. 3.2.1: DualPipe pairs chunks so the all-to-all can be fully hidden
        assert job.a2a_paired == (name == "val-deepseek-v3-gpu-hours"), name


def test_paired_chunks_hide_the_all_to_all_behind_the_other_chunks_compute() -> None:
    from tests.test_expert_tensor_parallel import MOE, NET, lay

    c = MOE.constants
    s = c.overlap_slowdown
    for net_gb_s in (50.0, 2.0):  # all-to-all shorter than the compute, then far longer
        job = attrs.evolve(MOE, tiers=(MOE.tiers[0], comm.Tier(256, attrs.evolve(NET, gb_s_per_direction=net_gb_s))))
        x = lay(1)
        plain = step.step(x, job)  # the calibrated share hidden: expert = traffic x (1 - expert_overlap)
        paired = step.step(x, attrs.evolve(job, a2a_paired=True))
        micro = job.batch_seqs // (x.dp * x.mb)
        traffic, compute = plain.expert / micro / (1 - c.expert_overlap), plain.compute / micro
        want = max(traffic - compute, traffic * s / (1 + s))  # step.exposed, by hand
        assert paired.expert == pytest.approx(micro * want, rel=1e-9)
        assert paired.compute == pytest.approx(plain.compute)
        if net_gb_s == 50.0:
            assert traffic < compute and paired.expert == pytest.approx(micro * traffic * s / (1 + s), rel=1e-9)
        else:
            assert traffic > compute * (1 + s) and paired.expert == pytest.approx(micro * (traffic - compute))
    # without pairing a run that does not overlap hides nothing, whatever the compute
    bare = step.step(lay(1), attrs.evolve(MOE, a2a_overlap=False))
    assert bare.expert == pytest.approx(step.step(lay(1), MOE).expert / (1 - c.expert_overlap))
