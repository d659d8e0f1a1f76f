"""Step time in the corners mutation testing found unchecked: a chip's software factor on every
compute rate, per-micro-batch bytes with context parallel and micro-batches of two sequences, the
loss's bytes over tensor parallel, whole micro-batches, and the bubble as the sum of a micro-batch's
parts. The toy job of tests/test_perf_model.py; hand arithmetic here.

A step's total is the sum of its named parts (``step.Step.total``), for layouts that exercise every
part: experts (all-to-all), context parallel (ring), pipeline (sends and bubble), data parallel and
ZeRO-3 gathers. The parts come from the model; only the bookkeeping is checked here.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.perf import comm
from hwprof.perf.train import layout, step
from tests.perf.test_perf_model import BASE, JOB
from tests.perf.train.test_search import JOB as SEARCH_JOB
from tests.perf.train.test_search import MOE


def _matmul_and_attention(lay: layout.Layout, job: object) -> float:
    st = step.step(lay, job)
    return float(st.compute - st.memory_bound)


@pytest.mark.parametrize("fused", [True, False])
def test_a_software_factor_of_a_half_doubles_every_compute_kernel_but_not_memory_traffic(fused: bool) -> None:
    job = attrs.evolve(JOB, fused_attention=fused)
    slow = attrs.evolve(job, software=0.5)
    assert step.step(BASE, slow).memory_bound == pytest.approx(step.step(BASE, job).memory_bound)
    # unfused attention also moves its scores through memory (not a kernel rate): that time stays
    micro, layers, bandwidth = 64 // 4, 4, 2e12 * 0.5
    scores = 0.0 if fused else micro * step.score_bytes(BASE, job) * layers / bandwidth
    kernels = _matmul_and_attention(BASE, job) - scores
    assert _matmul_and_attention(BASE, slow) == pytest.approx(2 * kernels + scores)


def test_a_software_factor_slows_eight_bit_matmuls_too() -> None:
    # 8-bit peak 4x the 16-bit one: 8 bits win either way, so the same kernels run at half the rate
    eight = attrs.evolve(JOB, low_precision=True, peak_matmul=4e15)
    slow = attrs.evolve(eight, software=0.5)
    assert _matmul_and_attention(BASE, slow) == pytest.approx(2 * _matmul_and_attention(BASE, eight))
    assert step.step(BASE, eight).matmul_share == pytest.approx(2 * step.step(BASE, slow).matmul_share)


def test_the_loss_moves_20_bytes_per_vocabulary_entry_over_tensor_parallel() -> None:
    worded = attrs.evolve(JOB, vocab=32000)
    assert step.elementwise_bytes(BASE, worded)[2] == 20 * 32000 / 2


def test_unfused_scores_count_every_sequence_of_the_micro_batch() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, mb=2, recompute="none")
    # 8 / 2 heads x 2 sequences x 1,024 query tokens x 2,048 keys, 2 bytes, 11 passes without recompute
    assert step.score_bytes(lay, JOB) == 4 * 2 * 1024 * 2048 * 2 * 11


def test_eight_bit_casts_per_micro_batch_count_the_ranks_chunk() -> None:
    # memory-bound time per micro-batch: tokens / cp x (layers x per-layer bytes + loss + layers x casts) / bandwidth
    eight = attrs.evolve(JOB, low_precision=True, peak_matmul=4e15)
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2)
    per_layer, casts, loss = step.elementwise_bytes(lay, eight)
    st = step.step(lay, eight)
    bandwidth = 2e12 * 0.5
    per_mb = 2048 / 2 * (4 * per_layer + loss + 4 * casts) / bandwidth
    assert st.micro_batches == 64 // 2
    assert st.memory_bound == pytest.approx(st.micro_batches * per_mb)


def test_a_step_runs_whole_micro_batches() -> None:
    # 20 sequences over dp 2 x mb 3: 3 micro-batches of 3 (the 2 left over are not a micro-batch)
    job = attrs.evolve(JOB, batch_seqs=20)
    assert step.step(layout.Layout(tp=2, pp=2, dp=2, mb=3), job).micro_batches == 3


@pytest.mark.parametrize(
    "lay", [BASE, layout.Layout(tp=1, pp=2, dp=4, cp=2), layout.Layout(tp=2, pp=4, dp=1, cp=2, vpp=2)]
)
def test_the_bubble_is_pp_minus_1_over_vpp_micro_batches_of_every_part(lay: layout.Layout) -> None:
    # links of 0.1 GB/s: the ring outlasts attention, so the context-parallel part is not zero where cp = 2
    crawl = comm.Link("crawl", gb_s_per_direction=0.1, efficiency=1.0, latency_us=0.0)
    job = attrs.evolve(JOB, tiers=(comm.Tier(8, crawl), comm.Tier(16, crawl)))
    st = step.step(lay, job)
    per_mb = (st.compute + st.tensor + st.expert + st.context) / st.micro_batches
    assert st.bubble == pytest.approx((lay.pp - 1) / lay.vpp * per_mb)
    if lay.cp > 1:
        assert st.context > 0


@pytest.mark.parametrize(
    ("job", "lay"),
    [
        (SEARCH_JOB, layout.Layout(tp=2, pp=2, dp=4)),
        (SEARCH_JOB, layout.Layout(tp=2, pp=2, dp=2, cp=2, zero=3, vpp=2)),
        (MOE, layout.Layout(tp=2, pp=2, dp=4, ep=4, recompute="full")),
        (MOE, layout.Layout(tp=1, pp=2, dp=4, cp=2, ep=2, mb=2)),
    ],
)
def test_the_total_is_the_sum_of_the_parts(job: object, lay: layout.Layout) -> None:
    st = step.step(lay, job)
    parts = (st.compute, st.tensor, st.expert, st.context, st.pipeline, st.bubble, st.data, st.optimizer)
    assert all(p >= 0 for p in parts)
    assert st.total == pytest.approx(sum(parts), rel=1e-12)
    if job is MOE:
        assert st.expert > 0
    if lay.pp > 1:
        assert st.pipeline > 0 and st.bubble > 0


def test_every_part_moves_the_total() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, zero=3)
    st = step.step(lay, MOE)
    for name in ("compute", "tensor", "expert", "context", "pipeline", "bubble", "data", "optimizer"):
        bumped = attrs.evolve(st, **{name: getattr(st, name) + 1.0})
        assert bumped.total == pytest.approx(st.total + 1.0), name
