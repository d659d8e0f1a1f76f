"""``job_for``: a Job's fields from the records, each against the record it comes from or a figure
worked here (Llama 3.1 8B's published MLP width 14,336 from its parameter count; routed experts'
parameters from total, active and top-k), and each refusal word for word.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from hwprof.data import registry
from hwprof.errors import HwprofError
from hwprof.perf import comm
from hwprof.perf.cluster import cluster_for
from hwprof.perf.train import job, training
from tests.facts import facts

CONSTANTS = training.constants()


def test_a_job_from_the_records(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    j = job.job_for(
        work, cluster_for(chip, 16, system, reg.interconnects), reg.interconnects, "fp8", CONSTANTS, 4096, 32
    )
    assert (j.name, j.params, j.active_params, j.layers, j.hidden, j.heads) == (
        work.id, work.params, work.active, work.layers, work.hidden, work.heads)  # fmt: skip
    assert j.kv_heads == work.kv_heads and j.head_dim == (work.head_dim or work.hidden // work.heads)
    assert (j.seq_len, j.batch_seqs, j.chips) == (4096, 32, 16)
    assert j.memory_bytes == chip.memory_bytes and j.memory_bw == chip.memory_bandwidth_tbps.value * 1e12
    assert j.peak_matmul == chip.peak_dense_tflops["fp8"].value * 1e12
    assert j.peak_16bit == chip.peak_dense_tflops["bf16"].value * 1e12
    assert j.low_precision and j.constants == CONSTANTS and j.vocab == work.vocab
    assert j.tiers == comm.tiers_of(system, reg.interconnects, 16, chip)
    ups = [t.domain for t in j.tiers if reg.interconnects[t.link.name].tier == "scale-up"]
    assert j.domain == max(ups) and not j.cross_domain
    assert (j.experts, j.experts_per_token, j.expert_params, j.moe_layers) == (0, 0, 0.0, 0)
    figure = chip.training_efficiency
    assert j.software == (figure.value if figure else 1.0)
    assert not job.job_for(
        work, cluster_for(chip, 16, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
    ).low_precision
    assert job.job_for(
        work,
        cluster_for(chip, 16, system, reg.interconnects),
        reg.interconnects,
        "bf16",
        CONSTANTS,
        recipe=job.Recipe(cross_domain=True),
    ).cross_domain
    # the published MLP width of Llama 3.1 8B (intermediate_size 14,336) from its parameter count
    assert j.ffn == pytest.approx(14336, rel=0.01)
    assert j.attention_width == j.heads * j.head_dim and j.kv_width == j.kv_heads * j.head_dim
    assert j.dense_params == j.params
    assert j.flops_per_token() == (6.0 * j.active_params, 6.0 * j.layers * 4096 * j.heads * j.head_dim)


def test_defaults_fill_the_sequence_batch_and_heads(reg: registry.Registry) -> None:
    work = attrs.evolve(reg.workload("llama3.1-8b"), kv_heads=None, head_dim=None)
    system = reg.system("p5.48xlarge")
    j = job.job_for(
        work, cluster_for(reg.chip(system.chip), 8, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
    )
    assert j.seq_len == work.seq_len and j.batch_seqs == job.default_batch_tokens(8) // work.seq_len
    assert j.kv_heads == work.heads and j.head_dim == work.hidden // work.heads
    tiny = job.job_for(
        work,
        cluster_for(reg.chip(system.chip), 8, system, reg.interconnects),
        reg.interconnects,
        "bf16",
        CONSTANTS,
        2**23,
    )
    assert tiny.batch_seqs == 1  # never below one sequence


def test_routed_experts_from_total_active_and_top_k(reg: registry.Registry) -> None:
    work = reg.workload("mixtral-8x7b")
    system = reg.system("p5.48xlarge")
    j = job.job_for(
        work, cluster_for(reg.chip(system.chip), 8, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
    )
    e, k = work.experts, work.experts_per_token
    # active = dense + k/E x experts, total = dense + experts: experts = (total - active) x E / (E - k)
    experts = (work.params - work.active) * e / (e - k)
    assert j.expert_params == pytest.approx(experts)
    assert (j.experts, j.experts_per_token, j.moe_layers) == (e, k, work.layers)
    assert j.dense_params == pytest.approx(work.params - experts)
    for change in ({"experts": None}, {"experts_per_token": None}, {"experts": 2, "experts_per_token": 2},
                   {"active_params": work.params}):  # fmt: skip
        dense = job.job_for(
            attrs.evolve(work, **change),
            cluster_for(reg.chip(system.chip), 8, system, reg.interconnects),
            reg.interconnects,
            "bf16",
            CONSTANTS,
        )
        assert (dense.experts, dense.experts_per_token, dense.expert_params, dense.moe_layers) == (0, 0, 0.0, 0), change


def test_a_chip_without_bf16_uses_its_fp16_peak(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    fp16_only = attrs.evolve(chip, peak_dense_tflops={k: v for k, v in chip.peak_dense_tflops.items() if k != "bf16"})
    j = job.job_for(work, cluster_for(fp16_only, 8, None, reg.interconnects), reg.interconnects, "fp8", CONSTANTS)
    assert j.peak_16bit == chip.peak_dense_tflops["fp16"].value * 1e12


def test_refusals_state_their_facts(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    system = reg.system("p5.48xlarge")

    def refusal(shape: Any, on: Any, chips: int, system: Any, precision: str = "bf16") -> str:
        with pytest.raises(HwprofError) as caught:
            job.job_for(
                shape, cluster_for(on, chips, system, reg.interconnects), reg.interconnects, precision, CONSTANTS
            )
        return str(caught.value)

    facts(refusal(work, chip, 0, system), "chip count", "at least 1", "got 0")
    facts(
        refusal(attrs.evolve(work, layers=None, heads=None), chip, 8, system),
        "shape",
        "llama3.1-8b lacks layers, heads",
    )
    no_seq = attrs.evolve(work, seq_len=None)
    facts(refusal(no_seq, chip, 8, system), "shape", "llama3.1-8b lacks sequence length")
    job.job_for(
        no_seq, cluster_for(chip, 8, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS, 2048
    )  # given: fine
    facts(refusal(work, chip, 16, None), "16 x h100-sxm", "bare chips", "joins 8", "name a")
    unlinked = attrs.evolve(chip, scale_up="")
    facts(refusal(work, unlinked, 2, None), "2 x h100-sxm", "bare chips", "no native scale-up link")
    job.job_for(
        work, cluster_for(unlinked, 1, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
    )  # one chip needs no link
    boxed = attrs.evolve(system, tiers=system.tiers[:1])
    facts(refusal(work, chip, 16, boxed), "p5.48xlarge", "no scale-out tier", "16 chips", "at most 8")
    facts(refusal(work, chip, 8, system, precision="int3"), "h100-sxm", "no dense int3 peak", "it has")


def test_software_factor_trial_then_profile_then_one(reg: registry.Registry) -> None:
    chip = reg.chip("trainium1")
    assert chip.training_efficiency is not None
    assert job.software_factor(chip, CONSTANTS) == chip.training_efficiency.value
    trial = attrs.evolve(CONSTANTS, chip_factors=(("other", 0.2), ("trainium1", 0.5)))
    assert job.software_factor(chip, trial) == 0.5
    assert job.software_factor(attrs.evolve(chip, training_efficiency=None), CONSTANTS) == 1.0


def test_default_batch_and_ffn_width_by_hand() -> None:
    assert [job.default_batch_tokens(n) for n in (1, 1024, 1025, 4096, 4097)] == [
        4 * 2**20, 4 * 2**20, 8 * 2**20, 8 * 2**20, 16 * 2**20]  # fmt: skip
    # 2 layers of width 10, q 10 and kv 4, vocab 5: per layer (1000 - 2 x 5 x 10) / 2 - 10 x 28 = 170; / 30
    assert job.ffn_width(1000.0, 2, 10, 10, 4, 5) == pytest.approx(170 / 30)
    assert job.ffn_width(10.0, 2, 10, 10, 4, 5) == 0.0  # nothing left for an MLP
    assert {"fp8", "int8", "fp4"} <= job.LOW_PRECISIONS and not job.LOW_PRECISIONS & {"bf16", "fp16", "fp32"}


def test_ranks_per_chip_split_each_chip(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    one = job.job_for(work, cluster_for(chip, 16, system, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)
    assert one.ranks_per_chip == job.chip_ranks(chip) == 1
    two = job.job_for(
        work,
        cluster_for(chip, 16, system, reg.interconnects),
        reg.interconnects,
        "bf16",
        CONSTANTS,
        recipe=job.Recipe(ranks_per_chip=2),
    )
    assert two.ranks_per_chip == 2 and two.chips == 32 and two.domain == 2 * one.domain
    assert two.memory_bytes == pytest.approx(one.memory_bytes / 2) and two.memory_bw == pytest.approx(one.memory_bw / 2)
    assert (two.peak_matmul, two.peak_16bit) == pytest.approx((one.peak_matmul / 2, one.peak_16bit / 2))
    assert two.batch_seqs == one.batch_seqs  # the batch follows chips, not ranks
    for a, b in zip(one.tiers, two.tiers, strict=True):
        assert b.domain == 2 * a.domain and b.link.gb_s_per_direction == pytest.approx(a.link.gb_s_per_direction / 2)
    lone = job.job_for(
        work,
        cluster_for(attrs.evolve(chip, scale_up=""), 1, None, reg.interconnects),
        reg.interconnects,
        "bf16",
        CONSTANTS,
        recipe=job.Recipe(ranks_per_chip=4),
    )
    assert lone.domain == 4 and lone.chips == 4  # no scale-up tier: the chip's own ranks are its domain
