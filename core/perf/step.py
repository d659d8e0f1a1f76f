"""Step time of one training layout (or arrays of them): compute per pipeline stage, exposed
communication per tier, the pipeline bubble, the optimizer step.

Per micro-batch, the slowest stage (ceil(L/pp) layers when uneven) runs on each chip

    matmul FLOPs    6 x active params x tokens x (its layers / L) / (tp x cp)
    attention FLOPs 6 x L x s x heads x head_dim x tokens x (its layers / L) / (tp x cp)
    recompute       selective: + attention forward (1/3 of it); full: + the whole forward (1/3)

at an achieved rate per precision: the run's precision on its own peak x its share x the chip's
software factor (its profile's training_efficiency, 1 for the reference stacks) x the
matmul-size factor n / (n + n_half) with n = min(hidden / tp, micro-batch tokens / cp) (small
per-chip matmuls reach less of peak); attention stays at 16 bits. An 8-bit run is never slower than the 16-bit rate (a framework
would not choose a slower path). Then, per micro-batch:

    tensor parallel  4 all-reduce-sized collectives of tokens/cp x hidden x 2 bytes per layer
                     (+2 with full recompute), over the scale-up link if tp fits a domain
    experts         a routed expert's matmuls run at the size factor of its rows, micro-batch tokens x
                     top-k x ep / experts (small without expert parallel)
    expert parallel  4 all-to-alls per MoE layer of tokens/(cp x tp) x top-k x hidden x 2 bytes, less
                     the calibrated share hidden behind compute
    context parallel ring exchange of K and V, 3 (cp-1) chunks per layer, hidden behind attention
    pipeline         2 sends per micro-batch and virtual stage of tokens/cp x hidden x 2 (/tp with SP)

and per step: the bubble (pp-1)/vpp micro-batch times (1F1B, Narayanan et al. 2021), data-parallel
gradient reduce-scatter + weight all-gather (hierarchical: inside the scale-up domain, then across)
hidden behind one micro-batch's compute up to the calibrated overlap, ZeRO-3's weight gathers per
micro-batch, and the optimizer's 28 bytes per local parameter over memory bandwidth.
"""

from __future__ import annotations

from typing import Any

import attrs

from hwprof.core.perf import comm
from hwprof.core.perf.arith import SCALAR
from hwprof.core.perf.memory import GRAD_BYTES, WEIGHT_BYTES, params_per_chip

OPTIMIZER_BYTES_TOUCHED = 28  # Adam: read 32-bit master, m, v and 16-bit grad; write master, m, v and 16-bit weight


@attrs.frozen
class Step:
    """Seconds per step and its parts; floats for one layout, arrays in the search."""

    compute: Any  # all micro-batches' compute on the slowest stage, recompute included
    tensor: Any
    expert: Any
    context: Any
    pipeline: Any
    bubble: Any
    data: Any  # exposed data-parallel (and ZeRO-3) traffic
    optimizer: Any
    micro_batches: Any
    matmul_share: Any  # achieved share of the run precision's peak for the matmuls

    @property
    def total(self) -> Any:
        return (self.compute + self.tensor + self.expert + self.context + self.pipeline + self.bubble + self.data
                + self.optimizer)  # fmt: skip


