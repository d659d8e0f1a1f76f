"""Training and serving estimates: pure functions from a shape, a target and assumptions to a
result that carries its inputs, assumptions and breakdown.

Every figure with uncertainty is a range ``{"low", "expected", "high"}``; ``low`` is the
optimistic end for times and costs (fastest, cheapest).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from hwprof.core import efficiency as eff
from hwprof.core import model
from hwprof.core.errors import HwprofError
from hwprof.core.pricing import Quote
from hwprof.core.shape import Shape

TRAIN_STATE_BYTES_PER_PARAM = 16  # bf16 weights + bf16 grads + fp32 master, Adam m and v (ZeRO paper)
ACTIVATION_BYTES_SELECTIVE = 34  # x seq x hidden per layer per sequence (Korthikanti et al. 2022)
ACTIVATION_BYTES_FULL_RECOMPUTE = 2
USABLE_MEMORY_FRACTION = 0.9  # runtime, fragmentation and buffers take the rest
MAX_TENSOR_PARALLEL = 8


@attrs.frozen
class Target:
    """What an estimate runs on: ``chips`` chips of ``chip``, joined by ``scale_up`` (if any)."""

    chip: model.Chip
    chips: int
    system: model.System | None = None
    scale_up: model.Interconnect | None = None
    scale_up_domain: int = 1
    scale_out: model.Interconnect | None = None

    @property
    def label(self) -> str:
        if self.system:
            count = self.chips // self.system.chips
            return f"{count} x {self.system.id}" if count != 1 else self.system.id
        return f"{self.chips} x {self.chip.id}"


def target_for(
    chip: model.Chip, chips: int, system: model.System | None, interconnects: dict[str, model.Interconnect]
) -> Target:
    up = out = None
    domain = 1
    for tier in system.tiers if system else ():
        link = interconnects[tier.interconnect]
        if link.tier == "scale-up" and up is None:
            up, domain = link, tier.domain_chips or system.chips  # type: ignore[union-attr]
        elif link.tier == "scale-out" and out is None:
            out = link
    return Target(chip=chip, chips=chips, system=system, scale_up=up, scale_up_domain=domain, scale_out=out)


def span(expected: float, low: float, high: float) -> dict[str, float]:
    return {"low": low, "expected": expected, "high": high}


def peak_tflops(chip: model.Chip, precision: str) -> model.Figure:
    figure = chip.peak_dense_tflops.get(precision)
    if figure is None:
        known = ", ".join(chip.peak_dense_tflops)
        raise HwprofError(f"--precision {precision}: {chip.id} has no {precision} peak; it has {known}")
    return figure


def _positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise HwprofError(f"{name} must be a positive number, got {value:g}")


def _cost(quote: Quote | None, target: Target, hours: dict[str, float]) -> dict[str, Any] | None:
    if quote is None or target.system is None:
        return None
    # A run on part of a system (2 GPUs of an 8-GPU instance) pays its share.
    systems = target.chips / target.system.chips
    usd_per_hour = quote.usd_per_hour * systems
    return {
        "cost_usd": {k: v * usd_per_hour for k, v in hours.items()},
        "usd_per_hour": usd_per_hour,
        "price": quote.as_json(),
        "warnings": quote.warnings(),
    }


def _energy(target: Target, hours: dict[str, float]) -> dict[str, Any] | None:
    tdp = target.chip.tdp_w
    if tdp is None:
        return None
    kw = target.chips * tdp.value / 1000
    return {"energy_kwh": {k: v * kw for k, v in hours.items()}, "power_kw": kw, "power_status": tdp.status,
            "note": "chips x rated power x time: an upper bound on chip energy, host and cooling not included"}  # fmt: skip


def train_memory(shape: Shape, target: Target, seq_len: int | None) -> dict[str, Any]:
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
    target: Target,
    tokens: float,
    precision: str,
    seq_len: int | None = None,
    mfu: float | None = None,
    full_run: bool = False,
    quote: Quote | None = None,
    global_batch_tokens: float = 4 * 2**20,
) -> dict[str, Any]:
    _positive("--tokens", tokens)
    _positive("--chips", target.chips)
    if mfu is not None and not 0 < mfu <= 1:
        raise HwprofError(f"--mfu must be between 0 and 1 (a fraction of peak), got {mfu:g}")
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
        "cost": _cost(quote, target, hours),
        "energy": _energy(target, hours),
        "rests_on": _rests_on(target, peak, training=True),
    }
    if result["cost"]:
        result["cost_usd"] = result["cost"]["cost_usd"]
    if result["energy"]:
        result["energy_kwh"] = result["energy"]["energy_kwh"]
    result["binding"] = "compute" if result["communication"]["comm_to_compute"] <= 1 else "communication"
    return result


def _train_comm(shape: Shape, target: Target, batch_tokens: float, flops_per_token: float, peak: float,
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


def _rests_on(target: Target, peak: model.Figure, training: bool = False) -> list[str]:
    chip = target.chip
    used = [("peak", peak), ("memory_bandwidth_tbps", chip.memory_bandwidth_tbps), ("memory", chip.memory),
            ("tdp_w", chip.tdp_w)]  # fmt: skip
    if training:
        used.append(("training_efficiency", chip.training_efficiency))
    if target.scale_up:
        used.append((target.scale_up.id, target.scale_up.bandwidth_per_chip_gb_s))
    return [f"{name}: {f.status}" for name, f in used if f is not None]


def estimate_serve(
    shape: Shape,
    target: Target,
    precision: str,
    kv_precision: str,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    quote: Quote | None = None,
) -> dict[str, Any]:
    for name, value in (("--batch", batch), ("--input-tokens", input_tokens), ("--output-tokens", output_tokens),
                        ("--chips", target.chips)):  # fmt: skip
        _positive(name, value)
    chip, chips = target.chip, target.chips
    bytes_w = model.BYTES_PER_ELEMENT.get(precision)
    bytes_kv = model.BYTES_PER_ELEMENT.get(kv_precision)
    if bytes_w is None or bytes_kv is None:
        bad = precision if bytes_w is None else kv_precision
        raise HwprofError(f"unknown precision {bad!r}; known: {', '.join(model.BYTES_PER_ELEMENT)}")
    compute_precision = precision if precision in chip.peak_dense_tflops else "bf16"
    peak = peak_tflops(chip, compute_precision)
    flop_rate = chips * peak.value * 1e12
    bandwidth = chips * chip.memory_bandwidth_tbps.value * 1e12
    weights = shape.params * bytes_w
    kv_elements = shape.kv_elements_per_token()
    kv_per_token = (kv_elements or 0.0) * bytes_kv
    usable = chips * chip.memory_bytes * USABLE_MEMORY_FRACTION
    if weights > usable:
        need = math.ceil(weights / (chip.memory_bytes * USABLE_MEMORY_FRACTION))
        raise HwprofError(f"{shape.name} in {precision} ({weights / 1e9:,.0f} GB of weights) does not fit on "
                          f"{chips} x {chip.id}: it needs at least {need} chips")  # fmt: skip
    per_sequence = kv_per_token * (input_tokens + output_tokens)
    max_batch = math.floor((usable - weights) / per_sequence) if per_sequence else None
    if max_batch is not None and batch > max_batch:
        raise HwprofError(f"--batch {batch}: the KV cache of {batch} sequences of {input_tokens + output_tokens} "
                          f"tokens does not fit beside the weights on {chips} x {chip.id}; the largest batch is "
                          f"{max_batch}")  # fmt: skip

    # Prefill: one request's prompt, compute-bound.
    prefill_flops = input_tokens * shape.forward_flops_per_token(input_tokens / 2)
    prefill_compute = prefill_flops / (flop_rate * eff.PREFILL_COMPUTE_FRACTION.value)
    prefill_comm = _tp_comm(shape, target, tokens=input_tokens)
    ttft = prefill_compute + prefill_comm

    # Decode: one step makes one token for each of `batch` sequences.
    context = input_tokens + output_tokens / 2
    touched = 1.0
    if shape.params > shape.active_params:  # mixture of experts: experts used by at least one sequence
        active_share = shape.active_params / shape.params
        touched = active_share + (1 - active_share) * (1 - (1 - active_share) ** batch)
    read_bytes = weights * touched + batch * context * kv_per_token
    memory_s = read_bytes / (bandwidth * eff.MEMORY_BANDWIDTH_FRACTION.value)
    compute_s = batch * shape.forward_flops_per_token(context) / (flop_rate * eff.DECODE_COMPUTE_FRACTION.value)
    comm_s = _tp_comm(shape, target, tokens=batch)
    step = max(memory_s, compute_s) + comm_s
    # Continuous batching: on average batch/output_tokens prompts join each step.
    batched_prefill = prefill_flops / (flop_rate * eff.BATCHED_PREFILL_COMPUTE_FRACTION.value) + prefill_comm
    interleaved = batched_prefill * batch / output_tokens if batch > 1 else 0.0
    tpot = step + interleaved
    binding = "memory bandwidth" if memory_s >= compute_s else "compute"
    if comm_s > max(memory_s, compute_s):
        binding = "communication"
    spread = eff.RANGE.value
    tokens_per_s = batch / tpot
    result: dict[str, Any] = {
        "kind": "serve",
        "inputs": {
            "model": shape.name,
            "model_source": shape.source,
            "params": shape.params,
            "active_params": shape.active_params,
            "target": target.label,
            "chip": chip.id,
            "chips": chips,
            "precision": precision,
            "kv_precision": kv_precision,
            "batch": batch,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        },  # fmt: skip
        "precision_basis": f"dense {compute_precision} peak, {peak.value:g} TFLOPS per chip ({peak.status})",
        "ttft_s": span(ttft, ttft * (1 - spread), ttft * (1 + spread)),
        "tpot_s": span(tpot, tpot * (1 - spread), tpot * (1 + spread)),
        "tokens_per_s": span(tokens_per_s, tokens_per_s / (1 + spread), tokens_per_s / (1 - spread)),
        "tokens_per_s_per_chip": tokens_per_s / chips,
        "binding": binding,
        "breakdown": {
            "prefill_compute_s": prefill_compute,
            "prefill_comm_s": prefill_comm,
            "decode_memory_s": memory_s,
            "decode_compute_s": compute_s,
            "decode_comm_s": comm_s,
            "decode_prefill_interleave_s": interleaved,
            "bytes_read_per_step": read_bytes,
        },  # fmt: skip
        "memory": {
            "weights_bytes": weights,
            "kv_cache_bytes": batch * per_sequence,
            "kv_bytes_per_token": kv_per_token,
            "usable_bytes": usable,
            "max_batch": max_batch,
        },  # fmt: skip
        "assumptions": {
            "memory_bandwidth_fraction": eff.MEMORY_BANDWIDTH_FRACTION.value,
            "prefill_compute_fraction": eff.PREFILL_COMPUTE_FRACTION.value,
            "batched_prefill_compute_fraction": eff.BATCHED_PREFILL_COMPUTE_FRACTION.value,
            "decode_compute_fraction": eff.DECODE_COMPUTE_FRACTION.value,
            "collective_latency_us": eff.COLLECTIVE_LATENCY_US.value,
            "parallelism": f"tensor parallel over all {chips} chips",
            "batching": "continuous: each decode step also carries batch/output_tokens prompts"
            if batch > 1
            else "one request at a time",
            "sources": [
                eff.MEMORY_BANDWIDTH_FRACTION.why,
                eff.PREFILL_COMPUTE_FRACTION.why,
                eff.BATCHED_PREFILL_COMPUTE_FRACTION.why,
                eff.COLLECTIVE_LATENCY_US.why,
            ],
        },  # fmt: skip
        "rests_on": _rests_on(target, peak),
    }
    if quote is not None and target.system is not None:
        usd_per_hour = quote.usd_per_hour * chips / target.system.chips
        per_million = {k: usd_per_hour / (v * 3600) * 1e6 for k, v in result["tokens_per_s"].items()}
        result["cost_usd_per_million_tokens"] = span(per_million["expected"], per_million["high"], per_million["low"])
        result["cost"] = {"usd_per_hour": usd_per_hour, "price": quote.as_json(), "warnings": quote.warnings()}
    return result


def _tp_comm(shape: Shape, target: Target, tokens: float) -> float:
    """Tensor-parallel all-reduces: two per layer, each log2(p) latency steps plus a ring's bytes."""
    p = target.chips
    if p <= 1 or not shape.layers or not shape.hidden:
        return 0.0
    link = target.scale_up or target.scale_out
    if link is None:
        return 0.0
    message = tokens * shape.hidden * 2  # 16-bit activations
    ring = 2 * (p - 1) / p * message / (link.per_direction_gb_s * 1e9)
    latency = math.ceil(math.log2(p)) * eff.COLLECTIVE_LATENCY_US.value * 1e-6
    return 2 * shape.layers * (latency + ring)
