"""Bytes per chip for one layout: weights, gradients, optimizer state, activations.

State (ZeRO paper): 2 bytes of 16-bit weights, 2 of gradients and 12 of optimizer state (32-bit
master weights, Adam m and v) per parameter, the same for 8-bit matmuls. Each chip holds
1/(tp x pp) of the dense parameters and 1/(tp x pp x ep) of the routed experts'. ZeRO shards over
the data-parallel ranks (dp x cp for dense parameters, dp x cp / ep for experts): stage 1 the
optimizer state, stage 2 also the gradients, stage 3 also the weights (plus two layers' gathered
weights in flight).

Activations per layer and micro-batch of b sequences of s tokens (Korthikanti et al. 2022, 16-bit,
h hidden, a heads, t tensor parallel, s already divided by cp):

    none or selective, with SP:   34 sbh / t
    none or selective, no SP:     sbh (10 + 24 / t)
    full:                         2 sbh per layer (its input; / t with SP), plus one layer's
                                  activations while it is recomputed

Attention is fused (flash attention: every stack the model is checked against uses it), so the
scores Korthikanti counts as 5 a s^2 b / t are never stored: without recompute a layer keeps what
selective recompute keeps (the scores are recomputed inside the fused backward).

1F1B keeps min(m, pp) micro-batches in flight on the first stage, each for its L/pp layers (so
about L layers' worth, whatever pp); interleaving adds (pp-1)/(pp x vpp) of that (Narayanan et
al. 2021). The output layer's 32-bit logits (4 s b vocab / t) are added once.
"""

from __future__ import annotations

from typing import Any

import attrs

from hwprof.core.perf.arith import SCALAR

WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES = 2, 2, 12


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
    expert = job.expert_params / (lay.tp * lay.pp * lay.ep)
    return dense, expert


def activation_per_layer(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Bytes one layer keeps for one micro-batch (see the module docstring)."""
    s = job.seq_len / lay.cp
    sbh = s * lay.mb * job.hidden
    t = lay.tp
    kept = xp.where(lay.sp == 1, 34 * sbh / t, sbh * (10 + 24 / t))
    full = xp.where(lay.sp == 1, 2 * sbh / t, 2 * sbh)
    return xp.where(lay.recompute_code == 2, full, kept)


def in_flight(lay: Any, job: Any, xp: Any = SCALAR) -> Any:
    """Layer-micro-batches of activations the busiest (first) pipeline stage holds at once."""
    micro = job.batch_seqs // (lay.dp * lay.mb)
    layers_per_stage = xp.ceil(job.layers / lay.pp)
    interleave = xp.where(lay.vpp > 1, 1 + (lay.pp - 1) / (lay.pp * lay.vpp), 1.0)
    return layers_per_stage * xp.minimum(micro, lay.pp) * interleave


def memory(lay: Any, job: Any, xp: Any = SCALAR) -> Memory:
    dense, expert = params_per_chip(lay, job)
    shard_dense = lay.dp * lay.cp
    shard_expert = xp.maximum(lay.dp * lay.cp / lay.ep, 1)
    zero = lay.zero

    def sharded(stage: int, bytes_per_param: float) -> Any:
        return xp.where(zero >= stage, bytes_per_param * (dense / shard_dense + expert / shard_expert),
                        bytes_per_param * (dense + expert))  # fmt: skip

    weights = sharded(3, WEIGHT_BYTES)
    # ZeRO-3 gathers each layer's weights before use; two layers in flight (one prefetched).
    gathered = 2 * WEIGHT_BYTES * (dense + expert) / xp.ceil(job.layers / lay.pp)
    weights = weights + xp.where(zero >= 3, gathered, 0.0)
    per_layer = activation_per_layer(lay, job, xp)
    acts = per_layer * in_flight(lay, job, xp)
    # Full recompute rebuilds one layer's activations at a time.
    s = job.seq_len / lay.cp
    working = xp.where(lay.recompute_code == 2, 34 * s * lay.mb * job.hidden / lay.tp, 0.0)
    logits = 4 * s * lay.mb * job.vocab / lay.tp
    return Memory(
        weights=weights,
        gradients=sharded(2, GRAD_BYTES),
        optimizer=sharded(1, OPTIMIZER_BYTES),
        activations=acts + working + logits,
        usable=job.memory_bytes * job.constants.usable_memory,
    )
