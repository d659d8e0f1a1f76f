"""Serving estimates: time to first token, time per output token, throughput and cost per token
for one batch shape on a target.
"""

from __future__ import annotations

import math
from typing import Any

from hwprof.core.cost.pricing import Quote
from hwprof.core.data import records
from hwprof.core.errors import HwprofError
from hwprof.core.perf import efficiency as eff
from hwprof.core.perf.cluster import USABLE_MEMORY_FRACTION, Cluster, check_positive, peak_tflops, rests_on, span
from hwprof.core.perf.shape import Shape


def estimate_serve(
    shape: Shape,
    target: Cluster,
    precision: str,
    kv_precision: str,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    quote: Quote | None = None,
) -> dict[str, Any]:
    for name, value in (("--batch", batch), ("--input-tokens", input_tokens), ("--output-tokens", output_tokens),
                        ("--chips", target.chips)):  # fmt: skip
        check_positive(name, value)
    chip, chips = target.chip, target.chips
    bytes_w = records.BYTES_PER_ELEMENT.get(precision)
    bytes_kv = records.BYTES_PER_ELEMENT.get(kv_precision)
    if bytes_w is None or bytes_kv is None:
        bad = precision if bytes_w is None else kv_precision
        raise HwprofError(f"unknown precision {bad!r}; known: {', '.join(records.BYTES_PER_ELEMENT)}")
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
        raise HwprofError(f"the KV cache of {batch} sequence{'s' if batch != 1 else ''} of {input_tokens + output_tokens} "
                          f"tokens does not fit beside the weights on {chips} x {chip.id}; the largest batch is "
                          f"{max_batch}", subject="batch", value=batch)  # fmt: skip

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
        "rests_on": rests_on(target, peak),
    }
    if quote is not None and target.system is not None:
        usd_per_hour = quote.usd_per_hour * chips / target.system.chips
        per_million = {k: usd_per_hour / (v * 3600) * 1e6 for k, v in result["tokens_per_s"].items()}
        result["cost_usd_per_million_tokens"] = span(per_million["expected"], per_million["high"], per_million["low"])
        result["cost"] = {"usd_per_hour": usd_per_hour, "price": quote.as_json(), "warnings": quote.warnings()}
    return result


def _tp_comm(shape: Shape, target: Cluster, tokens: float) -> float:
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