def size_factor(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Share of a large matmul's rate that one chip's matmuls reach: their smaller side is the
    hidden width over tp, or the micro-batch's tokens over cp, whichever is narrower."""
    n = xp.minimum(job.hidden / lay.tp, lay.mb * job.seq_len / lay.cp)
    return n / (n + job.constants.half_width)


def step(lay: Any, job: Any, xp: Any = SCALAR) -> Step:
    c = job.constants
    tiers = job.tiers
    tp, pp, dp, cp, ep, vpp, mb = lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp, lay.mb
    code = lay.recompute_code
    micro = job.batch_seqs // (dp * mb)
    stage_layers = xp.ceil(job.layers / pp)  # the slowest stage when uneven
    share_of_model = stage_layers / job.layers
    tokens = mb * job.seq_len  # per micro-batch, over the cp ranks
    matmul_flops, attention_flops = job.flops_per_token()
    per_chip = tokens * share_of_model / (tp * cp)
    linear_hw = matmul_flops * per_chip * xp.where(code == 2, 4 / 3, 1.0)
    attention_hw = attention_flops * per_chip * xp.where(code >= 1, 4 / 3, 1.0)
    size = size_factor(lay, job, xp)
    rate16 = job.peak_16bit * c.matmul_16bit * size * job.software
    rate = job.peak_matmul * (c.matmul_8bit if job.low_precision else c.matmul_16bit) * size * job.software
    if job.low_precision:
        rate = xp.maximum(rate, rate16)
    compute_mb = linear_hw / rate + attention_hw / rate16
    if job.experts:
        # Routed experts' matmuls have as many rows as tokens reach one expert: the micro-batch's
        # tokens x top-k / experts, times ep (the all-to-all gathers them from the ep ranks). Without
        # expert parallel they are small matmuls, slow for their FLOPs: why runs use it.
        share = job.expert_params * job.experts_per_token / job.experts / job.active_params
        rows = tokens / cp * job.experts_per_token * ep / job.experts
        n = xp.minimum(rows, job.hidden / tp)
        expert_size = n / (n + c.half_width)
        compute_mb = compute_mb + share * linear_hw / rate * (size / expert_size - 1)

    hidden_bytes = tokens / cp * job.hidden * 2
    per_layer = xp.where(code == 2, 6, 4)
    tensor_mb = stage_layers * per_layer * comm.tiered_all_reduce(hidden_bytes, tp, 1, tiers, xp)

    expert_mb: Any = 0.0
    if job.experts:
        dispatch = tokens / (cp * tp) * job.experts_per_token * job.hidden * 2
        a2a = comm.tiered_all_to_all(dispatch, ep, tp, tiers, xp)
        expert_mb = job.moe_layers * share_of_model * per_layer * a2a * (1 - c.expert_overlap)

    kv_chunk = 2 * tokens / cp * job.kv_width * 2 / tp
    ring = xp.where(cp > 1, 3 * (cp - 1) * comm.tiered_p2p(kv_chunk, tp, tiers, xp), 0.0)
    attention_per_layer = attention_hw / rate16 / stage_layers
    context_mb = stage_layers * xp.maximum(ring - attention_per_layer, 0.0)

    per_mb = compute_mb + tensor_mb + expert_mb + context_mb
    bubble = (pp - 1) / vpp * per_mb

    boundary = hidden_bytes / xp.where(lay.sp == 1, tp, 1)
    send = comm.tiered_p2p(boundary, tp * cp * dp, tiers, xp)
    pipeline = xp.where(pp > 1, 2 * micro * vpp * send, 0.0)

    dense, expert = params_per_chip(lay, job)
    group, expert_group = dp * cp, xp.maximum(dp * cp // ep, 1)

    def scatter(per_param: float) -> Any:
        """Reduce-scatter (or all-gather) of ``per_param`` bytes per local parameter over data parallel."""
        out = comm.tiered_reduce_scatter(per_param * dense, group, tp, tiers, xp)
        if job.experts:
            out = out + comm.tiered_reduce_scatter(per_param * expert, expert_group, tp * ep, tiers, xp)
        return out

    grads = 2 * scatter(GRAD_BYTES)  # reduce-scatter gradients + all-gather weights (= one all-reduce)
    zero3 = xp.where(lay.zero >= 3, 2 * micro * scatter(WEIGHT_BYTES), 0.0)
    data = xp.maximum(grads + zero3 - c.dp_overlap * compute_mb, 0.0)

    shard_dense = xp.where(lay.zero >= 1, group, 1)
    shard_expert = xp.where(lay.zero >= 1, expert_group, 1)
    optimizer = OPTIMIZER_BYTES_TOUCHED * (dense / shard_dense + expert / shard_expert) / job.memory_bw

    return Step(
        compute=micro * compute_mb,
        tensor=micro * tensor_mb,
        expert=micro * expert_mb,
        context=micro * context_mb,
        pipeline=pipeline,
        bubble=bubble,
        data=data,
        optimizer=optimizer,
        micro_batches=micro,
        matmul_share=rate / job.peak_matmul,
    )
