"""Step time of one training layout (or arrays of them): compute per pipeline stage, exposed
communication per tier, the pipeline bubble, the optimizer step.

Per micro-batch, the slowest stage (ceil(L/pp) layers when uneven) runs on each chip

    matmul FLOPs    6 x active params x tokens x (its layers / L) / (tp x cp)
    attention FLOPs 6 x L x s x heads x head_dim x tokens x (its layers / L) / (tp x cp)
    recompute       selective: + attention forward (1/3 of it); full: + the whole forward (1/3)
    copied KV heads 12 x h x head_dim x (tp - kv_heads) per token and layer where tp > kv_heads
    unfused attention (a case that says so) the full s x s square at the matmul rate, its scores
                    through memory (``score_bytes``), instead of the fused kernels' share

at an achieved rate per precision: the run's precision on its own peak x its share x the chip's
software factor (its profile's training_efficiency, 1 for the reference stacks) x the
matmul-size factor n / (n + n_half) with n = min(hidden / tp, micro-batch tokens / cp) (small
per-chip matmuls reach less of peak; n_half is the chip profile's per rank where it has one); attention stays at 16 bits, at the share fused attention
kernels measure. An 8-bit run is never slower than it would be at 16 bits, casts included (a
framework would not choose a slower path). Memory-bound work runs at the achieved share of memory bandwidth: per token and
layer, 16-bit elements read + written (``elementwise_bytes``)

    norms, residual adds      2 x (2 + 3) h forward (read x, write y; read 2, write 1), 2 x (3 + 3) h
                              backward: 22 h (/ tp with sequence parallel, else on every tp rank)
    rotary q and k            2 (q + kv) forward, the same backward: 4 (q + kv)      (/ tp)
    gated activation          3 f forward (read gate and up, write), 5 f backward: 8 f (/ tp)
    8-bit casts               each matmul's activation input (h, q, h, f) forward and output gradient
                              (q + 2 kv, h, 2 f, h) backward, read at 2 bytes and written as an
                              8-bit copy and its transpose (2 bytes): 4 (4 h + 2 q + 2 kv + 3 f) bytes;
                              routed experts see k copies of h in and out: + 4 x 2 (k - 1) h per MoE layer
    loss                      20 bytes per vocabulary entry per token (/ tp): logits to 32 bits
                              (2 + 4), max (4), sum of exponentials (4), gradient (4 + 2)
    expert routing            per MoE layer, permute (read h, write k h) and unpermute (read k h,
                              write h) forward and again backward: 4 (k + 1) h elements (/ tp)

(full recompute repeats the forward's 10 h + 2 (q + kv) + 3 f). Then, per micro-batch:

    tensor parallel  4 all-reduce-sized collectives of tokens/cp x hidden x 2 bytes per layer
                     (+2 with full recompute), over the scale-up link if tp fits a domain; with sequence
                     parallel beside the matmuls (``exposed``: their slowdown, or what outlasts them)
    experts         a routed expert's matmuls run at the size factor of the narrower of its rows,
                     micro-batch tokens x top-k x ep / experts (small without expert parallel), and its
                     own MLP width on the chip (often under the hidden width): grouped GEMMs run as
                     dense ones of their per-expert shape (``expert_size_factor``)
    expert parallel  4 all-to-alls per MoE layer of tokens/(cp x tp) x top-k x hidden x 2 bytes, less
                     the calibrated share hidden behind compute (none where the run does not
                     overlap them, ``job.a2a_overlap``); a node-level dispatcher
                     (``job.node_dispatch``, DeepEP / HybridEP) sends a token across nodes once per
                     destination node (``comm.tiered_all_to_all`` with picks)
    context parallel ring exchange of K and V, 3 (cp-1) chunks per layer (4 when recompute reruns
                     attention) over the tier that holds the whole ring (its slowest hop), beside
                     attention, which slows while they share the chip (``exposed``); attention itself
                     runs on chunks of s / cp tokens, slower when short (``attention_half_length``), in cp
                     steps whose partial results merge through memory (``ring_merge_bytes``)
    pipeline         2 sends per micro-batch and virtual stage of tokens/cp x hidden x 2 (/tp with SP)

and per step: the bubble (pp-1)/vpp micro-batch times (1F1B, Narayanan et al. 2021), data-parallel
gradient reduce-scatter and weight all-gather (hierarchical: inside the scale-up domain, then across),
each beside the compute it can overlap: the gradients in the last micro-batch's backward (every
backward with ZeRO-2, which keeps no whole gradient), the weights in the first forward (ZeRO-3: every
forward and backward). Compute slows while a collective shares the chip (``exposed``: the measured
slowdown, not a fitted overlap), and traffic longer than its window is exposed in full. The traffic
goes in chunks of one layer (with pp > 1, of one virtual stage), and the last chunk has nothing left
to hide behind (NeMo's communication-overlap guide: "exposes only one DP communication chunk"), so
without interleaving a pipeline stage's data-parallel traffic is all exposed. Then the
optimizer's 26 bytes + one gradient per local parameter at the achieved memory bandwidth.
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import comm
from ..arith import SCALAR
from .memory import WEIGHT_BYTES, expert_data_ranks, grad_bytes, params_per_chip

# Adam per local parameter: read 32-bit master, m and v (12) and the gradient; write master, m, v and the
# 16-bit weight (14).
OPTIMIZER_BYTES_FIXED = 26


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
    memory_bound: Any = 0.0  # the part of ``compute`` that memory-bound kernels take

    @property
    def total(self) -> Any:
        return (self.compute + self.tensor + self.expert + self.context + self.pipeline + self.bubble + self.data
                + self.optimizer)  # fmt: skip


def chip_width(lay: Any, job: Any, xp: Any = SCALAR, split: Any = None) -> Any:
    """The hidden width the matmuls span that the half width is counted against, split over ``split``
    ranks (default tp; the routed experts' is etp). A chip with a half width of its own
    (``job.rank_half_width``, per rank) runs each rank's hidden / tp. Otherwise the constants' half
    width, measured per chip (one rank each), holds: hidden / tp times the chip's ranks that hold
    neighbouring tensor-parallel shards (min(ranks per chip, tp))."""
    tp = lay.tp if split is None else split
    if job.rank_half_width:
        return job.hidden / tp
    return job.hidden * xp.minimum(job.ranks_per_chip, tp) / tp


def half_width(job: Any) -> float:
    """The width at which matmuls reach half a wide matmul's share: the chip's own, else the constants'."""
    return float(job.rank_half_width or job.constants.half_width)


def size_factor(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Share of a large matmul's rate that one chip's matmuls reach: their smaller side is the
    chip's hidden width (``chip_width``), or the micro-batch's tokens over cp, whichever is narrower."""
    n = xp.minimum(chip_width(lay, job, xp), lay.mb * job.seq_len / lay.cp)
    return n / (n + half_width(job))


def expert_size_factor(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Share of a large matmul's rate that routed experts' matmuls reach. A grouped GEMM runs one
    matmul per local expert, each at its own shape: rows = tokens that reach one expert (the
    micro-batch's tokens / cp x top-k x ep / experts: the all-to-all gathers them from the ep ranks),
    width = the expert's own MLP width on the chip (often under the hidden width). Measured grouped
    kernels run as dense ones of that per-expert shape would, and their rows follow the dense size
    curve (tests/test_expert_matmul.py: DeepGEMM's FP8 tables). Without expert parallel the rows are
    few, the matmuls slow for their FLOPs: why runs use it.

    Expert tensor parallel (``lay.etp``): with sequence parallel (Megatron's MoE layer refuses to
    train with tp > 1 without it, moe_layer.py) each rank routes only its own tokens / (cp x tp). With etp = tp the rank's copies
    are all-gathered over its tp group after the all-to-all, so an expert shard sees tokens / cp
    x top-k x ep / experts rows, at 1/tp of the width; with etp = 1 nothing is gathered (rows
    / tp) and the expert runs whole: rows x etp / tp, width / etp."""
    rows = lay.mb * job.seq_len / lay.cp * job.experts_per_token * lay.ep / job.experts * lay.etp / lay.tp
    n = xp.minimum(rows, chip_width(lay, job, xp, lay.etp) * min(job.expert_ffn / job.hidden, 1.0))
    return n / (n + half_width(job))


def copied_kv_flops(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Matmul FLOPs per token beyond the model's count where tensor parallel exceeds the KV heads:
    each rank then computes a whole K and V head (frameworks copy the heads, tp / kv_heads copies of
    each), 3 x 2 x 2 h d per rank and layer against the count's 12 h d kv_heads over tp ranks:
    12 x layers x h x d x (tp - kv_heads), on the same footing as ``flops_per_token``."""
    return 12.0 * job.layers * job.hidden * job.head_dim * xp.maximum(lay.tp - job.kv_heads, 0)


def score_bytes(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Bytes of attention scores through memory per layer and micro-batch on one rank when attention
    runs unfused: heads / tp x (tokens / cp) x s scores of 2 bytes, each written by Q K^T and read by
    the softmax, which writes the probabilities that P V reads (4 passes forward); backward writes
    dP, the softmax backward reads P and dP and writes dS, dV reads P, dQ and dK read dS (7 passes);
    recompute (selective or full) repeats the forward's 4."""
    scores = job.heads / lay.tp * lay.mb * job.seq_len / lay.cp * job.seq_len
    return scores * 2 * (11 + xp.where(lay.recompute_code >= 1, 4, 0))


def elementwise_bytes(lay: Any, job: Any, xp: Any = SCALAR) -> tuple[Any, Any, Any]:
    """Bytes of memory-bound traffic per token on one chip (see the module docstring): ``(per layer,
    8-bit casts per layer, loss)``; per layer includes ring attention's merges (``ring_merge_bytes``)."""
    h, q, kv, f = job.hidden, job.attention_width, job.kv_width, job.ffn
    full = lay.recompute_code == 2
    outer = xp.where(full, 32, 22) * h * 2 / xp.where(lay.sp == 1, lay.tp, 1)
    inner = (xp.where(full, 6, 4) * (q + kv) + xp.where(full, 11, 8) * f) * 2 / lay.tp
    casts = 4 * (4 * h + 2 * q + 2 * kv + 3 * f) / lay.tp
    if job.experts:  # routed tokens are permuted to their experts and back, forward and backward
        moe = job.moe_layers / job.layers
        inner = inner + moe * 8 * (job.experts_per_token + 1) * h / lay.tp
        # and the experts' up-projection input and down-projection output gradient are k permuted
        # copies of h, each cast to 8 bits: k - 1 more h than a dense MLP's, twice
        casts = casts + moe * 4 * 2 * (job.experts_per_token - 1) * h / lay.tp
    return outer + inner + ring_merge_bytes(lay, job, xp), casts, 20 * job.vocab / lay.tp


def ring_merge_bytes(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Bytes through memory per local token and layer on one rank that ring attention (context
    parallel) adds: it runs attention as cp steps, one per KV chunk, and merges them (the reference
    implementation, Transformer Engine's AttnFuncWithCPAndKVP2P, 16-bit buffers). Forward, per step:
    the step's partial output is written (2 bytes per element of the q width), then read with the
    running output, which is read and written again (6), plus the output's zero fill once against the
    fused kernel's single write: 8 q per step. Backward, per step: dQ += the step's part (read both,
    write: 6 q); the step's dK and dV are packed into one buffer (read and write: 4 per element of 2 kv)
    and added to the gradients received from the next rank (6 per element of 2 kv): 6 q + 20 kv.
    Recompute (selective or full) reruns the forward's steps. All over tp: cp x (14 q + 20 kv, + 8 q
    with recompute) / tp; nothing without context parallel."""
    q, kv = job.attention_width, job.kv_width
    per_step = 14 * q + 20 * kv + xp.where(lay.recompute_code >= 1, 8 * q, 0)
    return xp.where(lay.cp > 1, lay.cp * per_step / lay.tp, 0.0)


def exposed(traffic: Any, window: Any, slowdown: float, xp: Any = SCALAR) -> Any:
    """Time a collective of ``traffic`` seconds adds to a step when it runs beside ``window`` seconds of
    compute that slows by ``slowdown`` while they share the chip: the compute it overlaps loses
    traffic x slowdown / (1 + slowdown); what outlasts the stretched window, window x (1 + slowdown),
    is exposed in full (then the cost is traffic - window)."""
    return xp.maximum(traffic - window, traffic * slowdown / (1 + slowdown))


@attrs.frozen
class StageCompute:
    """One micro-batch's compute on one chip of the slowest pipeline stage, in seconds (floats for one
    layout, arrays in the search), with what the communication parts hide behind."""

    layers: Any  # layers on the slowest stage (ceil(L / pp) when uneven)
    matmul: Any  # the matmuls at the achieved rate: what tensor-parallel traffic runs beside
    attention: Any  # what the context-parallel ring runs beside
    memory: Any  # memory-bound kernels, 8-bit casts included where the run casts
    seconds: Any  # all of it, routed experts' smaller matmuls included
    rate: Any  # achieved matmul FLOP/s


def stage_flops(lay: Any, job: Any, layers: Any, xp: Any = SCALAR) -> tuple[Any, Any, Any]:
    """(linear, matmul, attention) FLOPs of one micro-batch on one chip of a stage of ``layers``: the
    model's count for the stage's share of the layers over tp x cp; full recompute runs the forward
    (a third of it) again, selective recompute only attention's; matmuls add the copied KV heads."""
    code = lay.recompute_code
    matmul_flops, attention_flops = job.flops_per_token()
    per_chip = lay.mb * job.seq_len * (layers / job.layers) / (lay.tp * lay.cp)
    linear = matmul_flops * per_chip * xp.where(code == 2, 4 / 3, 1.0)
    matmul = linear + copied_kv_flops(lay, job, xp) * per_chip * xp.where(code == 2, 4 / 3, 1.0)
    attention = attention_flops * per_chip * xp.where(code >= 1, 4 / 3, 1.0)
    return linear, matmul, attention


def attention_seconds(lay: Any, job: Any, flops: Any, layers: Any, xp: Any = SCALAR) -> Any:
    """Attention of one micro-batch: fused kernels at their measured share of the 16-bit peak, less on
    short chunks (each chip sees s / cp tokens of a sequence); unfused, the whole s x s square (twice
    the causal count) at the matmul rate with its scores through memory (``score_bytes``)."""
    c = job.constants
    if not job.fused_attention:
        bandwidth = job.memory_bw * c.memory_fraction
        return (2 * flops / (job.peak_16bit * c.matmul_16bit * job.software)
                + score_bytes(lay, job, xp) * layers / bandwidth)  # fmt: skip
    chunk = job.seq_len / lay.cp
    rate = job.peak_16bit * c.attention_16bit * chunk / (chunk + c.attention_half_length) * job.software
    return flops / rate


def eight_bit(lay: Any, job: Any, matmul: Any, rate16: Any, layers: Any, cast_bytes: Any, xp: Any = SCALAR
              ) -> tuple[Any, Any]:  # fmt: skip
    """(rate, cast seconds) of an 8-bit run's matmuls: 8-bit matmuls pay for casting their inputs
    through memory, and where that is slower than staying at 16 bits the run stays (a framework
    would not choose the slower path), with no casts."""
    c = job.constants
    rate8 = job.peak_matmul * c.matmul_8bit * size_factor(lay, job, xp) * job.software
    casts = lay.mb * job.seq_len / lay.cp * layers * cast_bytes / (job.memory_bw * c.memory_fraction)
    eight = matmul / rate8 + casts < matmul / rate16
    return xp.where(eight, rate8, rate16), xp.where(eight, casts, 0.0)


def stage_compute(lay: Any, job: Any, xp: Any = SCALAR) -> StageCompute:
    """One micro-batch's compute on the slowest stage: matmuls at the achieved rate (the run
    precision's peak x the fitted share x the matmul-size factor x the stack's factor), attention,
    memory-bound kernels at the achieved memory bandwidth (``elementwise_bytes``), and routed
    experts' matmuls slowed to their own size factor (``expert_size_factor``)."""
    c = job.constants
    layers = xp.ceil(job.layers / lay.pp)  # the slowest stage when uneven
    linear, matmul, attention = stage_flops(lay, job, layers, xp)
    size = size_factor(lay, job, xp)
    rate16 = job.peak_16bit * c.matmul_16bit * size * job.software
    per_layer_bytes, cast_bytes, loss_bytes = elementwise_bytes(lay, job, xp)
    tokens = lay.mb * job.seq_len
    memory = tokens / lay.cp * (layers * per_layer_bytes + loss_bytes) / (job.memory_bw * c.memory_fraction)
    rate: Any = rate16
    if job.low_precision:
        rate, casts = eight_bit(lay, job, matmul, rate16, layers, cast_bytes, xp)
        memory = memory + casts
    attention_s = attention_seconds(lay, job, attention, layers, xp)
    seconds = matmul / rate + attention_s + memory
    if job.experts:  # the routed experts' share of the matmuls runs at their own size factor
        share = job.expert_params * job.experts_per_token / job.experts / job.active_params
        seconds = seconds + share * linear / rate * (size / expert_size_factor(lay, job, xp) - 1)
    return StageCompute(layers=layers, matmul=matmul / rate, attention=attention_s, memory=memory,
                        seconds=seconds, rate=rate)  # fmt: skip


def collectives_per_layer(lay: Any, xp: Any = SCALAR) -> Any:
    """Tensor-parallel collectives (or expert all-to-alls) per layer and micro-batch: 2 forward and 2
    backward, 2 more when full recompute reruns the forward."""
    return xp.where(lay.recompute_code == 2, 6, 4)


def tensor_parallel(lay: Any, job: Any, work: StageCompute, xp: Any = SCALAR) -> Any:
    """Exposed tensor-parallel traffic of one micro-batch: all-reduce-sized collectives of the
    micro-batch's hidden states per layer over the tiers tp spans. With sequence parallel they are
    all-gathers and reduce-scatters beside the matmuls they feed or drain (``exposed``)."""
    hidden_bytes = lay.mb * job.seq_len / lay.cp * job.hidden * 2
    # Half of them feed and drain the MLP block. On an MoE layer with etp = 1 the routed experts take
    # each rank's own sequence-parallel tokens through the all-to-all and back: no gather or scatter
    # over tp there (the attention block keeps its own).
    blocks = 1.0
    if job.experts:
        blocks = 1 - xp.where(lay.etp == 1, 0.5 * job.moe_layers / job.layers, 0.0)
    reduce = comm.tiered_all_reduce(hidden_bytes, lay.tp, 1, job.tiers, xp)
    traffic = work.layers * collectives_per_layer(lay, xp) * blocks * reduce
    # With sequence parallel the collectives run beside the matmuls they feed or drain, split in
    # chunks (NeMo / Megatron tp_comm_overlap, which requires sequence parallel): hidden but for the
    # slowdown of the matmuls they share the chip with.
    return xp.where(lay.sp == 1, exposed(traffic, work.matmul, job.constants.overlap_slowdown, xp), traffic)


def expert_parallel(lay: Any, job: Any, work: StageCompute, xp: Any = SCALAR) -> Any:
    """Exposed expert-parallel traffic of one micro-batch: 4 all-to-alls per MoE layer of each rank's
    own tokens x top-k, less what compute hides (the calibrated share, or none where the run does
    not overlap them; with paired chunks, DualPipe, the slowdown of the compute beside them)."""
    if not job.experts:
        return 0.0
    c = job.constants
    dispatch = lay.mb * job.seq_len / (lay.cp * lay.tp) * job.experts_per_token * job.hidden * 2  # own tokens (SP)
    picks = job.experts_per_token if job.node_dispatch else 0  # once per destination node (DeepEP/HybridEP)
    # Megatron's expert grid puts etp innermost, then ep: the group's members sit etp ranks apart
    # (etp = 1: consecutive ranks, folded over tp x dp x cp).
    a2a = comm.tiered_all_to_all(dispatch, lay.ep, lay.etp, job.tiers, xp, picks)
    traffic = job.moe_layers * (work.layers / job.layers) * collectives_per_layer(lay, xp) * a2a
    if job.a2a_paired:
        # Forward and backward chunks run in pairs (DualPipe), each one's all-to-all beside the other's
        # compute: hidden but for the slowdown of that compute, exposed where it outlasts it.
        return exposed(traffic, work.seconds, c.overlap_slowdown, xp)
    hidden = c.expert_overlap if job.a2a_overlap else 0.0  # a run without all-to-all overlap hides none
    return traffic * (1 - hidden)


def context_parallel(lay: Any, job: Any, work: StageCompute, xp: Any = SCALAR) -> Any:
    """Exposed context-parallel traffic of one micro-batch: ring attention passes K and V chunks
    round the cp ranks, 3 (cp - 1) per layer (4 when recompute reruns attention), each hop beside
    the attention step it feeds (``exposed``)."""
    tp, cp = lay.tp, lay.cp
    kv_chunk = 2 * (lay.mb * job.seq_len) / cp * job.kv_width * 2 / tp
    # A ring is as slow as its slowest hop: over the innermost tier whose domain holds all cp x tp ranks.
    # K and V go round once forward (again when recompute reruns attention), K, V and their
    # gradients once backward; what outlasts attention is exposed in full.
    passes = xp.where(lay.recompute_code >= 1, 4, 3)
    ring = xp.where(cp > 1, passes * (cp - 1) * comm.tiered_p2p(kv_chunk, cp * tp / 2, job.tiers, xp), 0.0)
    return work.layers * exposed(ring, work.attention / work.layers, job.constants.overlap_slowdown, xp)


def bubble(lay: Any, per_micro_batch: Any) -> Any:
    """The pipeline bubble of 1F1B with interleaving (Narayanan et al. 2021): (pp - 1) / vpp
    micro-batch times in which a stage waits."""
    return (lay.pp - 1) / lay.vpp * per_micro_batch


def pipeline_sends(lay: Any, job: Any, micro: Any, xp: Any = SCALAR) -> Any:
    """Point-to-point traffic between pipeline stages: 2 sends of the boundary activations (/ tp with
    sequence parallel) per micro-batch and virtual stage, over the tier the dp x cp x tp ranks of a
    stage fill."""
    tp = lay.tp
    hidden_bytes = lay.mb * job.seq_len / lay.cp * job.hidden * 2
    boundary = hidden_bytes / xp.where(lay.sp == 1, tp, 1)
    send = comm.tiered_p2p(boundary, tp * lay.cp * lay.dp, job.tiers, xp)
    return xp.where(lay.pp > 1, 2 * micro * lay.vpp * send, 0.0)


def data_parallel(lay: Any, job: Any, work: StageCompute, micro: Any, xp: Any = SCALAR) -> Any:
    """Exposed data-parallel traffic of one step: the gradients' reduce-scatter and the weights'
    all-gather (hierarchical over the tiers), each beside the compute it can overlap, in chunks of
    one layer (or virtual stage) whose last has nothing left to hide behind."""
    c, tiers, ep = job.constants, job.tiers, lay.ep
    dense, expert = params_per_chip(lay, job)
    group, expert_group = lay.dp * lay.cp, expert_data_ranks(lay, xp)

    def scatter(per_param: float) -> Any:
        """Reduce-scatter (or all-gather) of ``per_param`` bytes per local parameter over data parallel."""
        out = comm.tiered_reduce_scatter(per_param * dense, group, lay.tp, tiers, xp)
        if job.experts:  # the expert-data-parallel group's members sit etp x ep ranks apart
            out = out + comm.tiered_reduce_scatter(per_param * expert, expert_group, lay.etp * ep, tiers, xp)
        return out

    # Megatron-style overlap reduce-scatters the gradients in the last micro-batch's backward and
    # all-gathers the updated weights in the next step's first forward; ZeRO-2 keeps no whole
    # gradient, so it reduce-scatters in every backward; ZeRO-3 also gathers the weights for every
    # forward and backward. 16-bit gradients and weights on the wire.
    # (Gradients travel at 16 bits whatever bits the layout keeps them in: the recipes here reduce in bf16.)
    reduce, gather = scatter(WEIGHT_BYTES), scatter(WEIGHT_BYTES)
    forward = work.seconds / xp.where(lay.recompute_code == 2, 4, 3)  # full recompute reruns the forward
    backward = work.seconds - forward

    # The traffic goes in chunks of one layer (with pp > 1, of one virtual stage's layers): the chunk
    # that comes last in the window (the first layer's gradients, the first layer's weights) has no
    # compute left to hide behind and is exposed in full.
    last = xp.where(lay.pp > 1, 1 / lay.vpp, 1 / work.layers)

    def hide(traffic: Any, window: Any) -> Any:
        return last * traffic + exposed((1 - last) * traffic, window, c.overlap_slowdown, xp)

    per_step = xp.where(lay.zero == 0, hide(reduce + gather, backward), hide(reduce, backward) + hide(gather, forward))
    zero2 = micro * hide(reduce, backward) + hide(gather, forward)
    zero3 = micro * (hide(gather, forward) + hide(gather + reduce, backward))
    return xp.where(lay.zero <= 1, per_step, xp.where(lay.zero == 2, zero2, zero3))


def optimizer_step(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Adam's update, memory-bound: 26 bytes + one gradient per parameter the chip updates (its
    share of the data-parallel group's with ZeRO) at the achieved memory bandwidth."""
    dense, expert = params_per_chip(lay, job)
    shard_dense = xp.where(lay.zero >= 1, lay.dp * lay.cp, 1)
    shard_expert = xp.where(lay.zero >= 1, expert_data_ranks(lay, xp), 1)
    return ((OPTIMIZER_BYTES_FIXED + grad_bytes(lay)) * (dense / shard_dense + expert / shard_expert)
            / (job.memory_bw * job.constants.memory_fraction))  # fmt: skip


def step(lay: Any, job: Any, xp: Any = SCALAR) -> Step:
    """Seconds per optimizer step of ``lay`` running ``job``: the parts above, per micro-batch times
    the micro-batches, plus the per-step bubble, pipeline sends, data-parallel traffic and optimizer."""
    micro = job.batch_seqs // (lay.dp * lay.mb)
    work = stage_compute(lay, job, xp)
    tensor = tensor_parallel(lay, job, work, xp)
    expert = expert_parallel(lay, job, work, xp)
    context = context_parallel(lay, job, work, xp)
    return Step(
        compute=micro * work.seconds,
        tensor=micro * tensor,
        expert=micro * expert,
        context=micro * context,
        pipeline=pipeline_sends(lay, job, micro, xp),
        bubble=bubble(lay, work.seconds + tensor + expert + context),
        data=data_parallel(lay, job, work, micro, xp),
        optimizer=optimizer_step(lay, job, xp),
        micro_batches=micro,
        matmul_share=work.rate / job.peak_matmul,
        memory_bound=micro * work.memory,
    )
