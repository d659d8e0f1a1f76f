"""Picks from results: a plan's row or deployment, or an estimate, as the ``TrainPick`` or ``ServePick``
the launch formats take, and the pick re-estimated alone (its breakdown for the report, and the
sequences its KV cache holds for a serving engine's limit). The registry comes from the session
(``hwprof.service``), as every command's does."""

from __future__ import annotations

from typing import Any

import attrs

from .. import emit
from ..errors import HwprofError
from ..service import estimate as service_estimate
from ..service.session import current_registry
from ..service.stacks import published_chips
from .base import Emitter, ServePick, TrainPick


def plugin_emitters() -> list[Emitter]:
    """Emitters plugins register (``hwprof_register_emitters``); a plugin whose hook fails is skipped
    with a warning, as one whose commands fail."""
    from ..data import plugin_calls, registry
    from ..service.session import current as session
    from ..service.session import warn

    manager = registry.modules(session().settings()).manager
    found: list[Any] = []
    for impl in manager.hook.hwprof_register_emitters.get_hookimpls():
        call = plugin_calls.caller_for(manager, "hwprof_register_emitters", impl.plugin)
        result, failure = plugin_calls.contained(impl.plugin_name, "hwprof_register_emitters", call)
        if failure:
            warn(f"plugin {impl.plugin_name!r} could not register its launch formats: {failure}")
            continue
        for answer in result or ():  # one answer per implementation
            found += [e for e in answer or () if isinstance(e, Emitter)]
    return found


def write(name: str, kind: str, pick: Any) -> Any:
    """The pick in framework ``name``'s terms, plugins' formats included."""
    return emit.write(name, kind, pick, plugin_emitters())


def nodes_of(system: Any, cluster: Any) -> int:
    """Chips per launch node: a system's chips, or (bare chips) their scale-up domain."""
    if system is not None:
        return int(system.chips)
    return int(getattr(cluster, "scale_up_domain", 0) or cluster.chips)


def train_pick(work: Any, lay: Any, seq_len: int, batch_seqs: int, precision: str, chips: int,
               chips_per_node: int, ranks_per_chip: int, summary: tuple[str, ...]) -> Any:  # fmt: skip
    return TrainPick(work, lay, seq_len, batch_seqs, precision, chips, chips_per_node, ranks_per_chip, summary)


def train_plan_pick(work: Any, row: Any, precision: str, tokens: float) -> Any:
    """A plan row as a TrainPick: its layout, batch and sequence, the system's chips per node."""
    registry = current_registry()
    system = registry.system(row.system)
    cost = f", {row.cost_usd.expected:,.0f} USD" if row.cost_usd else ""
    summary = (f"{work.id}, {tokens:.3g} tokens, {precision}: {row.count} x {row.system} ({row.chips} chips), "
               f"layout {row.layout}",
               f"hwprof estimate: {row.time_s.expected / 86400:,.1f} days expected "
               f"({row.time_s.low / 86400:,.1f} to {row.time_s.high / 86400:,.1f}){cost}")  # fmt: skip
    return train_pick(work, row.layout_fields, row.seq_len, row.global_batch_seqs, precision, row.chips, system.chips,
                      row.ranks_per_chip, summary)  # fmt: skip


def reestimate(work: Any, row: Any, precision: str, tokens: float) -> Any:  # fmt: skip
    """A plan's pick estimated alone, as the plan did (same batch and stack, the searched layouts' range):
    the same figures, with the step breakdown and what the range rests on."""
    from ..perf import ranges
    from ..perf.cluster import cluster_for
    from ..perf.train import training
    from ..service import stacks

    registry, published = current_registry(), published_chips("train")
    system = registry.system(row.system)
    cluster = cluster_for(registry.chip(system.chip), row.chips, system, registry.interconnects)
    stack = None if row.stack == stacks.default(cluster.chip, "train") else row.stack or None
    request = training.TrainRequest(work, cluster, tokens, precision, stack=stack, seq_len=row.seq_len or None,
                                    global_batch_seqs=row.global_batch_seqs)  # fmt: skip
    job = training.make_job(request, registry.interconnects)
    own = ranges.own_stacks(registry.validation_cases.values(), "train")
    band = training.band_for(job, cluster.chip, published, True, stack or "", own)
    return training.estimate_train(request, registry.interconnects, row.layout_fields,
                                   training.Evidence(published, own, band))  # fmt: skip


def train_estimate_pick(work: Any, result: Any, target: Any) -> Any:
    if result.step is None:
        raise HwprofError("no layout to emit: this estimate was given a utilisation (--mfu) or a shapeless model, "
                          "not a layout; give --model with a known shape")  # fmt: skip
    i = result.inputs
    summary = (f"{i.model}, {i.tokens:.3g} tokens, {i.precision}: {i.target}, layout {result.layout}",
               f"hwprof estimate: {result.time_days.expected:,.1f} days expected "
               f"({result.time_days.low:,.1f} to {result.time_days.high:,.1f})")  # fmt: skip
    return train_pick(work, result.layout_fields, i.seq_len, i.global_batch_seqs, i.precision, i.chips,
                      nodes_of(target.system, target), i.ranks_per_chip, summary)  # fmt: skip


