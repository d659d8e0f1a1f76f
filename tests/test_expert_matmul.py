"""Routed experts' matmuls: a grouped GEMM, one matmul per local expert at its own shape
(``step.expert_size_factor``), checked against measured grouped-GEMM kernels and by hand.

Kernel data: DeepGEMM's README performance tables (deepseek-ai/DeepGEMM at 55ab91f, "Update
performance", 2025-03-25): FP8 GEMMs on an H800 SXM5 (the H100 SXM's compute: 1,979 TFLOPS dense
FP8), NVCC 12.8, in TFLOPS. Dense GEMMs of 4,096 rows; grouped GEMMs in the contiguous layout (4 x
8,192 and 8 x 4,096 rows, training's forward); and in the masked layout, 1,024 rows split over 1, 2
or 4 groups (tests/test_core.py benchmarks them with every group full), where only the rows per
group change. Status: reported (the library's own benchmark).
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.core.data import registry
from hwprof.core.perf import calibrate, layout, step, training, validate
from hwprof.core.perf import efficiency as eff
from hwprof.core.perf.job import Constants, Job

PEAK = 1979.0
# (groups, rows per group, N, K, TFLOPS)
DENSE_4096 = ((1, 4096, 4096, 7168, 1265), (1, 4096, 7168, 2048, 1168))
CONTIGUOUS = ((4, 8192, 4096, 7168, 1346), (4, 8192, 7168, 2048, 1214),
              (8, 4096, 4096, 7168, 1346), (8, 4096, 7168, 2048, 1214))  # fmt: skip
MASKED = ((1, 1024, 4096, 7168, 1233), (1, 1024, 7168, 2048, 925), (2, 512, 4096, 7168, 1040),
          (2, 512, 7168, 2048, 916), (4, 256, 4096, 7168, 932), (4, 256, 7168, 2048, 815))  # fmt: skip


def curve(n: float) -> float:
    """The shipped matmul-size curve (measured on 16-bit GEMMs, efficiency.MATMUL_HALF_WIDTH)."""
    return n / (n + eff.MATMUL_HALF_WIDTH.value)


def test_grouping_costs_nothing_at_the_same_per_expert_shape() -> None:
    # 8 groups of 4,096 rows run at least as fast as one dense GEMM of 4,096 rows with the same N and K
    # (more tiles fill the chip's waves better): the group count is not a cost, the shape per group is
    for (_, _, n, k, dense), (_, _, n8, k8, grouped) in zip(DENSE_4096, CONTIGUOUS[2:], strict=True):
        assert (n, k) == (n8, k8)
        assert grouped / dense == pytest.approx({7168: 1346 / 1265, 2048: 1214 / 1168}[k])
        assert grouped >= dense
    # at 1,024 rows in all, more groups of fewer rows each are slower: each expert's weights are read
    # for its own rows only, so bytes per FLOP grow as 1 / rows, as for a dense GEMM's narrow side
    for k in (7168, 2048):
        series = [t for _, _, _, kk, t in MASKED if kk == k]
        assert series == sorted(series, reverse=True)


def test_rows_per_expert_follow_the_dense_size_curve() -> None:
    # Against 4,096 rows per group (contiguous), each masked shape's rate by hand and by the curve,
    # the narrow side being min(rows, N, K): K 7,168: 1,233 / 1,346 = 0.916 against (1,024 / 1,209) /
    # (4,096 / 4,281) = 0.885; 256 rows: 932 / 1,346 = 0.692 against 0.607. K 2,048: 1,024 rows 925 /
    # 1,214 = 0.762 against (1,024 / 1,209) / (2,048 / 2,233) = 0.923; 256 rows 0.671 against 0.633.
    reference = {k: t for _, m, _, k, t in CONTIGUOUS if m == 4096}
    gaps = []
    for _, m, n, k, tflops in MASKED:
        measured = tflops / reference[k]
        predicted = curve(min(m, n, k)) / curve(min(4096, n, k))
        gaps.append(math.log(measured / predicted))
        assert measured == pytest.approx(predicted, rel=0.2), (m, k)
    assert abs(sum(gaps) / len(gaps)) < 0.05  # no bias: the curve is not systematically off
    assert curve(1024) / curve(4096) == pytest.approx((1024 / 1209) / (4096 / 4281), rel=1e-3)
    # The grouped kernels' own least-squares curve (calibrate.kernel_fit on rows per group, N, K's
    # narrow side) halves at 143 rows, inside the 16-bit kernels' spread over row counts (123 at 16K rows
    # to 303 at 4K, efficiency.py): these data measure no other curve, so no new constant
    share, half = calibrate.kernel_fit(tuple((min(m, n, k), t) for _, m, n, k, t in CONTIGUOUS + MASKED), PEAK)
    assert half == pytest.approx(142.6, rel=0.01)
    assert 123 <= half <= 303
    assert share == pytest.approx(0.657, rel=0.01)


CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.1, expert_overlap=0.25)
# 32 MoE layers of hidden 4,096; 64 experts, top-2, each expert as wide as 4,096 (params 32 x 64 x 3 x 4,096^2)
EXPERT_PARAMS = 32 * 64 * 3 * 4096 * 4096
MOE = Job(name="toy-moe", params=4e9 + EXPERT_PARAMS, active_params=6e9, layers=32, hidden=4096, heads=32, kv_heads=8,
          head_dim=128, seq_len=4096, batch_seqs=256, chips=64, domain=8, memory_bytes=80e9, memory_bw=3e12,
          peak_matmul=1e15, peak_16bit=1e15, constants=CONSTANTS, experts=64, experts_per_token=2,
          expert_params=EXPERT_PARAMS, moe_layers=32)  # fmt: skip


def test_expert_size_factor_by_hand() -> None:
    assert MOE.expert_ffn == pytest.approx(4096)
    # rows reaching one expert: 4,096 tokens x top-2 x ep / 64 experts
    by_ep = {1: 128, 4: 512, 32: 4096}
    for ep, rows in by_ep.items():
        n = min(rows, 4096)
        assert step.expert_size_factor(layout.Layout(ep=ep, dp=64), MOE) == pytest.approx(n / (n + 1024)), ep
    # context parallel halves each chip's tokens, so each expert's rows: ep 4, cp 2 -> 256 / 1,280
    assert step.expert_size_factor(layout.Layout(ep=4, cp=2, dp=32), MOE) == pytest.approx(0.2)
    # two micro-batch sequences double them: 1,024 / 2,048
    assert step.expert_size_factor(layout.Layout(ep=4, mb=2, dp=64), MOE) == pytest.approx(0.5)
    # tensor parallel splits the expert (4,096 / 2 = 2,048 wide): at ep 32 the width is the narrow side
    assert step.expert_size_factor(layout.Layout(ep=32, tp=2, dp=32), MOE) == pytest.approx(2048 / 3072)
    # an expert narrower than the hidden width: a quarter as wide -> 1,024 columns, under 4,096 rows
    narrow = attrs.evolve(MOE, expert_params=EXPERT_PARAMS / 4)
    assert step.expert_size_factor(layout.Layout(ep=32, dp=64), narrow) == pytest.approx(0.5)


def test_step_runs_the_experts_share_at_their_factor() -> None:
    lay = layout.Layout(ep=4, dp=64)
    dense = attrs.evolve(MOE, experts=0, experts_per_token=0, expert_params=0.0, moe_layers=0)
    routed, plain = step.step(lay, MOE), step.step(lay, dense)
    # expert FLOPs' share of the matmuls: 2 of 64 experts' 1.03e11 parameters over 6e9 active
    share = EXPERT_PARAMS * 2 / 64 / 6e9
    linear = 6 * 6e9 * 4096  # matmul FLOPs per micro-batch on the chip (tp, pp, cp 1)
    size, expert = 4096 / 5120, 512 / 1536
    extra = share * linear / (1e15 * 0.5 * size) * (size / expert - 1)  # 0.537 x 0.369 s x 1.4 = 0.277 s
    assert extra == pytest.approx(0.2771, rel=1e-3)
    # plus routing's permutes: 8 (k + 1) h bytes per token and layer at 0.724 of 3 TB/s
    permute = 4096 * 32 * 8 * 3 * 4096 / (3e12 * 0.724)
    assert (routed.compute - plain.compute) / routed.micro_batches == pytest.approx(extra + permute, rel=1e-6)


def test_qwen3_30b_experts_sit_at_the_kernels_full_grouped_shape() -> None:
    # The published Qwen3-30B-A3B layout (EP 16, tp 1): 4,096 tokens x top-8 x 16 / 128 experts = 4,096
    # rows per expert, the contiguous kernels' 8 x 4,096 shape that runs at the dense rate; the binding
    # side is the experts' own 768-wide MLP: 768 / (768 + 185), 0.88 of the dense layers' 2,048 / 2,233
    reg = registry.build(registry.Settings(profile_dirs=()))
    case = reg.validation_cases["val-mbridge260401-qwen3-30b-fp8-16"]
    job, _ = validate.train_job(case, reg, training.constants())
    lay = layout.Layout(ep=16, dp=16)
    assert job.seq_len * job.experts_per_token * 16 / job.experts == 4096
    assert job.expert_ffn == pytest.approx(768, rel=0.01)
    width = job.expert_ffn
    assert step.expert_size_factor(lay, job) == pytest.approx(width / (width + 185.0), rel=1e-3)
    assert step.expert_size_factor(lay, job) / step.size_factor(lay, job) == pytest.approx(0.88, abs=0.01)
