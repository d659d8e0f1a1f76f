"""Bytes per chip for one layout: weights, gradients, optimizer state, activations.

State per parameter: 2 bytes of 16-bit weights, gradients of the layout's ``grads`` bits (4 bytes by
default) and 12 bytes of optimizer state (32-bit master weights, Adam m and v), the same for 8-bit
matmuls. Gradients are 32-bit by default because that is what the reference stacks keep for 16-bit
training unless told otherwise: Megatron-LM accumulates and reduces a bf16 run's gradients in fp32
(its distributed-optimizer guide: "float16 param, fp32 grads: 18 [bytes per parameter] non-distributed,
6 + 12/d distributed", d data-parallel ranks; Megatron Core user guide, Distributed Optimizer), and
Llama 3 accumulated gradients in FP32 over micro-batches and reduce-scattered them in FP32 (Dubey et
al. 2024, sec. 3.3.2). Tuned recipes that keep 16-bit gradient buffers (grad_reduce_in_fp32 off, or a
bf16 grad_sync_dtype) say so in their layout: ``grads=16``. Each chip holds 1/(tp x pp) of the dense
parameters and 1/(etp x ep x pp) of the routed experts' (etp = 1: each expert whole on its rank, so
tp x dp x cp / ep ranks hold each copy; etp = tp: split like the dense MLP). ZeRO shards over the
data-parallel ranks (dp x cp for dense parameters; for experts the expert-data-parallel group,
tp x dp x cp / (etp x ep), Megatron's expert grid): stage 1 the optimizer state, stage 2 also the
gradients, stage 3 also the weights (plus two layers' gathered weights in flight).

Activations one layer keeps for its backward, per token of a micro-batch (``layer_bytes``), from the
tensors each operation saves, for the models here: pre-norm (RMSNorm) layers, attention with q = heads x
head_dim query and kv = kv_heads x head_dim key/value widths (grouped-query when kv < q), fused (flash)
attention, an MLP of gated-equivalent width f (``job.ffn``), no dropout, 16-bit activations:

    outside the tensor-parallel region (/ t with sequence parallel, else on every tp rank):
      each norm's input (the residual stream; the norm backward needs it)      2 x 2h
      each norm's output, the input of the matmul after it (QKV, MLP up)      2 x 2h     8h
    inside it (/ t):
      Q and O (rotated query; attention output = output-projection input)     2q + 2q
      K and V (rotated key, value)                                             2kv + 2kv  4q + 4kv
      the fused kernel's softmax statistics (32-bit log-sum-exp per head)     4 heads
      MLP: its up-projection's output (gate and up of a gated MLP, 2 x f)     4f
           and the activation's output (the down-projection's input)          2f         6f
      routed experts: each token's k permuted copies (the experts' input)     2kh  per MoE layer

Nothing else is kept: residual adds, rotary embedding and the output projections' outputs need
nothing saved; the fused kernel recomputes the scores in its backward. The MLP term is exact for both
MLP kinds: a 2-matrix MLP of width F = 3f/2 (the same parameters) keeps its activation's input and
output, 2F + 2F = 6f. For Llama 3.1 405B at t = 8 (h = q = 16,384, kv = 1,024, 128 heads, f = 53,248):
(8h + 4q + 4kv + 512 + 6f) / 8 = 65,088 bytes per token and layer.

Korthikanti et al. (2022) count 34 h per token (sbh with sequence parallel, / t) for GPT: the same
terms (h = q = kv, a 2-matrix MLP of 4h: f = 8h/3) less the fused statistics, plus 2h of dropout masks
(one byte per element after attention and after the MLP), and 5 a s for the unfused attention's scores
(``layer_bytes(..., fused=False, dropout=True)`` gives exactly that: 34 h + 5 a s).

Recompute: none and selective keep the above (with fused attention, selective recomputes nothing more
to store); full keeps each layer's input (2h per token, / t with SP) plus one layer's activations while
it is recomputed. A run whose attention is not fused (``job.fused_attention`` false) keeps, without
recompute, the softmax's probabilities instead of the statistics: 2 bytes x heads / t x s per token
(Korthikanti's 5 a s^2 b less the dropout mask and output); selective recompute drops exactly those.

In flight (1F1B, Narayanan et al. 2021; Megatron-LM's schedules): pipeline rank r of pp holds its
layers' activations for pp - r micro-batches, or with vpp interleaved virtual stages for
2 (pp - r - 1) + (vpp - 1) pp + 1 virtual-stage micro-batches of 1/vpp of its layers (pp + (pp - 2r - 1)
/ vpp micro-batches' worth), never more than the m micro-batches a step has (with m = pp, Megatron runs
every forward first: m). An uneven split (``uneven=1``, layers not divisible by pp) takes the missing
layer off the first stage, the one that holds the most (Llama 3 took one layer off its first and its last
stage); the others hold ceil(L / pp). The output layer's 32-bit logits (4 s vocab / t per micro-batch)
are held on the last stage for one micro-batch. The busiest of the first, second and last stage counts.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..arith import SCALAR

WEIGHT_BYTES, OPTIMIZER_BYTES = 2, 12


def grad_bytes(lay: Any) -> Any:
    """Bytes of one gradient as the layout keeps it (``grads`` bits / 8)."""
    return lay.grads / 8


@attrs.frozen
class Memory:
    """Bytes per chip; floats for one layout, arrays in the search."""

    weights: Any
    gradients: Any
    optimizer: Any
    activations: Any
    usable: float

    @property
    def total(self) -> Any:
        return self.weights + self.gradients + self.optimizer + self.activations


def params_per_chip(lay: Any, job: Any) -> tuple[Any, Any]:
    """(dense, expert) parameters held by one chip before ZeRO sharding."""
    dense = job.dense_params / (lay.tp * lay.pp)
    expert = job.expert_params / (lay.etp * lay.pp * lay.ep)
    return dense, expert


def expert_data_ranks(lay: Any, xp: Any = SCALAR) -> Any:
    """Ranks that hold the same expert shard (Megatron's expert-data-parallel group): the tp x dp x cp
    ranks of a pipeline stage over the etp x ep that split the experts; at least 1."""
    return xp.maximum(lay.tp * lay.dp * lay.cp / (lay.etp * lay.ep), 1)


def layer_bytes(h: float, q: float, kv: float, heads: float, ffn: float, seq: float = 0.0, routed: float = 0.0,
                fused: bool = True, dropout: bool = False) -> tuple[float, float]:  # fmt: skip
    """(outside, inside) the tensor-parallel region: bytes one layer keeps per token (module docstring).

    ``routed``: permuted token copies per token (top-k on an MoE layer, else 0). ``fused=False`` keeps
    the attention probabilities instead of the fused kernel's statistics: 2 bytes x heads x ``seq`` per
    token (the softmax's output, which its backward and P V's need), with dropout also its 1-byte mask
    and its 2-byte output (Korthikanti's 5 a s^2 b); ``dropout=True`` also adds two 1-byte masks per
    hidden element."""
    outside = 8 * h + (2 * h if dropout else 0)
    scores = (5 if dropout else 2) * heads * seq
    attention = 4 * q + 4 * kv + (4 * heads if fused else scores)
    return outside, attention + 6 * ffn + 2 * routed * h


def kept_per_layer(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Bytes one layer keeps for one micro-batch without recompute (see the module docstring)."""
    return _kept(lay, job, xp) + _scores(lay, job)


def _kept(lay: Any, job: Any, xp: Any) -> Any:
    """As ``kept_per_layer``, less unfused attention's probabilities (what selective recompute drops)."""
    tokens = job.seq_len / lay.cp * lay.mb
    routed = job.experts_per_token * job.moe_layers / job.layers
    outside, inside = layer_bytes(job.hidden, job.attention_width, job.kv_width, job.heads, job.ffn, routed=routed)
    return tokens * (outside / xp.where(lay.sp == 1, lay.tp, 1) + inside / lay.tp)


def _scores(lay: Any, job: Any) -> Any:
    """Unfused attention's probabilities, 2 bytes x heads / tp x s per token of the rank's chunk; 0 when fused
    (the fused kernel's statistics are in ``layer_bytes``)."""
    if job.fused_attention:
        return 0.0
    s = job.seq_len / lay.cp
    return s * lay.mb * 2 * job.heads / lay.tp * job.seq_len - s * lay.mb * 4 * job.heads / lay.tp


def activation_per_layer(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Bytes one layer keeps for one micro-batch under the layout's recompute (module docstring):
    selective recompute keeps all but unfused attention's probabilities (Korthikanti's selective)."""
    full = job.seq_len / lay.cp * lay.mb * 2 * job.hidden / xp.where(lay.sp == 1, lay.tp, 1)
    none = _kept(lay, job, xp) + _scores(lay, job)
    return xp.where(lay.recompute_code == 2, full, xp.where(lay.recompute_code == 1, _kept(lay, job, xp), none))


def micro_in_flight(lay: Any, job: Any, rank: Any, xp: Any = SCALAR) -> Any:
    """Micro-batches' worth of its layers' activations pipeline rank ``rank`` holds at once."""
    micro = job.batch_seqs // (lay.dp * lay.mb)
    plain = lay.pp - rank
    interleaved = lay.pp + (lay.pp - 2 * rank - 1) / lay.vpp
    return xp.minimum(micro, xp.where(lay.vpp > 1, interleaved, plain))


def stage_layers(lay: Any, job: Any, xp: Any = SCALAR) -> tuple[Any, Any]:
    """(first stage's layers, every other stage's): ceil(L / pp), one fewer on the first when uneven."""
    heavy = xp.ceil(job.layers / lay.pp)
    short = (lay.uneven == 1) & (job.layers % lay.pp != 0)
    return xp.where(short, heavy - 1, heavy), heavy


def in_flight(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Layer-micro-batches of activations the busiest stage holds (the logits aside)."""
    first, heavy = stage_layers(lay, job, xp)
    zeroth = first * micro_in_flight(lay, job, 0, xp)
    second = xp.where(lay.pp > 1, heavy * micro_in_flight(lay, job, 1, xp), 0.0)
    return xp.maximum(zeroth, second)


def memory(lay: Any, job: Any, xp: Any = SCALAR) -> Memory:
    dense, expert = params_per_chip(lay, job)
    shard_dense = lay.dp * lay.cp
    shard_expert = expert_data_ranks(lay, xp)
    zero = lay.zero

    def sharded(stage: int, bytes_per_param: float) -> Any:
        return xp.where(zero >= stage, bytes_per_param * (dense / shard_dense + expert / shard_expert),
                        bytes_per_param * (dense + expert))  # fmt: skip

    weights = sharded(3, WEIGHT_BYTES)
    # ZeRO-3 gathers each layer's weights before use; two layers in flight (one prefetched).
    gathered = 2 * WEIGHT_BYTES * (dense + expert) / xp.ceil(job.layers / lay.pp)
    weights = weights + xp.where(zero >= 3, gathered, 0.0)
    per_layer = activation_per_layer(lay, job, xp)
    s = job.seq_len / lay.cp
    logits = 4 * s * lay.mb * job.vocab / lay.tp
    first, heavy = stage_layers(lay, job, xp)
    last_layers = xp.where(lay.pp > 1, heavy, first)
    last = last_layers * micro_in_flight(lay, job, lay.pp - 1, xp) * per_layer + logits
    acts = xp.maximum(in_flight(lay, job, xp) * per_layer, last)
    # Full recompute rebuilds one layer's activations at a time.
    working = xp.where(lay.recompute_code == 2, kept_per_layer(lay, job, xp), 0.0)
    return Memory(
        weights=weights,
        gradients=sharded(2, grad_bytes(lay)),
        optimizer=sharded(1, OPTIMIZER_BYTES),
        activations=acts + working,
        usable=job.memory_bytes * job.constants.usable_memory,
    )
