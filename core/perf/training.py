"""Training estimates: a pure function from a shape, a target and assumptions to a result that
carries its inputs, assumptions and breakdown.
"""

from __future__ import annotations

import math
from typing import Any

from hwprof.core.cost.pricing import Quote
from hwprof.core.errors import HwprofError
from hwprof.core.perf import efficiency as eff
from hwprof.core.perf.cluster import (
    USABLE_MEMORY_FRACTION,
    Cluster,
    check_positive,
    cost_over,
    energy_over,
    peak_tflops,
    rests_on,
    span,
)
from hwprof.core.perf.shape import Shape

TRAIN_STATE_BYTES_PER_PARAM = 16  # bf16 weights + bf16 grads + fp32 master, Adam m and v (ZeRO paper)
ACTIVATION_BYTES_SELECTIVE = 34  # x seq x hidden per layer per sequence (Korthikanti et al. 2022)
ACTIVATION_BYTES_FULL_RECOMPUTE = 2
MAX_TENSOR_PARALLEL = 8


def train_memory(shape: Shape, target: Cluster, seq_len: int | None) -> dict[str, Any]:
    """Bytes per chip for weights, gradients, optimizer state and activations, and the fewest chips."""
    usable = target.chip.memory_bytes * USABLE_MEMORY_FRACTION
    tp = max(1, min(target.scale_up_domain, MAX_TENSOR_PARALLEL, target.chips))
    state_total = TRAIN_STATE_BYTES_PER_PARAM * shape.params
    activation = 0.0
    recompute = "none needed (shape unknown: activations not counted)"
    if shape.layers and shape.hidden and seq_len:
        per_layer = seq_len * shape.hidden * shape.layers / tp
        activation = ACTIVATION_BYTES_SELECTIVE * per_layer
        recompute = "selective (attention recomputed)"
        if activation > usable / 2:
            activation, recompute = ACTIVATION_BYTES_FULL_RECOMPUTE * per_layer, "full (every layer recomputed)"
    free = usable - activation
    min_chips = math.ceil(state_total / free) if free > 0 else None
    per_chip_state = state_total / target.chips
    return {
        "weights_bytes_per_chip": 2 * shape.params / target.chips,
        "gradients_bytes_per_chip": 2 * shape.params / target.chips,
        "optimizer_bytes_per_chip": 12 * shape.params / target.chips,
        "activations_bytes_per_chip": activation,
        "total_bytes_per_chip": per_chip_state + activation,
        "usable_bytes_per_chip": usable,
        "fits": min_chips is not None and target.chips >= min_chips,
        "min_chips": min_chips,
        "assumptions": {
            "sharding": "weights, gradients and optimizer state fully sharded over all chips (ZeRO-3 / FSDP)",
            "bytes_per_param": f"{TRAIN_STATE_BYTES_PER_PARAM} bytes per parameter: 16-bit weights and gradients, "
                               "32-bit master weights and Adam moments (the same for 8-bit matmuls)",
            "activations": f"micro-batch of 1 sequence, tensor parallel {tp}, recompute {recompute}",
            "usable_memory": f"{USABLE_MEMORY_FRACTION:.0%} of capacity",
        },
    }  # fmt: skip


