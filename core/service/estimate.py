"""One workload on one target: a training run or a serving deployment, with the published results
that back the chip's efficiency passed to the models (they decide how wide the range is)."""

from __future__ import annotations

from typing import Any

import attrs

from ..data import records
from ..errors import HwprofError
from .session import current_registry, warn
from .stacks import published_chips


def overrides(target: Any) -> list[str]:
    """What of ``target`` (its chip, system, interconnects) an ``override = true`` record replaced, one
    sentence each: said in every estimate it touches, as a warning and in the result's notes."""
    r = current_registry()
    touched = [("chips", target.chip.id), *([("systems", target.system.id)] if target.system is not None else []),
               *(("interconnects", t.interconnect) for t in (target.system.tiers if target.system else ()))]  # fmt: skip
    said = []
    for attribute, key in touched:
        if (attribute, key) in r.overridden:
            said.append(f"{attribute[:-1]} {key!r} comes from {r.provider(attribute, key)}, which overrides the one "
                        f"from {r.overridden[(attribute, key)]} (override = true)" + ("; the published runs of the "
                        "replaced chip do not count as its calibration evidence" if attribute == "chips" else ""))  # fmt: skip
    return said


def _said(result: Any, target: Any) -> Any:
    """``result`` with the overrides it rests on in its notes (and warned)."""
    said = overrides(target)
    for text in said:
        warn(text)
    field = "notes" if hasattr(result, "notes") else "assumptions"  # training's notes, serving's assumptions
    if said and hasattr(result, field):
        result = attrs.evolve(result, **{field: (*getattr(result, field), *said)})
    return result


def finite(result: Any, inputs: str) -> Any:
    """``result``, or one HwprofError when any figure in it is not a finite number: the inputs were too
    extreme for float arithmetic (a utilisation of 1e-300, say), and an infinite time is no answer."""
    import math

    def first_bad(value: Any, path: str) -> str:
        if isinstance(value, float):
            return "" if math.isfinite(value) else f"{path} = {value}"
        if attrs.has(type(value)):
            items: Any = ((f.name, getattr(value, f.name)) for f in attrs.fields(type(value)))
        elif isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list | tuple):
            items = enumerate(value)
        else:
            return ""
        for key, item in items:
            if found := first_bad(item, f"{path}.{key}" if path else str(key)):
                return found
        return ""

    if bad := first_bad(result, ""):
        raise HwprofError(f"the estimate is not a finite number ({bad}): {inputs} too extreme to compute with; "
                          "check the values given")  # fmt: skip
    return result


