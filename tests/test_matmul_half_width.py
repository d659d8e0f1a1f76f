"""A chip's own matmul half width (profile field ``matmul_half_width``, per rank): training and
serving read it in place of the model's default, which is fitted per chip on chips of one rank.
Expectations are worked by hand here."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.data import records, registry
from hwprof.core.perf import cluster, layout, step
from hwprof.core.perf import efficiency as eff
from hwprof.core.perf import serve_layout as sl
from hwprof.core.perf.job import Constants, Job, job_for, own_half_width

CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.1, expert_overlap=0.25)
# hidden 8,192, two ranks per chip, long sequences: the width is the hidden side
JOB = Job(name="toy", params=70e9, active_params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
          seq_len=8192, batch_seqs=64, chips=64, domain=32, memory_bytes=16e9, memory_bw=0.4e12, peak_matmul=95e12,
          peak_16bit=95e12, constants=CONSTANTS, ranks_per_chip=2)  # fmt: skip


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_without_its_own_the_chip_keeps_the_default_per_chip() -> None:
    tp32 = layout.Layout(tp=32)
    # a chip holds 2 of the 32 shards: 8,192 x 2 / 32 = 512 columns against the constants' 1,024
    assert step.chip_width(tp32, JOB) == 512
    assert step.half_width(JOB) == 1024
    assert step.size_factor(tp32, JOB) == pytest.approx(512 / 1536)


def test_its_own_half_width_counts_each_ranks_columns() -> None:
    own = attrs.evolve(JOB, rank_half_width=64.0)
    tp32, tp8 = layout.Layout(tp=32), layout.Layout(tp=8)
    # per rank: 8,192 / 32 = 256 columns against 64 -> 256 / 320 = 0.8; tp 8: 1,024 / 1,088
    assert step.chip_width(tp32, own) == 256
    assert step.size_factor(tp32, own) == pytest.approx(0.8)
    assert step.size_factor(tp8, own) == pytest.approx(1024 / 1088)
    # short micro-batches: 2 sequences of 8,192 over cp 64 = 256 tokens is the narrower side at tp 8
    assert step.size_factor(layout.Layout(tp=8, cp=64, mb=2), own) == pytest.approx(256 / 320)
    # the matmul time follows: at tp 32 the compute of the same layout is in the ratio of the factors
    default, mine = step.step(tp32, JOB), step.step(tp32, own)
    assert mine.matmul_share / default.matmul_share == pytest.approx(0.8 / (512 / 1536))


def test_routed_experts_use_the_chips_own_half_width_too() -> None:
    moe = attrs.evolve(JOB, experts=64, experts_per_token=2, expert_params=60e9, moe_layers=80, active_params=12e9,
                       rank_half_width=64.0)  # fmt: skip
    lay = layout.Layout(tp=8, ep=1)
    # rows reaching one expert: 8,192 tokens x 2 / 64 = 256; an expert's own MLP width 60e9 / (80 layers
    # x 64 experts x 3 x 8,192) = 476.8, over tp 8 = 59.6 columns per rank, narrower still: 59.6 / 123.6
    share = 60e9 * 2 / 64 / 12e9
    dense = step.step(lay, attrs.evolve(moe, experts=0, experts_per_token=0, expert_params=0.0, moe_layers=0))
    routed = step.step(lay, moe)
    width = 60e9 / (80 * 64 * 3 * 8192) / 8
    size, expert_size = 1024 / 1088, width / (width + 64)
    linear = 6 * 12e9 * 8192 / 8  # the layout's matmul FLOPs per micro-batch per rank (pp 1, cp 1)
    extra = share * linear / (95e12 * 0.5 * size) * (size / expert_size - 1)
    # plus routing's memory traffic: 8 (k + 1) h bytes / tp per token and layer at 0.724 of 0.4 TB/s
    permute = 8192 * 80 * 8 * 3 * 8192 / 8 / (0.4e12 * 0.724)
    assert (routed.compute - dense.compute) / routed.micro_batches == pytest.approx(extra + permute, rel=1e-6)
    # the expert term by hand: 0.15625 x 1.649 s x (0.941 / 0.482 - 1)
    assert extra == pytest.approx(0.2453, rel=1e-3)


def test_profiles_give_trainium_its_own_and_gpus_none(reg: registry.Registry) -> None:
    trn1, h100 = reg.chip("trainium1"), reg.chip("h100-sxm")
    assert own_half_width(trn1) == 64 and trn1.matmul_half_width.status == "estimated"
    assert own_half_width(h100) == 0.0
    work, system = reg.workload("llama3.1-70b"), reg.system("trn1.32xlarge")
    job = job_for(work, trn1, 512, system, reg.interconnects, "bf16", CONSTANTS, 8192, 1024)
    assert job.rank_half_width == 64 and job.ranks_per_chip == 2
    # Neuron's TP32 on 16 chips: 8,192 / 32 = 256 columns per rank -> 0.8 of a wide matmul's share
    assert step.size_factor(layout.Layout(tp=32, pp=8, dp=4), job) == pytest.approx(0.8)


def test_serving_reads_the_chips_own_half_width_per_rank(reg: registry.Registry) -> None:
    system = reg.system("trn2.48xlarge")
    trn2 = reg.chip("trainium2")
    work = reg.workload("llama3.1-70b")
    own = cluster.cluster_for(trn2, 16, system, reg.interconnects)
    bare = cluster.cluster_for(attrs.evolve(trn2, matmul_half_width=None), 16, system, reg.interconnects)
    lay = sl.ServeLayout(tp=16)
    # own: TP 16 chips x 4 ranks = 64 ranks, 8,192 / 64 = 128 columns against 64 -> 2/3; without
    # it, 8,192 / 16 = 512 columns per chip against the default half width
    ratio = (128 / 192) / (512 / (512 + eff.MATMUL_HALF_WIDTH.value))
    got = sl.replica(work, own, lay).prefill_flops_per_s / sl.replica(work, bare, lay).prefill_flops_per_s
    assert got == pytest.approx(ratio)


def test_the_reader_refuses_a_half_width_of_zero(tmp_path: object) -> None:
    from hwprof.core.data import rules

    bound = rules.FIELD_BOUNDS[(records.Chip, "matmul_half_width")]
    assert bound.problem(0) is not None and bound.problem(-5.0) is not None
    assert bound.problem(64) is None
