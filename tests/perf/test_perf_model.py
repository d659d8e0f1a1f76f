"""The training performance model, formula by formula, against arithmetic done by hand here.

A small made-up job keeps the numbers checkable: 1.2B parameters, 8 layers of width 1,024, 8 heads
of 128, sequences of 2,048, a global batch of 64 sequences, 16 chips of 1 PFLOPS and 2 TB/s, joined
8 to a domain at 100 GB/s and across at 10 GB/s (no latency, full efficiency, so a collective is its
bytes over the bandwidth).
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import records
from hwprof.errors import HwprofError
from hwprof.perf import comm
from hwprof.perf.cluster import cluster_for
from hwprof.perf.train import layout, memory, search, step
from hwprof.perf.train.job import Constants, Job, default_batch_tokens
from tests.facts import facts

UP = comm.Link("up", gb_s_per_direction=100, efficiency=1.0, latency_us=0.0)
OUT = comm.Link("out", gb_s_per_direction=10, efficiency=1.0, latency_us=0.0)
CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.1, expert_overlap=0.25,
                      attention_16bit=0.3, attention_half_length=2048.0, memory_fraction=0.5)  # fmt: skip
JOB = Job(name="toy", params=1.2e9, active_params=1.2e9, layers=8, hidden=1024, heads=8, kv_heads=8, head_dim=128,
          seq_len=2048, batch_seqs=64, chips=16, domain=8, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS, tiers=(comm.Tier(8, UP), comm.Tier(16, OUT)))  # fmt: skip
BASE = layout.Layout(tp=2, pp=2, dp=4)  # cp 1, ep 1, vpp 1, mb 1, zero 1, selective, sp 1
SBH = 2048 * 1 * 1024  # tokens x micro-batch x hidden


# ----------------------------------------------------------------------------- layouts


def test_a_layout_parses_with_defaults_and_prints_back() -> None:
    lay = layout.parse("tp=8,pp=16,dp=128")
    assert (lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp, lay.mb, lay.zero, lay.recompute, lay.sp) == (
        8, 16, 128, 1, 1, 1, 1, 1, "selective", 1)  # fmt: skip
    assert lay.chips == 8 * 16 * 128
    assert layout.parse(str(lay)) == lay
    assert layout.parse("TP=2, pp=4", chips=64).dp == 8  # dp from the chips; keys any case, spaces ignored
    assert layout.parse("recompute=full,zero=3,tp=2", chips=4).recompute_code == 2


@pytest.mark.parametrize(
    ("text", "rule", "words"),
    [
        ("tp=2,tp=2", "syntax", "given twice"),
        ("tp", "syntax", "not key=value"),
        ("tp=two", "syntax", "not a whole number"),
        ("tq=2", "syntax", "unknown key 'tq'"),
        ("tp=0", "syntax", "at least 1"),
        ("zero=4", "syntax", "ZeRO stage"),
        ("sp=2", "syntax", "0 or 1"),
        ("recompute=half", "syntax", "none, selective or full"),
        ("tp=3", "chips", "does not divide by tp x pp x cp = 3"),
    ],
)
def test_bad_layout_text_names_the_rule(text: str, rule: str, words: str) -> None:
    with pytest.raises(layout.LayoutError) as caught:
        layout.parse(text, chips=16)
    assert caught.value.rule == rule and words in str(caught.value)
    assert str(caught.value).startswith(f"layout refused ({rule}): ")


@pytest.mark.parametrize(
    ("lay", "rule"),
    [
        (layout.Layout(tp=2, pp=2, dp=2), "chips"),  # 8 chips of 16
        (layout.Layout(tp=16, dp=1), "domain"),  # a domain holds 8
        (layout.Layout(tp=16, dp=1, cp=1), "domain"),
        (layout.Layout(tp=1, pp=16, dp=1), "layers"),  # 8 layers
        (layout.Layout(tp=2, pp=4, dp=2, vpp=3), "layers"),
        (layout.Layout(tp=1, pp=1, dp=16, mb=8), "batch"),  # 64 sequences, 16 x 8
        (layout.Layout(tp=1, pp=1, dp=16, mb=3), "batch"),
        (layout.Layout(tp=1, pp=1, dp=8, cp=2, ep=2), "experts"),  # a dense model
        (layout.Layout(tp=2, pp=1, dp=8, vpp=2), "interleave"),  # virtual stages without a pipeline
        (layout.Layout(tp=1, pp=8, dp=2, vpp=1, mb=1), None),
    ],
)
def test_the_rules_refuse_what_cannot_run(lay: layout.Layout, rule: str | None) -> None:
    job = attrs.evolve(JOB, heads=32)  # so tp=16 divides the heads and meets the domain rule
    if rule is None:
        layout.check(lay, job, memory_too=False)
        return
    with pytest.raises(layout.LayoutError) as caught:
        layout.check(lay, job, memory_too=False)
    assert caught.value.rule == rule


def test_heads_context_uneven_and_interleave_rules() -> None:
    seven = attrs.evolve(JOB, heads=7, chips=2)
    with pytest.raises(layout.LayoutError, match=r"\(heads\).*7 heads, tp=2"):
        layout.check(layout.Layout(tp=2, dp=1), seven, memory_too=False)
    odd = attrs.evolve(JOB, seq_len=2050)
    with pytest.raises(layout.LayoutError, match=r"\(context\)"):
        layout.check(layout.Layout(tp=1, cp=4, dp=4), odd, memory_too=False)
    layout.check(layout.Layout(tp=1, cp=4, dp=4), JOB, memory_too=False)  # 2,048 divides by 2 x 4
    # 8 layers over 3 stages only with uneven=1 (the slowest stage then has ceil(8/3) = 3)
    three = attrs.evolve(JOB, chips=3)
    with pytest.raises(layout.LayoutError, match=r"\(layers\)"):
        layout.check(layout.Layout(pp=3, dp=1), three, memory_too=False)
    layout.check(layout.Layout(pp=3, dp=1, uneven=1), three, memory_too=False)
    # interleaving needs micro-batches per pipeline in multiples of pp: 64 / (4 x 1) = 16 over pp 2 is fine,
    # 64 / (4 x 8) = 2 over pp 4 is not
    layout.check(layout.Layout(tp=2, pp=2, dp=4, vpp=2), JOB, memory_too=False)
    with pytest.raises(layout.LayoutError, match=r"\(interleave\)"):
        layout.check(layout.Layout(tp=1, pp=4, dp=4, vpp=2, mb=8), JOB, memory_too=False)
    across = attrs.evolve(JOB, cross_domain=True, heads=16)
    layout.check(layout.Layout(tp=16, dp=1), across, memory_too=False)  # asked for: allowed


def test_memory_is_a_named_rule_with_the_figures() -> None:
    small = attrs.evolve(JOB, memory_bytes=1e9)
    with pytest.raises(layout.LayoutError, match=r"\(memory\).*GiB per chip"):
        layout.check(BASE, small)


# ----------------------------------------------------------------------------- memory


def test_state_per_chip_follows_the_zero_stage() -> None:
    per_chip = 1.2e9 / (2 * 2)  # tp x pp
    m1 = memory.memory(BASE, JOB)
    assert m1.weights == pytest.approx(2 * per_chip)
    assert m1.gradients == pytest.approx(4 * per_chip)  # 32-bit gradients, as Megatron keeps them for 16-bit runs
    assert m1.optimizer == pytest.approx(12 * per_chip / 4)  # sharded over dp x cp = 4
    m0 = memory.memory(attrs.evolve(BASE, zero=0), JOB)
    assert m0.optimizer == pytest.approx(12 * per_chip)
    m2 = memory.memory(attrs.evolve(BASE, zero=2), JOB)
    assert (m2.gradients, m2.weights) == pytest.approx((4 * per_chip / 4, 2 * per_chip))
    m3 = memory.memory(attrs.evolve(BASE, zero=3), JOB)
    # weights sharded, plus two layers' gathered weights (4 layers per stage)
    assert m3.weights == pytest.approx(2 * per_chip / 4 + 2 * 2 * per_chip / 4)
    assert m3.usable == pytest.approx(0.9 * 80e9)
    assert m1.total == pytest.approx(m1.weights + m1.gradients + m1.optimizer + m1.activations)


def test_activations_per_layer_with_sp_recompute_and_1f1b() -> None:
    # 16 micro-batches per pipeline; the first of 2 stages keeps min(16, 2) in flight for its 4 layers,
    # the second min(16, 1): the first is the busiest
    in_flight = 4 * 2
    assert memory.in_flight(BASE, JOB) == in_flight
    # per token: norms' inputs and outputs 8h outside the tp region; Q, O 4q, K, V 4kv and 4 bytes of
    # softmax statistics per head inside (the toy has no MLP width: ffn 0); tp 2 with sequence parallel
    per_token = (8 * 1024 + 4 * 1024 + 4 * 1024 + 4 * 8) / 2  # 8,208 bytes
    kept = 2048 * per_token  # 16,809,984 bytes per layer and micro-batch
    assert memory.activation_per_layer(BASE, JOB) == pytest.approx(kept)
    assert memory.memory(BASE, JOB).activations == pytest.approx(kept * in_flight)
    no_sp = attrs.evolve(BASE, sp=0)  # the 8h outside the tp region on every rank
    assert memory.activation_per_layer(no_sp, JOB) == pytest.approx(2048 * (8 * 1024 + (8 * 1024 + 32) / 2))
    none = attrs.evolve(BASE, recompute="none")  # fused attention never stores the scores: as selective
    assert memory.activation_per_layer(none, JOB) == pytest.approx(kept)
    full = attrs.evolve(BASE, recompute="full")  # the layer input (/ t with SP), plus one layer rebuilt
    assert memory.activation_per_layer(full, JOB) == pytest.approx(2 * SBH / 2)
    assert memory.memory(full, JOB).activations == pytest.approx(2 * SBH / 2 * in_flight + kept)
    # interleaving: rank 0 holds pp + (pp - 1) / vpp = 2.5 micro-batches' worth, rank 1 2 + (2 - 3) / 2 = 1.5
    inter = attrs.evolve(BASE, vpp=2)
    assert memory.in_flight(inter, JOB) == pytest.approx(4 * 2.5)
    # fewer micro-batches than stages: only those are in flight
    few = attrs.evolve(JOB, batch_seqs=4)
    assert memory.in_flight(BASE, few) == 4 * 1
    # context parallel: each rank holds 1/cp of every sequence
    cp = layout.Layout(tp=2, pp=2, dp=2, cp=2)
    assert memory.activation_per_layer(cp, JOB) == pytest.approx(1024 * per_token)
    # the output layer's 32-bit logits, 4 x s x b x vocab / tp, on the last stage for one micro-batch:
    # 4 layers x 1 micro-batch + 131,072,000 bytes of logits outweighs the first stage's 4 x 2
    worded = attrs.evolve(JOB, vocab=32000)
    logits = 4 * 2048 * 32000 / 2
    assert memory.memory(BASE, worded).activations == pytest.approx(4 * kept + logits)
    assert 4 * kept + logits > 8 * kept


def test_experts_are_split_over_expert_parallel_ranks() -> None:
    moe = attrs.evolve(JOB, params=9.2e9, active_params=1.2e9 + 1e9, expert_params=8e9, experts=8,
                       experts_per_token=1, moe_layers=8)  # fmt: skip
    lay = layout.Layout(tp=1, pp=1, dp=16, ep=4)
    dense, expert = memory.params_per_chip(lay, moe)
    assert (dense, expert) == pytest.approx((1.2e9, 8e9 / 4))
    m = memory.memory(lay, moe)
    # optimizer state: dense over dp x cp = 16, experts over dp x cp / ep = 4
    assert m.optimizer == pytest.approx(12 * (1.2e9 / 16 + 2e9 / 4))


# ----------------------------------------------------------------------------- step time


def _attention_rate(cp: int = 1) -> float:
    """0.3 of the 16-bit peak x chunk / (chunk + 2,048) for the toy constants; chunk = 2,048 / cp."""
    chunk = 2048 / cp
    return 1e15 * 0.3 * chunk / (chunk + 2048)


def _memory_bound(lay: layout.Layout, layers: int = 4, ffn: float = 0.0, full: bool = False, top_k: int = 0) -> float:
    """Memory-bound seconds of one micro-batch on one chip: norms and residual adds 22 h (32 with full
    recompute) / tp with SP, rotary 4 (q + kv) (6) and the activation 8 f (11) / tp, 2 bytes each, at
    half of 2 TB/s; the toy job has q = kv = 1,024 and no vocabulary."""
    outer = (32 if full else 22) * 1024 * 2 / (lay.tp if lay.sp else 1)
    inner = ((6 if full else 4) * 2048 + (11 if full else 8) * ffn) * 2 / lay.tp
    inner += 8 * (top_k + 1) * 1024 / lay.tp if top_k else 0.0  # routed tokens permuted and back (every layer)
    # ring attention merges its cp steps: 14 q + 20 kv bytes per step (+ 8 q when recompute reruns the forward)
    if lay.cp > 1:
        inner += lay.cp * (14 * 1024 + 20 * 1024 + (8 * 1024 if lay.recompute != "none" else 0)) / lay.tp
    return 2048 * lay.mb / lay.cp * layers * (outer + inner) / (2e12 * 0.5)


def _compute_per_micro_batch(
    lay: layout.Layout, job: Job, extra_linear: float = 1.0, extra_attn: float = 4 / 3
) -> float:
    tokens_per_chip = 2048 * 0.5 / (lay.tp * lay.cp)  # half the layers on this stage
    linear = 6 * 1.2e9 * tokens_per_chip * extra_linear
    attention = 6 * 8 * 2048 * 1024 * tokens_per_chip * extra_attn  # selective recompute redoes its forward
    width = min(1024 / lay.tp, lay.mb * 2048 / lay.cp)
    rate = 1e15 * 0.5 * width / (width + 1024)
    return linear / rate + attention / _attention_rate(lay.cp) + _memory_bound(lay, full=extra_linear > 1)


def test_step_by_hand() -> None:
    st = step.step(BASE, JOB)
    micro = 64 // 4
    compute = _compute_per_micro_batch(BASE, JOB)
    assert st.micro_batches == micro
    assert st.matmul_share == pytest.approx(0.5 * 512 / (512 + 1024))
    assert st.compute == pytest.approx(micro * compute)
    # tensor parallel: 4 all-reduces per layer of 2,048 x 1,024 x 2 bytes over 2 ranks inside a domain
    all_reduce = 2 * (1 / 2) * (2048 * 1024 * 2) / 100e9
    # with sequence parallel they run beside the micro-batch's matmuls (6 x 1.2e9 x 512 FLOPs at
    # 1 PFLOPS x 0.5 x 512 / 1,536: 22.1 ms), far longer: only the matmuls' 10% slowdown shows
    matmuls = 6 * 1.2e9 * 512 / (1e15 * 0.5 * 512 / 1536)
    assert 4 * 4 * all_reduce < matmuls
    tensor = 4 * 4 * all_reduce * 0.1 / 1.1
    assert st.tensor == pytest.approx(micro * tensor)
    # without sequence parallel (all-reduces after the matmuls) none of it hides
    assert step.step(attrs.evolve(BASE, sp=0), JOB).tensor == pytest.approx(micro * 4 * 4 * all_reduce)
    # pipeline: stages sit tp x cp x dp = 8 ranks apart, across domains: 2 sends per micro-batch of
    # the boundary activations / tp (sequence parallel)
    assert st.pipeline == pytest.approx(2 * micro * (2048 * 1024 * 2 / 2) / 10e9)
    # bubble: (pp - 1) / vpp micro-batch times
    assert st.bubble == pytest.approx((2 - 1) * (compute + tensor))
    # data parallel: 4 ranks 2 apart, all inside a domain: reduce-scatter of 16-bit grads and
    # all-gather of 16-bit weights; with 2 stages and no interleaving a stage's traffic is one chunk
    # that only starts when its last backward ends (the weights: before its first forward): exposed
    scatter = (3 / 4) * (2 * 3e8) / 100e9
    assert st.data == pytest.approx(2 * scatter)
    # optimizer: 30 bytes per local parameter (read 32-bit master, m, v and gradient, write master, m, v and
    # the 16-bit weight: 16 + 14; sharded over 4 with ZeRO 1) at half the memory bandwidth
    assert st.optimizer == pytest.approx(30 * 3e8 / 4 / (2e12 * 0.5))
    # memory-bound work, part of compute: 2,048 tokens x 4 layers x (22 x 1,024 x 2 / 2 + 4 x 2,048 x 2 / 2)
    # bytes at 1 TB/s
    assert st.memory_bound == pytest.approx(micro * 2048 * 4 * (22528 + 8192) / 1e12)
    assert st.total == pytest.approx(st.compute + st.tensor + st.pipeline + st.bubble + st.data + st.optimizer)
    assert (st.expert, st.context) == (0, 0)


def test_recompute_costs_and_interleaving_shrinks_the_bubble() -> None:
    full = step.step(attrs.evolve(BASE, recompute="full"), JOB)
    assert full.compute == pytest.approx(16 * _compute_per_micro_batch(BASE, JOB, 4 / 3, 4 / 3))
    # full recompute repeats the forward's 2 tensor-parallel collectives: 6 per layer
    assert full.tensor == pytest.approx(step.step(BASE, JOB).tensor * 6 / 4)
    none = step.step(attrs.evolve(BASE, recompute="none"), JOB)
    assert none.compute == pytest.approx(16 * _compute_per_micro_batch(BASE, JOB, 1.0, 1.0))
    two = step.step(attrs.evolve(BASE, vpp=2), JOB)
    assert two.bubble == pytest.approx(step.step(BASE, JOB).bubble / 2)
    assert two.pipeline == pytest.approx(step.step(BASE, JOB).pipeline * 2)  # twice the sends


def test_a_collective_beside_compute_costs_the_slowdown_or_what_outlasts_its_window() -> None:
    # 1 s of traffic beside 3 s of compute that runs 10% slower meanwhile: 1 - 1 / 1.1 lost
    assert step.exposed(1.0, 3.0, 0.1) == pytest.approx(1 / 11)
    # 5 s beside 3 s: the window stretches to 3.3 s, the rest is exposed: 3 x 0.1 + (5 - 3.3) = 2
    assert step.exposed(5.0, 3.0, 0.1) == pytest.approx(2.0)
    assert step.exposed(3.3, 3.0, 0.1) == pytest.approx(0.3)  # the two meet where the window is full
    assert step.exposed(1.0, 0.0, 0.1) == pytest.approx(1.0)  # nothing to hide behind


ONE_STAGE = layout.Layout(tp=2, pp=1, dp=8)  # dp ranks 2 apart: 4 in a domain of 8, then 2 domains


def _hide(traffic: float, window: float, last: float) -> float:
    """The toy constants' hiding (slowdown 0.1): the last chunk (a share ``last``) is exposed, the rest
    costs 0.1 / 1.1 of itself inside its window and all that outlasts it."""
    rest = (1 - last) * traffic
    return last * traffic + max(rest - window, rest * 0.1 / 1.1)


def test_each_zero_stage_moves_its_own_data_parallel_traffic() -> None:
    # one stage of all 8 layers: the traffic goes in 8 one-layer chunks, the last one exposed.
    # One micro-batch's compute 0.0457 s: its forward 1/3, its backward 2/3; 64 / 8 = 8 micro-batches.
    compute = _compute_per_micro_batch(ONE_STAGE, JOB) * 2  # the helper counts half the layers
    fwd, bwd = compute / 3, compute * 2 / 3
    # 16-bit gradients (or weights) of 6e8 local parameters: 4 ranks in a domain, then 2 across
    rs = (3 / 4) * (2 * 6e8) / 100e9 + (1 / 2) * (2 * 6e8 / 4) / 10e9
    assert rs == pytest.approx(0.024)
    z0 = step.step(attrs.evolve(ONE_STAGE, zero=0), JOB)  # one all-reduce in the last backward
    assert z0.data == pytest.approx(_hide(2 * rs, bwd, 1 / 8))
    z1 = step.step(ONE_STAGE, JOB)  # gradients in the last backward, weights in the first forward
    assert z1.data == pytest.approx(_hide(rs, bwd, 1 / 8) + _hide(rs, fwd, 1 / 8))
    # by hand: 0.003 + 0.021 / 11 (hidden) and 0.003 + (0.021 - 0.01522) (outlasts the forward)
    assert z1.data == pytest.approx(0.003 + 0.021 / 11 + 0.003 + (0.021 - compute / 3))
    z2 = step.step(attrs.evolve(ONE_STAGE, zero=2), JOB)  # no whole gradient kept: every backward
    assert z2.data == pytest.approx(8 * _hide(rs, bwd, 1 / 8) + _hide(rs, fwd, 1 / 8))
    z3 = step.step(attrs.evolve(ONE_STAGE, zero=3), JOB)  # weights gathered for every forward and backward
    assert z3.data == pytest.approx(8 * (_hide(rs, fwd, 1 / 8) + _hide(2 * rs, bwd, 1 / 8)))
    assert z1.data < z2.data < z3.data
    # full recompute: the forward is 1/4 of a micro-batch's (larger) compute
    full = attrs.evolve(ONE_STAGE, recompute="full")
    big = _compute_per_micro_batch(full, JOB, 4 / 3, 4 / 3) * 2
    assert step.step(full, JOB).data == pytest.approx(_hide(rs, big * 3 / 4, 1 / 8) + _hide(rs, big / 4, 1 / 8))


def test_pipeline_stages_send_their_data_parallel_traffic_per_virtual_stage() -> None:
    # with pp > 1 a chunk is one virtual stage's layers: without interleaving that is the whole
    # stage, nothing is left to hide it, so all of it is exposed (toy job: 4 ranks in a domain)
    rs = (3 / 4) * (2 * 3e8) / 100e9
    assert step.step(BASE, JOB).data == pytest.approx(2 * rs)
    two = attrs.evolve(BASE, vpp=2)  # half of it comes before the last virtual stage's backward
    compute = _compute_per_micro_batch(two, JOB)
    assert step.step(two, JOB).data == pytest.approx(_hide(rs, compute * 2 / 3, 1 / 2) + _hide(rs, compute / 3, 1 / 2))


def test_data_parallel_traffic_longer_than_its_window_is_exposed() -> None:
    slow_link = attrs.evolve(JOB, tiers=(comm.Tier(8, attrs.evolve(UP, gb_s_per_direction=0.1)), comm.Tier(16, OUT)))
    compute = _compute_per_micro_batch(ONE_STAGE, slow_link) * 2
    rs = (3 / 4) * (2 * 6e8) / 0.1e9 + (1 / 2) * (2 * 6e8 / 4) / 10e9  # 9 s over a 0.1 GB/s link
    assert rs * 7 / 8 > 1.1 * compute
    st = step.step(ONE_STAGE, slow_link)
    assert st.data == pytest.approx((rs - compute * 2 / 3) + (rs - compute / 3))


def test_data_parallel_across_domains_is_hierarchical() -> None:
    lay = layout.Layout(tp=4, pp=1, dp=4)  # dp ranks 4 apart: 2 in a domain of 8, then 2 domains
    st = step.step(lay, JOB)
    params = 1.2e9 / 4
    scatter = (1 / 2) * 2 * params / 100e9 + (1 / 2) * (2 * params / 2) / 10e9
    compute = _compute_per_micro_batch(lay, JOB) * 2  # one stage holds all 8 layers: twice the half
    # 7/8 of the gradients (0.0158 s) hide in the backward (2/3 of 0.0376 s); 7/8 of the weights
    # outlast the forward; the last 1/8 of each is exposed
    rest = scatter * 7 / 8
    assert 1.1 * compute / 3 < rest < compute * 2 / 3
    assert st.data == pytest.approx(scatter / 8 + rest * 0.1 / 1.1 + scatter / 8 + (rest - compute / 3))


def test_context_parallel_ring_is_hidden_behind_attention_unless_longer() -> None:
    lay = layout.Layout(tp=1, pp=1, dp=8, cp=2)
    slow = attrs.evolve(JOB, tiers=(comm.Tier(8, comm.Link("slow", 0.001, 1.0, 0.0)), comm.Tier(16, OUT)))
    kv_chunk = 2 * 2048 / 2 * 1024 * 2  # K and V of 1,024 tokens, 16-bit
    tokens = 2048 / 2
    # attention on chunks of 1,024 tokens: 0.3 x 1,024 / (1,024 + 2,048) of the 16-bit peak
    attention_per_layer = 6 * 8 * 2048 * 1024 * tokens * (4 / 3) / 8 / (1e15 * 0.3 * 1024 / 3072)
    for job, bytes_per_s in ((slow, 1e6), (JOB, 100e9)):
        # K and V once forward, again in selective recompute's rerun of attention, K, V and their
        # gradients backward: 4 passes of cp - 1 hops
        ring = 4 * (2 - 1) * kv_chunk / bytes_per_s
        # 8 layers per micro-batch, 64 / 8 = 8 micro-batches; what the ring takes beyond attention, at
        # least the 10% slowdown of the attention it shares the chip with: ring x 0.1 / 1.1
        assert step.step(lay, job).context == pytest.approx(8 * 8 * max(ring - attention_per_layer, ring * 0.1 / 1.1))
    assert 4 * kv_chunk / 1e6 > attention_per_layer > 4 * kv_chunk / 100e9  # one of each case
    fast = attrs.evolve(JOB, tiers=(comm.Tier(8, comm.Link("fast", 1e4, 1.0, 0.0)), comm.Tier(16, OUT)))
    hidden = 4 * kv_chunk / 1e13 * 0.1 / 1.1  # hidden but for the slowdown
    assert step.step(lay, fast).context == pytest.approx(64 * hidden)
    assert step.step(attrs.evolve(lay, recompute="none"), fast).context == pytest.approx(64 * hidden * 3 / 4)
    # a ring of cp 4 over tp 4 spans 16 chips, two domains: its slowest hop crosses at 10 GB/s, though
    # each rank's neighbour (4 apart) shares its domain
    wide = layout.Layout(tp=4, pp=1, dp=1, cp=4)
    kv_wide = 2 * 2048 / 4 * 1024 * 2 / 4
    attention_wide = 6 * 8 * 2048 * 1024 * (2048 / 16) * (4 / 3) / 8 / (1e15 * 0.3 * 512 / 2560)
    crossing = 4 * 3 * kv_wide / 10e9
    assert crossing > attention_wide
    assert step.step(wide, JOB).context == pytest.approx(64 * 8 * (crossing - attention_wide))


def test_expert_all_to_all_less_its_overlap() -> None:
    moe = attrs.evolve(JOB, params=9.2e9, active_params=2.2e9, expert_params=8e9, experts=8, experts_per_token=2,
                       moe_layers=8)  # fmt: skip
    lay = layout.Layout(tp=1, pp=1, dp=16, ep=4)
    st = step.step(lay, moe)
    dispatch = 2048 * 2 * 1024 * 2  # tokens x top-k x hidden x 2 bytes
    a2a = (3 / 4) * dispatch / 100e9  # 4 ranks one apart, inside a domain
    micro = 64 // 16
    assert st.expert == pytest.approx(micro * 8 * 4 * a2a * (1 - 0.25))


def test_expert_dispatch_once_per_node_or_once_per_rank() -> None:
    # 16 ranks over 2 domains of 8 (UP 100 GB/s, OUT 10 GB/s), ep 16, top-2 of 8 experts
    lay = layout.Layout(tp=1, pp=1, dp=16, ep=8)
    rank = attrs.evolve(MOE, node_dispatch=False)
    dispatch = 2048 * 2 * 1024 * 2  # tokens x top-k x hidden x 2 bytes
    # ep 8 inside one domain: both dispatchers send 7/8 of the copies over UP
    inside = 7 / 8 * dispatch / 100e9
    micro = 64 // 16
    assert step.step(lay, MOE).expert == pytest.approx(micro * 8 * 4 * inside * 0.75)
    assert step.step(lay, rank).expert == pytest.approx(micro * 8 * 4 * inside * 0.75)
    wide = layout.Layout(tp=1, pp=1, dp=16, ep=8 * 2)  # ep 16 does not divide 8 experts: rules aside
    # per rank: 8/16 of the 2 copies cross OUT (1 hidden per token); per node: the other domain gets
    # a token with chance 1 - (1/2)^2 = 3/4, so 0.75 copies cross
    assert step.step(wide, rank).expert == pytest.approx(micro * 8 * 4 * (8 / 16 * dispatch / 10e9) * 0.75)
    assert step.step(wide, MOE).expert == pytest.approx(micro * 8 * 4 * (0.75 * dispatch / 2 / 10e9) * 0.75)
    # a run that does not overlap the all-to-all hides none of it (the constants' 0.25 aside)
    exposed = attrs.evolve(MOE, a2a_overlap=False)
    assert step.step(wide, exposed).expert == pytest.approx(micro * 8 * 4 * (0.75 * dispatch / 2 / 10e9))


def test_routed_copies_are_cast_to_8_bits_each() -> None:
    # top-2: the experts' up-projection input and down-projection output gradient are 2 copies of h,
    # one more than a dense MLP's: 4 bytes x 2 x (2 - 1) x 1,024 / tp 2 per token and layer
    plain = step.elementwise_bytes(layout.Layout(tp=2), JOB)[1]
    routed = step.elementwise_bytes(layout.Layout(tp=2), MOE)[1]
    assert routed - plain == pytest.approx(4 * 2 * 1 * 1024 / 2)
    half = attrs.evolve(MOE, moe_layers=4)  # half the layers routed
    assert step.elementwise_bytes(layout.Layout(tp=2), half)[1] - plain == pytest.approx(4 * 2 * 1024 / 2 / 2)


def test_each_precision_on_its_own_peak_never_slower_than_16_bit() -> None:
    fp8 = attrs.evolve(JOB, peak_matmul=2e15, low_precision=True)  # an 8-bit peak twice the 16-bit one
    share = 512 / (512 + 1024)
    assert step.step(BASE, fp8).matmul_share == pytest.approx(0.4 * share)  # of the 8-bit peak
    same = attrs.evolve(JOB, peak_matmul=1e15, low_precision=True)  # 8-bit at the 16-bit rate
    # 0.4 of the same peak would be slower than 16 bits: the 16-bit rate stands, without casts
    assert step.step(BASE, same).compute == pytest.approx(step.step(BASE, JOB).compute)
    assert step.step(BASE, fp8).compute < step.step(BASE, JOB).compute
    linear = 6 * 1.2e9 * 512 / (2e15 * 0.4 * share)
    attention = 6 * 8 * 2048 * 1024 * 512 * (4 / 3) / _attention_rate()
    # casts: 4 bytes x (4 h + 2 q + 2 kv + 3 f) / tp = 4 x 8,192 / 2 per token and layer, 2,048 tokens x 4 layers
    casts = 2048 * 4 * (4 * 8192 / 2) / 1e12
    assert step.step(BASE, fp8).compute == pytest.approx(16 * (linear + casts + attention + _memory_bound(BASE)))
    assert step.step(BASE, fp8).memory_bound == pytest.approx(16 * (casts + _memory_bound(BASE)))
    # an 8-bit peak 1.255x the 16-bit one: the matmuls alone would be faster at 8 bits (0.02203 s vs
    # 0.02212 s per micro-batch) but not with their casts (0.02216 s): the 16-bit path stands
    close = attrs.evolve(JOB, peak_matmul=1.255e15, low_precision=True)
    assert 6 * 1.2e9 * 512 / (1.255e15 * 0.4 * share) < 6 * 1.2e9 * 512 / (1e15 * 0.5 * share)
    assert step.step(BASE, close).compute == pytest.approx(step.step(BASE, JOB).compute)
    slightly = attrs.evolve(JOB, peak_matmul=1.26e15, low_precision=True)  # 0.02208 s with casts: 8 bits
    assert step.step(BASE, slightly).compute < step.step(BASE, JOB).compute


def test_narrow_matmuls_reach_less_of_peak() -> None:
    assert step.size_factor(layout.Layout(tp=1), JOB) == pytest.approx(1024 / 2048)
    assert step.size_factor(layout.Layout(tp=4), JOB) == pytest.approx(256 / 1280)
    # the token side counts too: cp 8 leaves 256 tokens per chip
    assert step.size_factor(layout.Layout(cp=8), JOB) == pytest.approx(256 / 1280)


def test_default_global_batch_grows_with_the_cluster() -> None:
    assert default_batch_tokens(1024) == 4 * 2**20
    assert default_batch_tokens(1025) == 8 * 2**20
    assert default_batch_tokens(4097) == 16 * 2**20


# ----------------------------------------------------------------------------- search


def test_the_array_search_and_the_scalar_loop_agree() -> None:
    fast = search.search(JOB, top=3)
    slow = search.search(JOB, top=3, use_numpy=False)
    assert fast.layouts == slow.layouts
    assert fast.step_s == pytest.approx(slow.step_s)
    assert fast.refused == slow.refused and fast.evaluated == slow.evaluated
    best = fast.layouts[0]
    assert step.step(best, JOB).total == pytest.approx(fast.step_s[0])
    layout.check(best, JOB)  # the search keeps only layouts the estimate accepts
    assert fast.step_s[0] <= fast.step_s[1] <= fast.step_s[2]


def test_fixed_keys_pin_the_search() -> None:
    found = search.search(JOB, {"tp": 2, "pp": 2})
    assert all((lay.tp, lay.pp) == (2, 2) for lay in found.layouts)
    assert found.step_s[0] <= step.step(BASE, JOB).total  # BASE is among the candidates


def test_nothing_fits_says_why() -> None:
    tiny = attrs.evolve(JOB, memory_bytes=1e6)
    found = search.search(tiny)
    assert not found.layouts and list(found.refused)[-1] == "memory"


def test_a_link_is_needed_beyond_one_chip() -> None:
    from hwprof.data import registry
    from hwprof.perf.train import job

    reg = registry.build(registry.Settings(profile_dirs=()))
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    with pytest.raises(HwprofError, match="native link joins 8"):
        job.job_for(work, cluster_for(chip, 16, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)
    bare = job.job_for(work, cluster_for(chip, 8, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)
    assert [t.link.name for t in bare.tiers] == ["nvlink4"] and bare.domain == 8
    with pytest.raises(HwprofError, match="no scale-out tier"):
        nowhere = attrs.evolve(reg.system("p5.48xlarge"), tiers=reg.system("p5.48xlarge").tiers[:1])
        job.job_for(work, cluster_for(chip, 16, nowhere, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)


def test_layout_details_a_mutant_would_change() -> None:
    lay = layout.parse("tp=2,,pp=4,cp=2", chips=64)  # an empty part is skipped, not the end
    assert (lay.tp, lay.pp, lay.cp, lay.dp) == (2, 4, 2, 4)  # dp = 64 / (2 x 4 x 2)
    assert lay.chips == 2 * 4 * 4 * 2
    assert layout.Layout().dp == 1 and layout.Layout().uneven == 0
    assert str(layout.Layout(pp=3, uneven=1)).endswith(",uneven=1") and "uneven" not in str(layout.Layout())
    assert layout.parse("uneven=1,pp=2", chips=2).uneven == 1
    with pytest.raises(layout.LayoutError, match=r"not key=value"):
        layout.parse("tp=", chips=8)
    with pytest.raises(layout.LayoutError) as caught:
        layout.parse("tp=2,pp=2,cp=2", chips=12)
    facts(str(caught.value), "dp is not given", "12 chips", "divide", "tp x pp x cp = 8")
    with pytest.raises(layout.LayoutError, match=r"dp is not given and the chip count does not divide"):
        layout.parse("tp=2")


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("tp=2,tp=2", ("tp", "twice")),
        ("recompute=HALF", ("recompute=half", "none, selective or full")),
        ("tp=two", ("tp=two", "whole number")),
        ("tq=2", ("'tq'", "tp, pp, dp, cp, ep, vpp, mb, zero, sp, uneven, grads, etp, recompute")),
        ("tp=4,etp=2", ("etp=2", "1 or tp (4)")),
        ("etp=2", ("etp=2", "1 or tp (1)")),
        ("zero=4", ("zero=4", "0, 1, 2 or 3")),
        ("sp=2", ("sp=2", "0 or 1")),
        ("uneven=2", ("uneven=2", "0 or 1")),
        ("tp", ("'tp'", "key=value", "tp=8,pp=4")),
        *[(f"{key}=0", (f"{key} ", "at least 1", "got 0")) for key in ("tp", "pp", "dp", "cp", "ep", "vpp", "mb")],
    ],
)
def test_each_syntax_refusal_states_its_facts(text: str, wanted: tuple[str, ...]) -> None:
    with pytest.raises(layout.LayoutError) as caught:
        layout.given(text)
    assert caught.value.rule == "syntax"
    facts(str(caught.value), "(syntax)", *wanted)


def test_every_allowed_value_is_accepted() -> None:
    for zero in (0, 1, 2, 3):
        assert layout.parse(f"zero={zero}", chips=1).zero == zero
    for flag in ("sp", "uneven"):
        for value in (0, 1):
            assert getattr(layout.parse(f"{flag}={value}", chips=1), flag) == value
    for recompute in ("none", "selective", "full"):
        assert layout.parse(f"recompute={recompute}", chips=1).recompute == recompute


def test_virtual_stages_multiply_the_stages() -> None:
    six = attrs.evolve(JOB, layers=6, chips=2, batch_seqs=4)
    layout.check(layout.Layout(pp=2, dp=1), six, memory_too=False)  # 6 layers over 2 stages
    with pytest.raises(layout.LayoutError, match=r"\(layers\).*6 layers, pp=2 x vpp=2"):
        layout.check(layout.Layout(pp=2, dp=1, vpp=2), six, memory_too=False)  # 2 x 2 = 4 does not divide 6
    layout.check(layout.Layout(pp=2, dp=1, vpp=3), six, memory_too=False)  # 2 x 3 = 6 does
    # 4 sequences, dp 1 x mb 1: 4 micro-batches, a multiple of pp 2
    assert memory.in_flight(layout.Layout(pp=2, dp=1, vpp=3), six) == pytest.approx(3 * 2 * (1 + 1 / 6))


MOE = attrs.evolve(JOB, experts=8, experts_per_token=2, expert_params=8e9, params=9.2e9, active_params=2.2e9,
                   moe_layers=8)  # fmt: skip


@pytest.mark.parametrize(
    ("job", "lay", "rule", "wanted"),
    [
        (JOB, layout.Layout(tp=2, pp=2, dp=2), "chips", ("tp x pp x dp x cp", "2 x 2 x 2 x 1 = 8", "16")),
        (attrs.evolve(JOB, heads=6), layout.Layout(tp=4, dp=4), "heads", ("attention heads", "6 heads", "tp=4")),
        (attrs.evolve(JOB, heads=32), layout.Layout(tp=16, dp=1), "domain", ("scale-up domain", "tp=16", "8 chips")),
        (attrs.evolve(JOB, domain=12), layout.Layout(tp=8, dp=2), "domain", ("scale-up domain", "tp=8", "12 chips")),
        (JOB, layout.Layout(pp=16, dp=1, uneven=1), "layers", ("uneven=1", "8 layers", "pp=16 x vpp=1")),
        (JOB, layout.Layout(tp=2, dp=8, vpp=2), "interleave",
         ("pp > 1", "multiple of pp", "pp=1", "8 micro-batches")),
        (JOB, layout.Layout(dp=16, mb=3), "batch", ("global batch", "64 sequences", "dp=16 x mb=3")),
        (attrs.evolve(JOB, seq_len=2050), layout.Layout(cp=4, dp=4), "context", ("2 x cp", "sequence 2050", "cp=4")),
        (MOE, layout.Layout(dp=16, ep=3), "experts",
         ("8 experts", "etp=tp", "ep=3, etp=1", "tp x dp x cp / etp = 16")),
        (MOE, layout.Layout(dp=16, ep=16), "experts",
         ("8 experts", "etp=tp", "ep=16, etp=1", "tp x dp x cp / etp = 16")),
        (MOE, layout.Layout(tp=8, dp=2, ep=4), "experts",
         ("8 experts", "etp=tp", "ep=4, etp=8", "tp x dp x cp / etp = 2")),
        (MOE, layout.Layout(tp=2, pp=4, dp=2, ep=8, etp=1), "experts",
         ("8 experts", "etp=tp", "ep=8, etp=1", "tp x dp x cp / etp = 4")),
        (JOB, layout.Layout(dp=8, ep=2), "experts", ("ep=2", "toy has no experts")),
    ],
)  # fmt: skip
def test_each_rule_refusal_states_its_facts(job: Job, lay: layout.Layout, rule: str, wanted: tuple[str, ...]) -> None:
    with pytest.raises(layout.LayoutError) as caught:
        layout.check(lay, job, memory_too=False)
    assert caught.value.rule == rule
    facts(str(caught.value), f"({rule})", *wanted)


def test_the_edges_each_rule_still_accepts() -> None:
    layout.check(layout.Layout(dp=16, mb=4), JOB, memory_too=False)  # 64 = 16 x 4: one micro-batch each
    layout.check(layout.Layout(dp=16), attrs.evolve(JOB, seq_len=2049), memory_too=False)  # no cp: any length
    layout.check(layout.Layout(dp=16, ep=8), MOE, memory_too=False)
    layout.check(layout.Layout(dp=16, ep=2), MOE, memory_too=False)
    layout.check(layout.Layout(tp=8, dp=2), JOB, memory_too=False)  # the whole 8-chip domain
    layout.check(layout.Layout(pp=8, dp=2, uneven=1), JOB, memory_too=False)
    facts(layout.RULE_TEXT["memory"], "weights", "gradients", "optimizer state", "activations", "usable memory")


def test_memory_refusal_states_its_figures_and_the_split_of_experts() -> None:
    small = attrs.evolve(JOB, memory_bytes=1e9)
    with pytest.raises(layout.LayoutError) as caught:
        layout.check(BASE, small)
    # 0.6 + 1.2 (32-bit gradients) + 0.9 GB of state + 8 x 16.8 MB of activations = 2.64 GiB; 0.9 x 1 GB = 0.8 GiB
    facts(str(caught.value), "(memory)", "2.6 GiB per chip", "activations 0.1", "0.8 usable", "recompute=full",
          "more pp or tp", "zero=3")  # fmt: skip
    layout.check(BASE, small, memory_too=False)
    dense, expert = memory.params_per_chip(layout.Layout(tp=2, pp=2, dp=2, ep=2), MOE)
    assert (dense, expert) == pytest.approx((1.2e9 / 4, 8e9 / 8))
    two = layout.Layout(tp=2, pp=2, dp=4, mb=2)
    assert memory.activation_per_layer(two, JOB) == pytest.approx(2048 * 2 * (8 * 1024 + 8 * 1024 + 32) / 2)


@pytest.mark.parametrize(
    ("zero", "recompute", "sp", "weights", "gradients", "optimizer", "activations"),
    [
        # tp 2, pp 2, dp 2, cp 2, ep 2, mb 2 on the mixture of experts: 3e8 dense and 1e9 expert
        # parameters per chip; ZeRO shards dense over dp x cp = 4, experts over 4 / ep = 2.
        # s = 1,024 tokens per rank x mb 2 = 2,048 tokens per micro-batch; per token 8h = 8,192 bytes outside
        # the tp region, 4q + 4kv + 4 x 8 heads + 2 x top-2 x h (each token's routed copies) = 12,320 inside;
        # 16 micro-batches: the first stage holds 4 layers x 2, the last 4 x 1 plus the logits,
        # 4 x 1,024 x 2 x 1,000 / 2 = 4,096,000; full recompute adds one layer's kept bytes (working).
        (3, "full", 1, 2 * (3e8 / 4 + 1e9 / 2) + 2 * 2 * 1.3e9 / 4, 4 * 5.75e8, 12 * 5.75e8,
         8 * 2048 * 2 * 1024 / 2 + 2048 * (8192 + 12320) / 2),
        (0, "none", 0, 2 * 1.3e9, 4 * 1.3e9, 12 * 1.3e9, 8 * 2048 * (8192 + 12320 / 2)),
        (2, "full", 0, 2 * 1.3e9, 4 * 5.75e8, 12 * 5.75e8, 8 * 2048 * 2 * 1024 + 2048 * (8192 + 12320 / 2)),
        (1, "selective", 1, 2 * 1.3e9, 4 * 1.3e9, 12 * 5.75e8, 8 * 2048 * (8192 + 12320) / 2),
    ],
)  # fmt: skip
def test_memory_with_every_degree_above_one(zero: int, recompute: str, sp: int, weights: float, gradients: float,
                                            optimizer: float, activations: float) -> None:  # fmt: skip
    job = attrs.evolve(MOE, vocab=1000)
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, mb=2, zero=zero, recompute=recompute, sp=sp)
    m = memory.memory(lay, job)
    assert (m.weights, m.gradients, m.optimizer, m.activations) == pytest.approx(
        (weights, gradients, optimizer, activations))  # fmt: skip


def test_fewer_micro_batches_than_stages_are_all_in_flight() -> None:
    few = attrs.evolve(JOB, batch_seqs=4)
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, mb=2)  # 4 / (2 x 2) = 1 micro-batch per pipeline
    assert memory.in_flight(lay, few) == 4 * 1


def test_a_step_with_every_degree_above_one_by_hand() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, mb=2)
    st = step.step(lay, MOE)
    micro = 64 // (2 * 2)  # 16 micro-batches of 2 sequences
    per_chip = 2 * 2048 * 0.5 / (2 * 2)  # tokens x half the layers / (tp x cp) = 512
    rate = 1e15 * 0.5 * 512 / (512 + 1024)  # narrowest side: hidden / tp = 512 (tokens / cp = 2,048)
    attention = 6 * 8 * 2048 * 1024 * per_chip * 4 / 3 / _attention_rate(cp=2)  # chunks of 1,024 tokens
    compute = 6 * 2.2e9 * per_chip / rate + attention + _memory_bound(lay, top_k=2)
    hidden_bytes = 4096 / 2 * 1024 * 2
    tensor = 4 * 4 * (2 * (1 / 2) * hidden_bytes / 100e9)
    assert tensor < 6 * 2.2e9 * per_chip / rate  # beside longer matmuls (sequence parallel): their slowdown shows
    tensor = tensor * 0.1 / 1.1
    dispatch = 4096 / (2 * 2) * 2 * 1024 * 2  # tokens / (cp x tp) x top-2 x hidden x 2 bytes
    expert = 8 * 0.5 * 4 * ((1 / 2) * dispatch / 100e9) * (1 - 0.25)
    kv_chunk = 2 * 4096 / 2 * (8 * 128) * 2 / 2
    ring = 4 * 1 * kv_chunk / 100e9  # 4 passes (selective recompute reruns one); neighbours tp = 2 apart: a domain
    attention_per_layer = attention / 4
    context = 4 * max(ring - attention_per_layer, ring * 0.1 / 1.1)
    assert context == pytest.approx(4 * ring * 0.1 / 1.1)  # hidden behind attention but for its slowdown
    per_mb = compute + tensor + expert + context
    assert (st.compute, st.tensor, st.expert, st.context) == pytest.approx(
        (micro * compute, micro * tensor, micro * expert, micro * context))  # fmt: skip
    assert st.bubble == pytest.approx(per_mb)
    assert st.pipeline == pytest.approx(2 * micro * (hidden_bytes / 2) / 10e9)  # stages 8 apart: across
    dense, routed = 1.2e9 / 4, 8e9 / 8
    scatter = (3 / 4) * 2 * dense / 100e9 + (1 / 2) * 2 * routed / 100e9  # dense over 4 ranks, experts over 2
    assert st.data == pytest.approx(2 * scatter)  # pp 2 without interleaving: one chunk, all of it exposed
    assert st.optimizer == pytest.approx(30 * (dense / 4 + routed / 2) / 1e12)
    assert st.total == pytest.approx(st.compute + st.tensor + st.expert + st.context + st.pipeline + st.bubble
                                     + st.data + st.optimizer)  # fmt: skip
    assert st.micro_batches == micro


def test_zero_0_sp_0_and_one_stage_by_hand() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, mb=2, zero=0, sp=0)
    st = step.step(lay, MOE)
    assert st.optimizer == pytest.approx(30 * (1.2e9 / 4 + 8e9 / 8) / 1e12)  # nothing sharded, at 1 TB/s
    assert st.pipeline == pytest.approx(2 * 16 * (4096 / 2 * 1024 * 2) / 10e9)  # whole activations without SP
    one = step.step(layout.Layout(tp=2, pp=1, dp=4, cp=2, ep=2, mb=2), MOE)
    assert (one.pipeline, one.bubble) == (0, 0)
    # ep 4 of dp x cp 8: experts reduce over 8 / 4 = 2 ranks, 8 apart (tp x ep): across domains
    wide = step.step(layout.Layout(tp=2, pp=1, dp=4, cp=2, ep=4, mb=2, zero=1), MOE)
    dense, routed = 1.2e9 / 2, 8e9 / 8
    scatter = (3 / 4) * 2 * dense / 100e9 + (1 / 2) * (2 * dense / 4) / 10e9 + (1 / 2) * 2 * routed / 10e9
    tokens = 2 * 2048 / (2 * 2)
    compute = (6 * 2.2e9 * tokens / (1e15 * 0.5 * 512 / 1536) + 6 * 8 * 2048 * 1024 * tokens * 4 / 3
               / _attention_rate(cp=2) + _memory_bound(layout.Layout(tp=2, cp=2, mb=2), layers=8, top_k=2))  # fmt: skip
    # one stage of 8 layers: the last one-layer chunk of each exposed, the rest hidden or outlasting
    assert wide.data == pytest.approx(_hide(scatter, compute * 2 / 3, 1 / 8) + _hide(scatter, compute / 3, 1 / 8))
    assert wide.optimizer == pytest.approx(30 * (dense / 8 + routed / 2) / 1e12)


def test_job_from_records_by_hand() -> None:
    from hwprof.data import registry
    from hwprof.perf.train import job

    reg = registry.build(registry.Settings(profile_dirs=()))
    ultra = reg.system("trn2-ultraserver")
    chip = reg.chip("trainium2")
    work = reg.workload("llama3.1-70b")
    j = job.job_for(work, cluster_for(chip, 64, ultra, reg.interconnects), reg.interconnects, "fp8", CONSTANTS, 8192)
    # Trainium2 runs 4 ranks per chip (LNC=2): 256 ranks, each a quarter of a chip
    assert (j.ranks_per_chip, j.domain, j.chips, j.seq_len, j.batch_seqs) == (4, 256, 256, 8192, 4 * 2**20 // 8192)
    assert (j.peak_matmul, j.peak_16bit, j.low_precision) == (1299e12 / 4, 667e12 / 4, True)
    assert (j.memory_bytes, j.memory_bw) == (24 * 2**30, 2.9e12 / 4)
    assert (j.heads, j.kv_heads, j.head_dim, j.layers, j.hidden, j.vocab) == (64, 8, 128, 80, 8192, 128256)
    assert [t.domain for t in j.tiers] == [64, 256, 256]
    # each rank gets a quarter of its chip's links: NeuronLink 1,024 GB/s in the instance, 256 across
    assert [t.link.gb_s_per_direction for t in j.tiers[:2]] == pytest.approx(
        [ultra_link.per_direction_gb_s / 4 for ultra_link in
         (reg.interconnects[t.interconnect] for t in ultra.tiers[:2])])  # fmt: skip
    one = job.job_for(
        work,
        cluster_for(chip, 64, ultra, reg.interconnects),
        reg.interconnects,
        "fp8",
        CONSTANTS,
        8192,
        recipe=job.Recipe(ranks_per_chip=1),
    )
    assert (one.chips, one.domain, one.memory_bytes) == (64, 64, 96 * 2**30)  # a published run at 1 rank per chip
    assert (
        job.job_for(
            work,
            cluster_for(reg.chip("trainium1"), 16, reg.system("trn1.32xlarge"), reg.interconnects),
            reg.interconnects,
            "bf16",
            CONSTANTS,
            8192,
        ).chips
        == 32
    )
    assert (
        job.job_for(
            work, cluster_for(chip, 64, ultra, reg.interconnects), reg.interconnects, "bf16", CONSTANTS, 8192, 96
        ).batch_seqs
        == 96
    )
    assert not job.job_for(
        work,
        cluster_for(chip, 16, reg.system("trn2.48xlarge"), reg.interconnects),
        reg.interconnects,
        "bf16",
        CONSTANTS,
    ).low_precision
    assert {"fp8", "mxfp8", "int8", "fp6", "mxfp6", "fp4", "mxfp4", "nvfp4", "int4"} == job.LOW_PRECISIONS
    assert default_batch_tokens(4096) == 8 * 2**20
    moe = reg.workload("deepseek-v3")
    d = job.job_for(
        moe,
        cluster_for(reg.chip("h100-sxm"), 64, reg.system("p5.48xlarge"), reg.interconnects),
        reg.interconnects,
        "fp8",
        CONSTANTS,
    )
    routed = (moe.params - moe.active) * 256 / (256 - 8)  # all experts, from total and active
    assert (d.experts, d.experts_per_token, d.moe_layers) == (256, 8, moe.layers)
    assert d.expert_params == pytest.approx(routed)
    assert d.dense_params == pytest.approx(moe.params - routed)


@pytest.mark.parametrize(
    ("chips", "system", "chip", "model", "precision", "message"),
    [
        (0, "p5.48xlarge", "h100-sxm", "llama3.1-8b", "bf16", "the chip count must be at least 1, got 0"),
        (16, "", "h100-sxm", "llama3.1-8b", "bf16",
         "16 x h100-sxm given as bare chips: its native link joins 8; name a system for more"),
        (8, "p5.48xlarge", "h100-sxm", "llama3.1-8b", "fp4", "h100-sxm has no dense fp4 peak; it has fp8, int8, bf16, fp16, tf32, fp32, fp64"),
    ],
)  # fmt: skip
def test_job_refusals_word_for_word(chips: int, system: str, chip: str, model: str, precision: str,
                                    message: str) -> None:  # fmt: skip
    from hwprof.data import registry
    from hwprof.perf.train import job

    reg = registry.build(registry.Settings(profile_dirs=()))
    work = reg.workload(model)
    with pytest.raises(HwprofError) as caught:
        job.job_for(
            work,
            cluster_for(reg.chip(chip), chips, reg.system(system) if system else None, reg.interconnects),
            reg.interconnects,
            precision,
            CONSTANTS,
        )
    assert str(caught.value) == message


def test_a_job_needs_a_shape_and_a_way_out() -> None:
    from hwprof.data import registry
    from hwprof.perf.train import job

    reg = registry.build(registry.Settings(profile_dirs=()))
    bare = records.Workload.given(1e9, id="x", active_params=1e9, layers=4)
    with pytest.raises(HwprofError) as caught:
        job.job_for(
            bare, cluster_for(reg.chip("h100-sxm"), 8, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
        )
    facts(str(caught.value), "shape", "x lacks hidden, heads, sequence length")
    p5 = reg.system("p5.48xlarge")
    inside = attrs.evolve(p5, tiers=p5.tiers[:1])
    work = reg.workload("llama3.1-8b")
    with pytest.raises(HwprofError) as caught:
        job.job_for(
            work, cluster_for(reg.chip("h100-sxm"), 16, inside, reg.interconnects), reg.interconnects, "bf16", CONSTANTS
        )
    facts(str(caught.value), "p5.48xlarge", "no scale-out tier", "16 chips", "at most 8")
    loner = attrs.evolve(reg.chip("h100-sxm"), scale_up="")
    with pytest.raises(HwprofError) as caught:
        job.job_for(work, cluster_for(loner, 2, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)
    facts(str(caught.value), "2 x h100-sxm", "bare chips", "no native scale-up link", "name a system")
    one = job.job_for(work, cluster_for(loner, 1, None, reg.interconnects), reg.interconnects, "bf16", CONSTANTS)
    assert one.tiers == () and one.domain == 1


# ----------------------------------------------------------------------------- memory-bound work


def test_memory_bound_bytes_per_token_by_hand() -> None:
    # Llama-style layer: h 4,096, q 4,096, kv 1,024, gated MLP width 14,336, vocabulary 128,256
    job = attrs.evolve(JOB, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336.0, vocab=128256)
    one = layout.Layout(tp=1)
    per_layer, casts, loss = step.elementwise_bytes(one, job)
    # norms and residual adds 22 h, rotary 4 (q + kv), activation 8 f; 2 bytes each
    assert per_layer == 2 * (22 * 4096 + 4 * (4096 + 1024) + 8 * 14336) == 450_560
    # 8-bit casts: 4 bytes x (4 h + 2 q + 2 kv + 3 f)
    assert casts == 4 * (4 * 4096 + 2 * 4096 + 2 * 1024 + 3 * 14336) == 278_528
    assert loss == 20 * 128256
    # tp 4 with sequence parallel splits all of it; without, norms and residual adds stay whole
    assert step.elementwise_bytes(layout.Layout(tp=4), job)[0] == pytest.approx(450_560 / 4)
    no_sp = step.elementwise_bytes(layout.Layout(tp=4, sp=0), job)[0]
    assert no_sp == pytest.approx(2 * 22 * 4096 + 2 * (4 * 5120 + 8 * 14336) / 4)
    # full recompute repeats the forward: 10 h, 2 (q + kv), 3 f more
    full = step.elementwise_bytes(layout.Layout(recompute="full"), job)[0]
    assert full == 2 * (32 * 4096 + 6 * 5120 + 11 * 14336)
    # in a step: 8,192 tokens x (32 layers x 450,560 + loss) at 0.5 x 2 TB/s, one micro-batch
    big = attrs.evolve(job, layers=32, seq_len=8192, batch_seqs=1, chips=1)
    st = step.step(layout.Layout(tp=1, dp=1), big)
    assert st.memory_bound == pytest.approx(8192 * (32 * 450_560 + 20 * 128256) / 1e12)
    # an 8-bit peak 4x the 16-bit one, so 8 bits win even with their casts (0.046 + 0.073 s against 0.147 s)
    fp8 = step.step(layout.Layout(tp=1, dp=1), attrs.evolve(big, peak_matmul=4e15, low_precision=True))
    assert fp8.memory_bound == pytest.approx(8192 * (32 * (450_560 + 278_528) + 20 * 128256) / 1e12)


def test_mlp_width_from_the_parameter_count() -> None:
    from hwprof.perf.train.job import ffn_width

    # Llama 3.1 8B: 8.03B parameters, 32 layers, h 4,096, q 4,096, kv 1,024, vocabulary 128,256:
    # (8.03e9 - 2 x 128,256 x 4,096) / 32 - 4,096 x (2 x 4,096 + 2 x 1,024) = 176.2M per layer's MLP,
    # over 3 x 4,096: 14,337 (the published intermediate size is 14,336)
    assert ffn_width(8.03e9, 32, 4096, 4096, 1024, 128256) == pytest.approx(14337, abs=2)
    assert ffn_width(1e6, 32, 4096, 4096, 1024, 128256) == 0.0  # never negative


def test_attention_share_from_the_kernel_measurements() -> None:
    from hwprof.perf import efficiency as eff

    # forward / backward TFLOPS of the fused kernel at 512 and 8K tokens; backward counted 2.5x forward
    at_512 = 6 / (2 / 497 + 5 / 305) / 989
    at_8k = 6 / (2 / 600 + 5 / 518) / 989
    assert (at_512, at_8k) == pytest.approx((0.297, 0.467), abs=0.001)
    a, n = eff.ATTENTION_16BIT.value, eff.ATTENTION_HALF_LENGTH.value
    assert a * 512 / (512 + n) == pytest.approx(at_512, rel=0.04)
    assert a * 8192 / (8192 + n) == pytest.approx(at_8k, rel=0.01)


# ----------------------------------------------------------------------------- ranks per chip


def test_a_chips_matmul_width_counts_its_ranks_shards() -> None:
    two = attrs.evolve(JOB, ranks_per_chip=2)
    # hidden 1,024: a chip's 2 ranks hold neighbouring tensor-parallel shards, so its matmuls span
    # hidden x min(2, tp) / tp; with tp 1 each rank is a whole replica (width 1,024, not 2,048)
    assert [step.chip_width(layout.Layout(tp=t), two) for t in (1, 2, 8)] == [1024, 1024, 256]
    assert step.chip_width(layout.Layout(tp=8), JOB) == 128
    assert step.size_factor(layout.Layout(tp=8), two) == pytest.approx(256 / (256 + 1024))


def test_a_chip_of_two_ranks_reports_memory_and_utilisation_per_chip() -> None:
    from hwprof.data import registry
    from hwprof.perf import cluster
    from hwprof.perf.train import training

    reg = registry.build(registry.Settings(profile_dirs=()))
    s = reg.system("trn1.32xlarge")
    target = cluster.cluster_for(reg.chip("trainium1"), 512, s, reg.interconnects)
    result = training.estimate_train(
        training.TrainRequest(reg.workload("llama3.1-70b"), target, 1e12, "bf16", global_batch_seqs=1024),
        reg.interconnects,
        "tp=32,pp=8,dp=4",
    )
    assert result.inputs.ranks_per_chip == 2 and result.inputs.chips == 512
    job = training.make_job(
        training.TrainRequest(reg.workload("llama3.1-70b"), target, 1e12, "bf16", global_batch_seqs=1024),
        reg.interconnects,
    )
    lay = layout.parse("tp=32,pp=8,dp=4", 1024)
    per_rank = memory.memory(lay, job)
    mem = result.memory
    assert mem is not None
    assert mem.total_bytes_per_chip == pytest.approx(2 * per_rank.total)
    assert mem.usable_bytes_per_chip == pytest.approx(0.9 * 32 * 2**30)  # the whole chip's, 2 x 16 GiB x 0.9
    # MFU over the chips' peaks: FLOPs / (time x 512 x 190 TFLOPS)
    flops = 1e12 * (6 * 70.6e9 + 6 * 80 * 8192 * 8192)
    assert result.mfu.expected == pytest.approx(flops / (result.time_s.expected * 512 * 190e12), rel=0.01)
    assert any("2 per chip" in n for n in result.notes)


def test_routed_tokens_pay_for_their_permutation() -> None:
    # every layer routed, top-2 of 8: permute and unpermute, forward and backward: 4 x (2 + 1) x h
    # elements of 2 bytes, / tp
    plain = step.elementwise_bytes(layout.Layout(tp=2), JOB)[0]
    routed = step.elementwise_bytes(layout.Layout(tp=2), MOE)[0]
    assert routed - plain == pytest.approx(8 * 3 * 1024 / 2)
    half = attrs.evolve(MOE, moe_layers=4)  # half the layers routed
    assert step.elementwise_bytes(layout.Layout(tp=2), half)[0] - plain == pytest.approx(8 * 3 * 1024 / 2 / 2)


def test_a_routed_expert_narrower_than_the_hidden_width_runs_at_its_own_width() -> None:
    # 8 experts of MLP width 128 (8 layers x 8 experts x 3 x 1,024 x 128 parameters), top-2
    routed = 8 * 8 * 3 * 1024 * 128
    narrow = attrs.evolve(MOE, expert_params=routed, params=1.2e9 + routed, active_params=1.2e9 + routed * 2 / 8)
    assert narrow.expert_ffn == pytest.approx(128)
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, mb=2)
    per_chip = 2 * 2048 * 0.5 / (2 * 2)  # 512 tokens per chip per micro-batch
    size = 512 / (512 + 1024)  # the dense matmuls: hidden / tp = 512
    rate = 1e15 * 0.5 * size
    # rows per expert: 2,048 tokens x top-2 x ep 2 / 8 = 1,024, but an expert's width on a chip is
    # 128 / tp = 64, so its matmuls run at 64 / (64 + 1,024) of the large-matmul share
    expert_size = 64 / (64 + 1024)
    dense_part = 6 * narrow.active_params * per_chip / rate
    expert_extra = 6 * (routed * 2 / 8) * per_chip / rate * (size / expert_size - 1)
    attention = 6 * 8 * 2048 * 1024 * per_chip * 4 / 3 / _attention_rate(cp=2)
    compute = dense_part + expert_extra + attention + _memory_bound(lay, top_k=2)
    st = step.step(lay, narrow)
    assert st.compute == pytest.approx(16 * compute)
    # the same experts as wide as the hidden width: no extra (rows 1,024 and width 512 both >= 512)
    assert step.step(lay, MOE).compute == pytest.approx(
        16 * (6 * 2.2e9 * per_chip / rate + attention + _memory_bound(lay, top_k=2))
    )