def fits_at_all(work: records.Workload, target: Any) -> None:
    """Refuse a run whose weights, gradients and optimizer state cannot fit even spread evenly over every
    chip (``perf.train.memory``: 2 + 2 + 12 bytes per parameter at the least, with 16-bit gradients,
    fully sharded), before activations: what an estimate with no layout (a given ``mfu``, a model
    known by ``params``) must still pass."""
    from ..perf.train.job import Constants
    from ..perf.train.memory import OPTIMIZER_BYTES, WEIGHT_BYTES

    least = work.params * (WEIGHT_BYTES + 2 + OPTIMIZER_BYTES) / target.chips
    usable = target.chip.memory_bytes * attrs.fields(Constants).usable_memory.default
    if least > usable:
        need = -(-work.params * (WEIGHT_BYTES + 2 + OPTIMIZER_BYTES) // usable)
        raise HwprofError(f"{work.id} does not fit {target.label}: its weights, gradients and optimizer state alone "
                          f"need {least / 2**30:,.0f} GiB per chip even fully sharded ({WEIGHT_BYTES + 2 + OPTIMIZER_BYTES} "
                          f"bytes per parameter over {target.chips:,} chips), {usable / 2**30:,.0f} GiB is usable; "
                          f"use at least {need:,.0f} chips")  # fmt: skip


def train(work: records.Workload, target: Any, tokens: float, *, precision: str = "bf16", layout: str | None = None,
          seq_len: int | None = None, full_run: bool = False, quote: Any = None,
          global_batch_seqs: int | None = None, cross_domain: bool = False, mfu: float | None = None,
          stack: str | None = None) -> Any:  # fmt: skip
    """A training run's time, memory, cost and energy on ``target`` (``perf.train.training``), on the
    chip's default software stack or ``stack``."""
    from ..perf import ranges
    from ..perf.train import training
    from ..perf.train.job import Recipe
    from . import stacks

    r = current_registry()
    stack = stacks.checked(stack, "train")
    if mfu is not None or layout is None and not (work.layers and work.hidden and work.heads):
        fits_at_all(work, target)  # no layout model runs: the state alone must still fit
    # parsed once, here, where the chips it counts are known; the typed layout goes on to the model
    lay = training.layout_of(layout, target) if layout is not None and mfu is None else None
    request = training.TrainRequest(work, target, tokens, precision, full_run, quote, stack, seq_len, global_batch_seqs)
    evidence = training.Evidence(published_chips("train"), ranges.own_stacks(r.validation_cases.values(), "train"))
    result = training.estimate_train(request, r.interconnects, lay, evidence, mfu, Recipe(cross_domain=cross_domain))
    said = f"tokens {tokens:g}" + (f" with utilisation {mfu:g}" if mfu is not None else "") + " are"
    return _said(finite(result, said), target)


def serve_layout(work: records.Workload, target: Any, layout: str | None, precision: str, kv_precision: str,
                 chunk_tokens: int) -> Any:  # fmt: skip
    """The serving layout the user gave, or the default one (stated in the result's assumptions)."""
    from ..perf.serve import layout as serve_layouts

    if chunk_tokens < 1:
        raise HwprofError(f"the chunked-prefill budget must be at least 1 token, got {chunk_tokens}")
    if layout is not None:
        lay = serve_layouts.parse(layout, target.chips, precision, kv_precision)
    else:
        lay = serve_layouts.default_layout(target, precision, kv_precision, work.heads)
    return attrs.evolve(lay, chunk_tokens=chunk_tokens)


def serve(work: records.Workload, target: Any, lay: Any, traffic: Any, quote: Any = None,
          stack: str | None = None) -> Any:  # fmt: skip
    """Latency, throughput, memory and cost of ``lay`` on ``target`` under ``traffic`` (``perf.serve.serving``),
    on the chip's default serving stack or ``stack`` (``service.stacks``)."""
    from . import stacks

    result = on_stack(work, target, lay, traffic, quote, stacks.checked(stack, "serve"))
    return _said(finite(result, "the traffic and shape given are"), target)


def on_stack(work: records.Workload, target: Any, lay: Any, traffic: Any, quote: Any, stack: str | None) -> Any:
    """A serving estimate on ``stack`` (checked; None: the chip's default), naming the stack and what it
    rests on: its fixed costs (``stacks.serving``) and its range's evidence class (``stacks.evidence``)."""
    from ..perf.serve import serving
    from . import stacks

    chip = target.chip
    cls = stacks.evidence(chip, "serve", stack)
    result = serving.estimate_serve(work, target, lay, traffic, quote, band=stacks.serve_band(chip, stack),
                                    published_chips=published_chips("serve"), stack=stacks.serving(chip, stack))  # fmt: skip
    return attrs.evolve(result, stack=stack or stacks.default(chip, "serve"),
                        stack_basis=stacks.serve_basis(chip, stack, cls))  # fmt: skip


def peak(target: Any) -> dict[str, Any]:
    """Aggregate peaks (dense and sparse per precision), memory, bandwidth and power of ``target``."""
    from ..perf.aggregate import aggregate_chips, aggregate_system

    if target.system is not None:
        return aggregate_system(target.system, target.chip, current_registry().interconnects,
                                target.chips // target.system.chips)  # fmt: skip
    return {"system": f"{target.chips} x {target.chip.id}", "systems": 1, **aggregate_chips(target.chip, target.chips),
            "tiers": [], "scale_up_domain_chips": 1, "claims": []}  # fmt: skip


def serve_options(spec_tokens: int = 0, spec_accepted: float | None = None, prefix_cached: float = 0.0) -> Any:
    """Speculative decoding (``spec_tokens`` drafted per step, ``spec_accepted`` tokens emitted per step on
    average) and prefix caching (``prefix_cached``: the share of each prompt already cached)."""
    from ..perf.serve import options

    if spec_tokens < 0 or spec_tokens > 16:
        raise HwprofError("draft 0 to 16 tokens per step", subject="spec_tokens", value=spec_tokens)
    if spec_tokens and spec_accepted is None:
        raise HwprofError(f"give `spec_accepted`: the tokens one step emits on average, 1 to {spec_tokens + 1} (the "
                          "verified token included; e.g. 2.3 for two drafts mostly accepted)",
                          subject="spec_tokens", value=spec_tokens)  # fmt: skip
    if spec_accepted is not None and not 1 <= spec_accepted <= spec_tokens + 1:
        raise HwprofError(f"tokens emitted per step are 1 to `spec_tokens` + 1 = {spec_tokens + 1}",
                          subject="spec_accepted", value=spec_accepted)  # fmt: skip
    if not 0 <= prefix_cached < 1:
        raise HwprofError("the share of each prompt already cached is 0 to below 1 (e.g. 0.5)",
                          subject="prefix_cached", value=prefix_cached)  # fmt: skip
    return options.ServeOptions(draft_tokens=spec_tokens, accepted_per_step=spec_accepted or 1.0,
                                cached_share=prefix_cached)  # fmt: skip


def serve_disaggregated(work: records.Workload, target: Any, prefill_layout: str, layout: str | None,
                        decode_system: str | None, traffic: Any, *, precision: str = "bf16",
                        kv_precision: str = "bf16", chunk_tokens: int = 8192, cost_model: str | None = None,
                        purchase: str = "on-demand", region: str | None = None, stack: str | None = None) -> Any:  # fmt: skip
    """A prefill pool (``prefill_layout``, its ``dp`` the workers, default 1) on ``target``'s system handing
    prompts to a decode pool (``layout``, default: tensor parallel over one scale-up domain) on
    ``decode_system`` (default the same); with one kind of system the decode workers fill what the
    prefill pool leaves of ``target``, on another one system of it (``perf.serve.disagg``)."""
    from ..perf import cluster as clusters
    from ..perf.serve import disagg
    from ..perf.serve import layout as serve_layouts
    from . import stacks
    from .costs import quote_for

    r = current_registry()
    if chunk_tokens < 1:
        raise HwprofError(f"the chunked-prefill budget must be at least 1 token, got {chunk_tokens}")
    stack = stacks.checked(stack, "serve")
    if stack is not None and stack != stacks.default(target.chip, "serve"):
        raise HwprofError("disaggregated pools run on their chips' default serving stacks: leave out `stack` or "
                          f"use {stacks.default(target.chip, 'serve') or 'none'}", subject="stack", value=stack)  # fmt: skip
    pre = serve_layouts.parse(prefill_layout, 0, precision, kv_precision, dp=1)  # one worker unless it says
    pre = attrs.evolve(pre, chunk_tokens=chunk_tokens)
    if target.system is None:
        raise HwprofError("disaggregated serving needs `system` (the prefill pool's), not a bare chip")
    if pre.chips > target.chips:
        raise HwprofError(f"the prefill pool {pre} needs {pre.chips} chips; the hardware has {target.chips}",
                          subject="prefill_layout", value=prefill_layout)  # fmt: skip
    prefill_target = clusters.cluster_for(target.chip, pre.chips, target.system, r.interconnects)
    system = r.system(decode_system) if decode_system else target.system
    chip = r.chip(system.chip)
    room = target.chips - pre.chips if system.id == target.system.id else system.chips
    if room < 1:
        raise HwprofError(f"the prefill pool takes all {target.chips} chips: no room for decode workers; add "
                          "`count` or give `decode_system`")  # fmt: skip
    if layout is not None:
        dec = serve_layouts.parse(layout, room, precision, kv_precision)
    else:
        whole = clusters.cluster_for(chip, room, system, r.interconnects)
        dec = serve_layouts.default_layout(whole, precision, kv_precision, work.heads)
    if system.id == target.system.id and pre.chips + dec.chips > target.chips:
        raise HwprofError(f"prefill {pre.chips} chips + decode {dec.chips} chips is more than the {target.chips} of "
                          "the hardware; add `count` or shrink a pool", subject="layout", value=layout)  # fmt: skip
    decode_target = clusters.cluster_for(chip, dec.chips, system, r.interconnects)
    pools = []
    for lay, pool_target in ((pre, prefill_target), (dec, decode_target)):
        quote = quote_for(cost_model, pool_target, purchase, region)
        pools.append(disagg.Pool(pool_target, attrs.evolve(lay, chunk_tokens=chunk_tokens), quote))
    return disagg.estimate_disaggregated(work, pools[0], pools[1], traffic, r.interconnects, stacks.serve_constants(),
                                         published_chips=published_chips("serve"))  # fmt: skip