def estimate_train(
    shape: Shape,
    target: Cluster,
    tokens: float,
    precision: str,
    seq_len: int | None = None,
    mfu: float | None = None,
    full_run: bool = False,
    quote: Quote | None = None,
    global_batch_tokens: float = 4 * 2**20,
) -> dict[str, Any]:
    check_positive("--tokens", tokens)
    check_positive("--chips", target.chips)
    if mfu is not None and not 0 < mfu <= 1:
        raise HwprofError("must be between 0 and 1 (a fraction of peak)", subject="mfu", value=mfu)
    seq_len = seq_len or shape.seq_len
    peak = peak_tflops(target.chip, precision)
    dense, attention = shape.train_flops_per_token(seq_len)
    flops = (dense + attention) * tokens
    memory = train_memory(shape, target, seq_len)
    if not memory["fits"]:
        need = memory["min_chips"]
        if need is None:
            raise HwprofError(f"{shape.name} does not fit on {target.chip.id}: activations of one sequence of "
                              f"{seq_len} tokens exceed a chip's memory even with full recompute; use a shorter "
                              "--seq-len")  # fmt: skip
        systems = f" ({math.ceil(need / target.system.chips)} x {target.system.id})" if target.system else ""
        raise HwprofError(f"{shape.name} does not fit on {target.chips} x {target.chip.id}: weights, gradients, "
                          f"optimizer state and activations need at least {need} chips{systems}")  # fmt: skip
    chip_factor = target.chip.training_efficiency
    efficiency = eff.training_mfu(
        precision, target.chips, full_run, mfu, moe=shape.is_moe,
        chip_factor=(chip_factor.value, f"{chip_factor.status}, {chip_factor.how or chip_factor.note}")
        if chip_factor else None,
    )  # fmt: skip
    rate = target.chips * peak.value * 1e12  # FLOP/s at peak
    seconds = {k: flops / (rate * u) for k, u in
               (("low", efficiency.high), ("expected", efficiency.expected), ("high", efficiency.low))}  # fmt: skip
    hours = {k: v / 3600 for k, v in seconds.items()}
    chip_hours = {k: v * target.chips for k, v in hours.items()}
    result: dict[str, Any] = {
        "kind": "train",
        "inputs": {
            "model": shape.name,
            "model_source": shape.source,
            "params": shape.params,
            "active_params": shape.active_params,
            "tokens": tokens,
            "seq_len": seq_len,
            "target": target.label,
            "chip": target.chip.id,
            "chips": target.chips,
            "precision": precision,
            "global_batch_tokens": global_batch_tokens,
        },  # fmt: skip
        "flops": flops,
        "flops_breakdown": {
            "dense_6n": dense * tokens,
            "attention": attention * tokens,
            "attention_share": attention / dense if dense else 0.0,
        },  # fmt: skip
        "precision_basis": f"dense {precision} peak, {peak.value:g} TFLOPS per chip ({peak.status})",
        "efficiency": efficiency.as_json(),
        "time_s": span(seconds["expected"], seconds["low"], seconds["high"]),
        "time_days": span(hours["expected"] / 24, hours["low"] / 24, hours["high"] / 24),
        "chip_hours": span(chip_hours["expected"], chip_hours["low"], chip_hours["high"]),
        "memory": memory,
        "communication": _train_comm(shape, target, global_batch_tokens, flops / tokens, peak.value, efficiency),
        "cost": cost_over(quote, target, hours),
        "energy": energy_over(target, hours),
        "rests_on": rests_on(target, peak, training=True),
    }
    if result["cost"]:
        result["cost_usd"] = result["cost"]["cost_usd"]
    if result["energy"]:
        result["energy_kwh"] = result["energy"]["energy_kwh"]
    result["binding"] = "compute" if result["communication"]["comm_to_compute"] <= 1 else "communication"
    return result


def _train_comm(shape: Shape, target: Cluster, batch_tokens: float, flops_per_token: float, peak: float,
                efficiency: eff.Efficiency) -> dict[str, Any]:  # fmt: skip
    """Data-parallel traffic per step against compute per step; overlapped, so reported, not added."""
    tp = max(1, min(target.scale_up_domain, MAX_TENSOR_PARALLEL, target.chips))
    dp = max(1, target.chips // tp)
    # FSDP: all-gather weights forward and backward, reduce-scatter gradients: 3 x 16-bit weights.
    bytes_per_chip = 3 * 2 * shape.params / tp * (dp - 1) / dp
    link = target.scale_out if target.chips > target.scale_up_domain and target.scale_out else target.scale_up
    bandwidth = link.per_direction_gb_s * 1e9 if link else None
    comm_s = bytes_per_chip / bandwidth if bandwidth else 0.0
    compute_s = batch_tokens * flops_per_token / (target.chips * peak * 1e12 * efficiency.expected)
    return {"data_parallel": dp, "tensor_parallel": tp, "bytes_per_chip_per_step": bytes_per_chip,
            "link": link.id if link else None, "link_gb_s_per_direction": link.per_direction_gb_s if link else None,
            "comm_s_per_step": comm_s, "compute_s_per_step": compute_s,
            "comm_to_compute": comm_s / compute_s if compute_s else 0.0,
            "note": "gradient and weight traffic is overlapped with compute; above 1 it binds and MFU falls"}  # fmt: skip