def serve_pick(work: Any, lay: Any, max_num_seqs: int, input_tokens: int, output_tokens: int, chips: int,
               chips_per_node: int, ranks_per_chip: int, summary: tuple[str, ...]) -> Any:  # fmt: skip
    return ServePick(work, lay.tp, lay.pp, lay.dp, lay.weights, lay.kv_cache, max_num_seqs,
                     input_tokens + output_tokens, lay.chunk_tokens, chips, chips_per_node, lay.ep, lay.adp,
                     lay.prefill, ranks_per_chip, summary)  # fmt: skip


def serve_plan_estimate(work: Any, d: Any, rate: float, input_tokens: int, output_tokens: int,
                        stack: str | None = None) -> tuple[list[Any], Any]:  # fmt: skip
    """The plan's pick re-estimated one at a time: (its layouts, the estimate). One layout for an
    aggregated deployment (a ServeEstimate), the prefill and the decode pool's for a disaggregated one
    (a DisaggEstimate). Their KV caches set how many sequences each engine must allow; the breakdown
    feeds the report. ``stack``: the serving stack the plan assumed (None: the chip's default)."""
    from ..perf.cluster import cluster_for
    from ..perf.serve import disagg, search, serving
    from ..service import stacks

    registry, published = current_registry(), published_chips("serve")
    system = registry.system(d.system)
    chip = registry.chip(system.chip)
    traffic = serving.Traffic(input_tokens, output_tokens, rate_per_s=rate)
    stack = None if stack == stacks.default(chip, "serve") else stack  # the default: as an estimate without one
    if getattr(d, "kind", "aggregated") == "disaggregated":
        prefill, decode = search.deployment_pools(d, system, chip, registry.interconnects)
        band = None
        if stack is not None:  # both pools on the plan's stack, its range as the plan judged it
            on = stacks.serving(chip, stack)
            prefill, decode, band = attrs.evolve(prefill, stack=on), attrs.evolve(decode, stack=on), (
                stacks.serve_band(chip, stack))  # fmt: skip
        result = disagg.estimate_disaggregated(work, prefill, decode, traffic, registry.interconnects,
                                               stacks.serve_constants(), band, published_chips=published)  # fmt: skip
        return [prefill.layout, decode.layout], result
    cluster = cluster_for(chip, d.chips, system, registry.interconnects)
    return [d.layout_fields], service_estimate.serve(work, cluster, d.layout_fields, traffic, stack=stack)


def serve_plan_pick(work: Any, d: Any, layouts: list[Any], estimate: Any, rate: float, input_tokens: int,
                    output_tokens: int) -> Any:  # fmt: skip
    registry = current_registry()
    system = registry.system(d.system)
    cost = f", {d.usd_per_hour:,.2f} USD/h" if d.usd_per_hour is not None else ""
    summary = (f"{work.id} at {rate:g} requests/s, {input_tokens:,} in / {output_tokens:,} out: {d.count} x "
               f"{d.system} ({d.chips} chips), layout {d.layout}, {d.weights} weights, {d.kv_cache} KV cache",
               f"hwprof estimate: TTFT p90 {d.ttft_p90_s * 1e3:,.0f} ms, TPOT p90 {d.tpot_p90_s * 1e3:,.1f} ms{cost}")  # fmt: skip
    ranks = _ranks(registry.chip(system.chip))
    if len(layouts) == 1:
        return serve_pick(work, layouts[0], estimate.memory.max_batch_per_replica, input_tokens, output_tokens,
                          d.chips, system.chips, ranks, summary)  # fmt: skip
    pools = tuple(
        attrs.evolve(serve_pick(work, lay, figures.max_batch_per_worker, input_tokens, output_tokens, lay.chips,
                                system.chips, ranks, summary), role=figures.role)
        for lay, figures in zip(layouts, (estimate.prefill, estimate.decode), strict=True)
    )  # fmt: skip
    return attrs.evolve(pools[1], role="", pools=pools, chips=d.chips)


def _ranks(chip: Any) -> int:
    return int(chip.ranks_per_chip.value) if getattr(chip, "ranks_per_chip", None) else 1


def serve_estimate_pick(work: Any, lay: Any, result: Any, target: Any, max_batch: int | None) -> Any:
    seqs = (
        result.memory.max_batch_per_replica
        if max_batch is None
        else min(max_batch, result.memory.max_batch_per_replica)
    )
    summary = (f"{result.model}: {result.target}, layout {result.layout}, {result.weights} weights, "
               f"{result.kv_cache} KV cache; {result.traffic}",
               f"hwprof estimate: TTFT p90 {result.ttft_p90_s * 1e3:,.0f} ms, TPOT p90 {result.tpot_p90_s * 1e3:,.1f} ms")  # fmt: skip
    return serve_pick(work, lay, seqs, result.input_tokens, result.output_tokens, result.chips,
                      nodes_of(target.system, target), _ranks(target.chip), summary)  # fmt: skip
