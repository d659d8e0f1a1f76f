"""Mixture-of-experts dispatch and all-to-all overlap as properties of the run (a case's
``expert_dispatch`` and ``expert_a2a_overlap``), from the recipes each case cites.

Routed experts' matmuls: a grouped GEMM, one matmul per local expert at its own shape
(``step.expert_size_factor``), checked against measured grouped-GEMM kernels and by hand.

Kernel data: DeepGEMM's README performance tables (deepseek-ai/DeepGEMM at 55ab91f, "Update
performance", 2025-03-25): FP8 GEMMs on an H800 SXM5 (the H100 SXM's compute: 1,979 TFLOPS dense
FP8), NVCC 12.8, in TFLOPS. Dense GEMMs of 4,096 rows; grouped GEMMs in the contiguous layout (4 x
8,192 and 8 x 4,096 rows, training's forward); and in the masked layout, 1,024 rows split over 1, 2
or 4 groups (DeepGEMM's tests/test_core.py benchmarks them with every group full), where only the rows per
group change. Status: reported (the library's own benchmark).

Expert tensor parallel (layout key ``etp``, Megatron Core's expert_tensor_parallel_size): with
etp = 1 the routed experts are not split by tp and the expert-parallel group folds over tp x dp x cp
on consecutive ranks; with etp = tp (Megatron's default) each expert is split like the dense MLP and
the group strides over tp. Every figure below is worked by hand from the layout.
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import comm, validate
from hwprof.perf import efficiency as eff
from hwprof.perf.fit import calibrate
from hwprof.perf.train import layout, memory, search, step, training
from hwprof.perf.train.job import Constants, Job
from tests.facts import facts


def test_cases_carry_their_dispatcher_and_overlap_to_the_job() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    cases = reg.validation_cases
    expected = {  # (node-level dispatch, all-to-all overlapped)
        "cal-nemo-deepseek-v3-fp8-1024": (True, True),  # DeepEP, overlap_moe_expert_parallel_comm
        "cal-deepseek-v3-gpu-hours": (True, True),  # IB once per node then NVLink; DualPipe
        "val-mbridge260401-qwen3-30b-fp8-16": (True, False),  # hybridep, moe_a2a_overlap False
        "val-mbridge260401-qwen3-235b-fp8-256": (False, True),  # alltoall, moe_a2a_overlap True
    }
    for name, (node, overlap) in expected.items():
        job, _ = validate.train_job(cases[name], reg, training.constants())
        assert (job.node_dispatch, job.a2a_overlap) == (node, overlap), name
        # DeepSeek-V3 report sec. 3.2.1: DualPipe pairs chunks so the all-to-all can be fully hidden
        assert job.a2a_paired == (name == "cal-deepseek-v3-gpu-hours"), name


def test_paired_chunks_hide_the_all_to_all_behind_the_other_chunks_compute() -> None:
    c = MOE_expert_tensor_parallel.constants
    s = c.overlap_slowdown
    for net_gb_s in (50.0, 2.0):  # all-to-all shorter than the compute, then far longer
        job = attrs.evolve(
            MOE_expert_tensor_parallel,
            tiers=(MOE_expert_tensor_parallel.tiers[0], comm.Tier(256, attrs.evolve(NET, gb_s_per_direction=net_gb_s))),
        )
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
    bare = step.step(lay(1), attrs.evolve(MOE_expert_tensor_parallel, a2a_overlap=False))
    assert bare.expert == pytest.approx(step.step(lay(1), MOE_expert_tensor_parallel).expert / (1 - c.expert_overlap))


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


NVLINK = comm.Link("up", gb_s_per_direction=400, efficiency=1.0, latency_us=0.0)
NET = comm.Link("out", gb_s_per_direction=50, efficiency=1.0, latency_us=0.0)
# 16 MoE layers of hidden 4,096; 64 experts of gated width 1,536, top-8; 8-chip nodes, 256 chips
EXPERT_PARAMS_expert_tensor_parallel = 16 * 64 * 3 * 4096 * 1536
DENSE_PARAMS = 2e9
MOE_expert_tensor_parallel = Job(name="toy-moe", params=DENSE_PARAMS + EXPERT_PARAMS_expert_tensor_parallel, active_params=DENSE_PARAMS + EXPERT_PARAMS_expert_tensor_parallel * 8 / 64,
          layers=16, hidden=4096, heads=32, kv_heads=8, head_dim=128, seq_len=4096, batch_seqs=512, chips=256,
          domain=8, memory_bytes=80e9, memory_bw=3e12, peak_matmul=1e15, peak_16bit=1e15, constants=CONSTANTS,
          tiers=(comm.Tier(8, NVLINK), comm.Tier(256, NET)), experts=64, experts_per_token=8,
          expert_params=EXPERT_PARAMS_expert_tensor_parallel, moe_layers=16)  # fmt: skip
DENSE = attrs.evolve(MOE_expert_tensor_parallel, name="toy-dense", params=DENSE_PARAMS, active_params=DENSE_PARAMS, experts=0,
                     experts_per_token=0, expert_params=0.0, moe_layers=0)  # fmt: skip


def lay(etp: int, **keys: int) -> layout.Layout:
    base = {"tp": 2, "pp": 1, "dp": 128, "ep": 64, "zero": 1}
    return layout.Layout(**{**base, **keys}, etp=etp)  # type: ignore[arg-type]


def test_megatron_default_is_etp_equal_to_tp() -> None:
    # model_parallel_config.py: "Default is None, which will be set to the value of tensor_model_parallel_size"
    assert layout.parse("tp=4,pp=2", 64).etp == 4
    assert layout.Layout(tp=8).etp == 8
    assert layout.parse("tp=4,etp=1", 64).etp == 1
    # the string shows etp only where it departs from the default, so every dense layout reads as before
    assert str(layout.Layout(tp=4, dp=2)) == "tp=4,pp=1,dp=2,cp=1,ep=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1"
    assert str(layout.Layout(tp=4, dp=2, etp=1)).endswith(",etp=1")
    assert layout.parse(str(layout.Layout(tp=4, dp=2, ep=2, etp=1)), 8) == layout.Layout(tp=4, dp=2, ep=2, etp=1)


def test_experts_rule_folds_expert_parallel_over_tp_with_etp_1() -> None:
    def experts_ok(x: layout.Layout) -> bool:
        return dict(layout.rules(layout.SCALAR, x, MOE_expert_tensor_parallel))["experts"]

    # Qwen3-235B's shape: tp 2 x dp 16 = 32 ranks per stage, ep 32 (256 chips over pp 8)
    assert experts_ok(lay(1, pp=8, dp=16, ep=32))
    assert not experts_ok(lay(2, pp=8, dp=16, ep=32))  # split experts: ep must divide dp x cp = 16
    assert experts_ok(lay(2, pp=8, dp=16, ep=16))
    assert not experts_ok(lay(1, pp=8, dp=16, ep=64))  # 64 does not divide tp x dp = 32
    assert experts_ok(lay(1, tp=4, pp=8, dp=8, ep=32, cp=1))  # 4 x 8 = 32


def test_experts_per_chip_and_their_optimizer_shards() -> None:
    # tp 2, dp 128, ep 64, pp 1, ZeRO-1, 32-bit gradients
    whole, split = lay(1), lay(2)
    _, e1 = memory.params_per_chip(whole, MOE_expert_tensor_parallel)
    _, e2 = memory.params_per_chip(split, MOE_expert_tensor_parallel)
    assert e1 == pytest.approx(EXPERT_PARAMS_expert_tensor_parallel / 64)  # one expert whole per rank
    assert e2 == pytest.approx(EXPERT_PARAMS_expert_tensor_parallel / 128)  # half an expert per rank
    # expert-data-parallel ranks: 256 / (etp x ep) = 4 copies (etp 1), 2 (etp 2)
    assert memory.expert_data_ranks(whole) == 4 and memory.expert_data_ranks(split) == 2
    m1, m2 = memory.memory(whole, MOE_expert_tensor_parallel), memory.memory(split, MOE_expert_tensor_parallel)
    dense = DENSE_PARAMS / 2
    # weights (16-bit) and gradients (32-bit) of the whole experts double; ZeRO-1's optimizer state is
    # sharded over twice the ranks, so it stays the same: 12 x (dense / 128 + experts / 256)
    assert m1.weights - m2.weights == pytest.approx(2 * EXPERT_PARAMS_expert_tensor_parallel / 128)
    assert m1.gradients - m2.gradients == pytest.approx(4 * EXPERT_PARAMS_expert_tensor_parallel / 128)
    assert m1.optimizer == pytest.approx(12 * (dense / 128 + EXPERT_PARAMS_expert_tensor_parallel / 256))
    assert m2.optimizer == pytest.approx(m1.optimizer)


def test_all_to_all_group_eight_nodes_not_sixteen(monkeypatch: pytest.MonkeyPatch) -> None:
    # EP 64 over tp 2 x dp: with etp 1 the group is 64 consecutive ranks, 8 nodes of 8; with etp 2 it
    # strides over tp, 4 members a node, 16 nodes. Node-level dispatch, top-8: of u nodes a token reaches
    # (u - 1)(1 - (1 - 1/u)^8) others: 7 x (1 - (7/8)^8) = 4.595 copies cross (u = 8), 15 x (1 -
    # (15/16)^8) = 6.049 (u = 16)
    u8, u16 = 7 * (1 - (7 / 8) ** 8), 15 * (1 - (15 / 16) ** 8)
    assert (u8, u16) == (pytest.approx(4.595, abs=1e-3), pytest.approx(6.049, abs=1e-3))
    seen: list[tuple[int, int]] = []
    real = comm.tiered_all_to_all

    def spy(size, group, stride, tiers, xp, picks=0):  # type: ignore[no-untyped-def]
        seen.append((group, stride))
        return real(size, group, stride, tiers, xp, picks)

    monkeypatch.setattr(comm, "tiered_all_to_all", spy)
    s1, s2 = step.step(lay(1), MOE_expert_tensor_parallel), step.step(lay(2), MOE_expert_tensor_parallel)
    assert seen == [(64, 1), (64, 2)]
    # each rank dispatches its own 4,096 / 2 tokens x 8 copies x 4,096 x 2 bytes (sequence parallel)
    size = 4096 / 2 * 8 * 4096 * 2
    cross = {1: 4.595 / 8, 2: 6.049 / 8}  # share of the k copies over the 50 GB/s network
    inside = {1: 7 / 8, 2: 3 / 4}  # forwarded inside a node of 8 (4) members over 400 GB/s
    for etp, got in ((1, s1), (2, s2)):
        a2a = max(cross[etp] * size / 50e9, inside[etp] * size / 400e9)
        hand = got.micro_batches * 16 * 4 * a2a * (1 - 0.25)  # 16 MoE layers, 4 per layer, 1/4 hidden
        assert got.expert == pytest.approx(hand, rel=1e-3), etp
    assert s1.expert / s2.expert == pytest.approx(4.595 / 6.049, rel=1e-3)


def test_expert_gradients_reduce_over_the_expert_data_parallel_group(monkeypatch: pytest.MonkeyPatch) -> None:
    # dense parameters over dp = 128 ranks tp = 2 apart; experts over 256 / (etp x 64) ranks, etp x 64 apart
    seen: list[tuple[int, int]] = []
    real = comm.tiered_reduce_scatter

    def spy(size, group, stride, tiers, xp):  # type: ignore[no-untyped-def]
        seen.append((group, stride))
        return real(size, group, stride, tiers, xp)

    monkeypatch.setattr(comm, "tiered_reduce_scatter", spy)
    step.step(lay(1), MOE_expert_tensor_parallel)
    assert set(seen) == {(2, 1), (128, 2), (4, 64)}  # (2, 1): tensor parallel's all-reduces
    seen.clear()
    step.step(lay(2), MOE_expert_tensor_parallel)
    assert set(seen) == {(2, 1), (128, 2), (2, 128)}
    # the optimizer reads what its ZeRO-1 shard holds: the same for both (see memory above)
    o1, o2 = (
        step.step(lay(1), MOE_expert_tensor_parallel).optimizer,
        step.step(lay(2), MOE_expert_tensor_parallel).optimizer,
    )
    by_hand = (
        (26 + 4)
        * (DENSE_PARAMS / 2 / 128 + EXPERT_PARAMS_expert_tensor_parallel / 256)
        / (3e12 * CONSTANTS.memory_fraction)
    )
    assert o1 == pytest.approx(by_hand) and o2 == pytest.approx(by_hand)


def test_whole_experts_are_as_wide_as_their_mlp_and_see_their_ranks_tokens() -> None:
    # rows per expert: 4,096 tokens x top-8 x ep / 64 experts, / tp with etp 1 (each rank routes its own
    # sequence-parallel share and nothing is gathered); width: 1,536, / tp with etp = tp
    half = 1024.0

    def factor(n: float) -> float:
        return n / (n + half)

    # ep 8: etp 2 -> 4,096 rows, 768 wide; etp 1 -> 2,048 rows, 1,536 wide
    assert step.expert_size_factor(lay(2, ep=8), MOE_expert_tensor_parallel) == pytest.approx(factor(768))
    assert step.expert_size_factor(lay(1, ep=8), MOE_expert_tensor_parallel) == pytest.approx(factor(1536))
    # ep 4: etp 1 -> 1,024 rows bind under the 1,536 width; etp 2 -> 2,048 rows, 768 wide
    assert step.expert_size_factor(lay(1, ep=4), MOE_expert_tensor_parallel) == pytest.approx(factor(1024))
    assert step.expert_size_factor(lay(2, ep=4), MOE_expert_tensor_parallel) == pytest.approx(factor(768))
    # tp 1: etp changes nothing (4,096 rows at ep 8, 1,536 wide)
    assert step.expert_size_factor(lay(1, tp=1, dp=256, ep=8), MOE_expert_tensor_parallel) == pytest.approx(
        factor(1536)
    )


def test_no_tensor_parallel_collectives_around_whole_experts() -> None:
    # Without sequence parallel the tensor term is 4 all-reduces of 4,096 x 4,096 x 2 bytes per layer over
    # tp 2 inside a node: 2 x 1/2 x 32 MiB / 400 GB/s each. With etp 1 an MoE layer keeps only its
    # attention block's 2; with 12 of 16 layers MoE that is 4 - 2 x 12 / 16 = 2.5 per layer on average
    all_reduce = 2 * 0.5 * 4096 * 4096 * 2 / 400e9
    job = attrs.evolve(
        MOE_expert_tensor_parallel, moe_layers=12, expert_params=EXPERT_PARAMS_expert_tensor_parallel * 12 / 16
    )
    t1, t2 = step.step(lay(1, sp=0), job), step.step(lay(2, sp=0), job)
    assert t2.tensor / t2.micro_batches == pytest.approx(16 * 4 * all_reduce)
    assert t1.tensor / t1.micro_batches == pytest.approx(16 * 2.5 * all_reduce)
    # a dense model is untouched by etp
    d1, d2 = step.step(lay(1, ep=1, sp=0), DENSE), step.step(lay(2, ep=1, sp=0), DENSE)
    assert d1 == d2


def test_search_tries_both_etp_for_experts_and_one_for_dense_models() -> None:
    def rows(job: Job, fixed: dict[str, int]) -> list[tuple[int, ...]]:
        return list(search.candidates(job, fixed))

    etp = search.FIELDS.index("etp")
    moe = rows(MOE_expert_tensor_parallel, {"tp": 2, "pp": 8})
    assert {r[etp] for r in moe} == {1, 2}
    # with etp 1, ep 32 and 64 fold over tp 2 x dp 16 = 32 ranks: ep 32 only; with etp 2, ep up to 16
    assert max(r[4] for r in moe if r[etp] == 1) == 32
    assert max(r[4] for r in moe if r[etp] == 2) == 16
    dense = rows(DENSE, {"tp": 2, "pp": 8})
    assert {r[etp] for r in dense} == {2}  # the count does not double
    assert len(dense) == len({r[:-1] for r in dense})
    assert {r[etp] for r in rows(MOE_expert_tensor_parallel, {"tp": 1, "pp": 8})} == {1}


def test_recipes_publish_expert_tensor_parallel_1() -> None:
    # deepseek_v3_llm_pretrain.yaml h100 num_gpus_1024 'etp: 1'; qwen3_workload_base_configs.py
    # expert_tensor_parallel_size=1 for both Qwen3 MoE presets
    reg = registry.build(registry.Settings(profile_dirs=()))
    for name in ("cal-nemo-deepseek-v3-fp8-1024", "val-mbridge260401-qwen3-235b-fp8-256",
                 "val-mbridge260401-qwen3-30b-fp8-16"):  # fmt: skip
        case = reg.validation_cases[name]
        assert validate.published_keys(case, reg.workload(case.model))["etp"] == 1, name
        assert "expert_tensor_parallel_size" in case.note or "etp: 1" in case.note, name
        run = validate.run_train(case, reg, training.constants())
        assert run.fits and run.layout.endswith("etp=1") == (case.model != "qwen3-30b-a3b"), name


def test_experts_rule_edges() -> None:
    def experts_ok(x: layout.Layout, job: Job = MOE_expert_tensor_parallel) -> bool:
        return dict(layout.rules(layout.SCALAR, x, job))["experts"]

    # context parallel ranks hold experts too: tp 2 x dp 2 x cp 2 = 8 ranks carry ep 8 with etp 1
    assert experts_ok(lay(1, tp=2, dp=2, cp=2, ep=8, pp=32))
    assert not experts_ok(lay(2, tp=2, dp=2, cp=2, ep=8, pp=32))  # dp x cp = 4 with etp = tp
    assert not experts_ok(lay(1, tp=2, dp=2, cp=1, ep=8, pp=64))  # tp x dp = 4 < 8
    # ep must divide the experts: 2 does not divide 3
    assert not experts_ok(lay(1, tp=2, dp=128, ep=2), attrs.evolve(MOE_expert_tensor_parallel, experts=3))
    assert experts_ok(lay(1, tp=2, dp=128, ep=1), attrs.evolve(MOE_expert_tensor_parallel, experts=3))
    # ep 16 does not divide tp 2 x dp 4 / etp 2 = 4, nor tp x dp = 8 with etp 1
    assert not experts_ok(lay(1, tp=2, dp=4, ep=16, pp=32))


def test_etp_and_grads_syntax_in_one_line() -> None:
    assert layout.parse("tp=2,etp=2", 8).etp == 2  # etp equal to a given tp is allowed
    with pytest.raises(layout.LayoutError, match=r"etp=2: expert tensor parallel is 1 or tp \(4\)") as err:
        layout.parse("tp=4,etp=2", 8)
    assert err.value.rule == "syntax"
    with pytest.raises(layout.LayoutError) as err:
        layout.given("grads=8")
    assert err.value.rule == "syntax"
    facts(str(err.value), "grads=8", "16 or 32 bits")
    assert layout.given("grads=16") == {"grads": 16}
