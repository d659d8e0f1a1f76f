"""``--emit FRAMEWORK`` and ``--report FILE.html`` on the plan and estimate commands: the pick as the
framework's own launch arguments (``hwprof.emit``), and the plan as one page to share (``hwprof.report``).

With ``--emit`` the launch text goes to stdout instead of the table (the header comments say what the pick
is, so the file stands alone); with ``--json`` the JSON gets a ``launch`` object instead. ``--report``
writes the page besides whatever is printed, atomically, refusing to replace a file without ``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import attrs
import typer

from hwprof.cli.groups import OptionGroup
from hwprof.errors import HwprofError

TRAIN_NAMES = "megatron, bridge, torchtitan"
SERVE_NAMES = "vllm, sglang, trtllm"

EmitOpt = Annotated[str | None, typer.Option(
    "--emit", metavar="FRAMEWORK",
    help=f"Print the pick as a framework's launch arguments or config instead of the table: {TRAIN_NAMES} "
         f"(training); {SERVE_NAMES} (serving); plugins add more (an unknown name lists them). Each says the "
         "version it targets and what it cannot express.")]  # fmt: skip
ReportOpt = Annotated[Path | None, typer.Option(
    "--report", metavar="FILE.html", dir_okay=False,
    help="Also write the plan as one self-contained HTML page: the question, the pick and its launch "
         "arguments, charts, every figure's source, the range, the prices and their dates.")]  # fmt: skip
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --report file.")]


@attrs.frozen
class LaunchOptions(OptionGroup):
    """--emit FRAMEWORK and --report FILE.html (with --force)."""

    emit: EmitOpt = None
    report: ReportOpt = None
    force: ForceOpt = False


def plugin_emitters() -> list[Any]:
    """Emitters plugins register (``hwprof_register_emitters``); a plugin whose hook fails is skipped
    with a warning, as one whose commands fail."""
    from hwprof.cli.common import warn_once
    from hwprof.data import plugin_calls, registry
    from hwprof.emit import Emitter
    from hwprof.service.session import current as session

    manager = registry.modules(session().settings()).manager
    found: list[Any] = []
    for impl in manager.hook.hwprof_register_emitters.get_hookimpls():
        call = plugin_calls.caller_for(manager, "hwprof_register_emitters", impl.plugin)
        result, failure = plugin_calls.contained(impl.plugin_name, "hwprof_register_emitters", call)
        if failure:
            warn_once(f"plugin {impl.plugin_name!r} could not register its launch formats: {failure}")
            continue
        for answer in result or ():  # one answer per implementation
            found += [e for e in answer or () if isinstance(e, Emitter)]
    return found


def write_launch(name: str, kind: str, pick: Any) -> Any:
    from hwprof import emit

    return emit.write(name, kind, pick, plugin_emitters())


def as_json(emitted: Any) -> dict[str, Any]:
    return {"framework": emitted.framework, "targets": emitted.targets, "args": list(emitted.args),
            "not_expressed": list(emitted.not_expressed), "text": emitted.text}  # fmt: skip


def show(fmt: str, data: dict[str, Any], emitted: Any | None) -> bool:
    """Print the launch text instead of the table (True), or add it to the JSON the caller prints."""
    if emitted is None:
        return False
    if fmt == "json":
        data["launch"] = as_json(emitted)
        return False
    typer.echo(emitted.text, nl=False)
    return True


def nodes_of(system: Any, cluster: Any) -> int:
    """Chips per launch node: a system's chips, or (bare chips) their scale-up domain."""
    if system is not None:
        return int(system.chips)
    return int(getattr(cluster, "scale_up_domain", 0) or cluster.chips)


def train_pick(work: Any, layout_text: str, seq_len: int, batch_seqs: int, precision: str, chips: int,
               chips_per_node: int, ranks_per_chip: int, summary: tuple[str, ...]) -> Any:  # fmt: skip
    from hwprof.emit import TrainPick
    from hwprof.perf.train import layout

    lay = layout.parse(layout_text, chips * ranks_per_chip)
    return TrainPick(work, lay, seq_len, batch_seqs, precision, chips, chips_per_node, ranks_per_chip, summary)


def train_plan_pick(work: Any, row: Any, precision: str, registry: Any, tokens: float) -> Any:
    system = registry.system(row.system)
    cost = f", {row.cost_usd.expected:,.0f} USD" if row.cost_usd else ""
    summary = (f"{work.id}, {tokens:.3g} tokens, {precision}: {row.count} x {row.system} ({row.chips} chips), "
               f"layout {row.layout}",
               f"hwprof estimate: {row.time_s.expected / 86400:,.1f} days expected "
               f"({row.time_s.low / 86400:,.1f} to {row.time_s.high / 86400:,.1f}){cost}")  # fmt: skip
    return train_pick(work, row.layout, row.seq_len, row.global_batch_seqs, precision, row.chips, system.chips,
                      row.ranks_per_chip, summary)  # fmt: skip


def train_estimate_pick(work: Any, result: Any, target: Any) -> Any:
    if result.step is None:
        raise HwprofError("no layout to emit: this estimate was given a utilisation (--mfu) or a shapeless model, "
                          "not a layout; give --model with a known shape")  # fmt: skip
    i = result.inputs
    summary = (f"{i.model}, {i.tokens:.3g} tokens, {i.precision}: {i.target}, layout {result.layout}",
               f"hwprof estimate: {result.time_days.expected:,.1f} days expected "
               f"({result.time_days.low:,.1f} to {result.time_days.high:,.1f})")  # fmt: skip
    return train_pick(work, result.layout, i.seq_len, i.global_batch_seqs, i.precision, i.chips,
                      nodes_of(target.system, target), i.ranks_per_chip, summary)  # fmt: skip


def serve_pick(work: Any, lay: Any, max_num_seqs: int, input_tokens: int, output_tokens: int, chips: int,
               chips_per_node: int, ranks_per_chip: int, summary: tuple[str, ...]) -> Any:  # fmt: skip
    from hwprof.emit import ServePick

    return ServePick(work, lay.tp, lay.pp, lay.dp, lay.weights, lay.kv_cache, max_num_seqs,
                     input_tokens + output_tokens, lay.chunk_tokens, chips, chips_per_node, lay.ep, lay.adp,
                     lay.prefill, ranks_per_chip, summary)  # fmt: skip


def serve_plan_estimate(work: Any, d: Any, registry: Any, rate: float, input_tokens: int, output_tokens: int,
                        published: frozenset[str]) -> tuple[list[Any], Any]:  # fmt: skip
    """The plan's pick re-estimated one at a time: (its layouts, the estimate). One layout for an
    aggregated deployment (a ServeEstimate), the prefill and the decode pool's for a disaggregated one
    (a DisaggEstimate). Their KV caches set how many sequences each engine must allow; the breakdown
    feeds the report."""
    from hwprof.perf.cluster import cluster_for
    from hwprof.perf.serve import disagg, search, serving
    from hwprof.perf.serve import layout as sl

    system = registry.system(d.system)
    chip = registry.chip(system.chip)
    traffic = serving.Traffic(input_tokens, output_tokens, rate_per_s=rate)
    if getattr(d, "kind", "aggregated") == "disaggregated":
        prefill, decode = search.deployment_pools(d, system, chip, registry.interconnects)
        result = disagg.estimate_disaggregated(work, prefill, decode, traffic, registry.interconnects,
                                               published_chips=published)  # fmt: skip
        return [prefill.layout, decode.layout], result
    cluster = cluster_for(chip, d.chips, system, registry.interconnects)
    lay = attrs.evolve(sl.parse(d.layout, d.chips, d.weights, d.kv_cache), chunk_tokens=d.chunk_tokens)
    return [lay], serving.estimate_serve(work, cluster, lay, traffic, published_chips=published)


def serve_plan_pick(work: Any, d: Any, layouts: list[Any], estimate: Any, registry: Any, rate: float,
                    input_tokens: int, output_tokens: int) -> Any:  # fmt: skip
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


def write_report(path: Path, html: str, force: bool) -> None:
    from hwprof.cli.render import note
    from hwprof.data.files import write_atomic

    write_atomic(path, html, force=force)
    note(f"report written to {path}")


def _links(registry: Any, system: Any) -> list[Any]:
    return [registry.interconnects[t.interconnect] for t in system.tiers if t.interconnect in registry.interconnects]


def reestimate(work: Any, cluster: Any, registry: Any, tokens: float, precision: str, row: Any,
               published: frozenset[str]) -> Any:  # fmt: skip
    """A plan's pick estimated alone, as the plan did (same batch, the searched layouts' range): the same
    figures, with the step breakdown and what the range rests on."""
    from hwprof.perf.train import training

    job = training.make_job(
        work, cluster, registry.interconnects, precision, row.seq_len or None, row.global_batch_seqs
    )
    band = training.band_for(job, cluster.chip, published, searched=True)
    return training.estimate_train(work, cluster, registry.interconnects, tokens, precision, row.layout,
                                   row.seq_len or None, global_batch_seqs=row.global_batch_seqs, band=band,
                                   published_chips=published)  # fmt: skip


def after_train_plan(opts: LaunchOptions, fmt: str, data: dict[str, Any], result: Any, work: Any, precision: str,
                     registry: Any, tokens: float, question: list[str], deadline_days: float | None,
                     batch: int | None, published: frozenset[str]) -> bool:  # fmt: skip
    """--emit and --report after ``plan train``; True when the launch text was printed instead of the table."""
    if not (opts.emit or opts.report):
        return False
    chosen = result.cheapest or result.fastest
    emitted = None
    if chosen is not None:
        pick = train_plan_pick(work, chosen, precision, registry, tokens)
        emitted = write_launch(opts.emit or "megatron", "train", pick)
    elif opts.emit:
        raise HwprofError("no option meets the goal, so there is no pick to emit; the table without --emit lists "
                          "the nearest (loosen --deadline-days or --budget)")  # fmt: skip
    if opts.report:
        from hwprof.perf.cluster import cluster_for
        from hwprof.report.plans import train_page

        estimate = system = chip = None
        if chosen is not None:
            system = registry.system(chosen.system)
            chip = registry.chip(system.chip)
            cluster = cluster_for(chip, chosen.chips, system, registry.interconnects)
            estimate = reestimate(work, cluster, registry, tokens, precision, chosen, published)
        else:
            system = registry.system(result.options[0].system) if result.options else None
            chip = registry.chip(system.chip) if system else None
        html = train_page(question, result, chosen, estimate, emitted, chip, system,
                          _links(registry, system) if system else [], work, deadline_days)  # fmt: skip
        write_report(opts.report, html, opts.force)
    return show(fmt, data, emitted) if opts.emit else False


def after_serve_plan(opts: LaunchOptions, fmt: str, data: dict[str, Any], plan: Any, work: Any, registry: Any,
                     question: list[str], published: frozenset[str]) -> bool:  # fmt: skip
    """--emit and --report after ``plan serve``; True when the launch text was printed instead of the table."""
    if not (opts.emit or opts.report):
        return False
    chosen = next((s.best for s in plan.systems if s.system == plan.cheapest and s.best), None)
    if chosen is None:
        chosen = next((s.best for s in plan.systems if s.best), None)
    emitted = estimate = None
    if chosen is not None:
        layouts, estimate = serve_plan_estimate(work, chosen, registry, plan.rate_per_s, plan.input_tokens,
                                                plan.output_tokens, published)  # fmt: skip
        pick = serve_plan_pick(work, chosen, layouts, estimate, registry, plan.rate_per_s, plan.input_tokens,
                               plan.output_tokens)  # fmt: skip
        emitted = write_launch(opts.emit or "vllm", "serve", pick)
    elif opts.emit:
        raise HwprofError("no deployment meets the targets, so there is no pick to emit; the table without --emit "
                          "says why for each system")  # fmt: skip
    if opts.report:
        from hwprof.report.plans import serve_page

        system = registry.system(chosen.system) if chosen else None
        chip = registry.chip(system.chip) if system else None
        html = serve_page(question, plan, chosen, estimate, emitted, chip, system,
                          _links(registry, system) if system else [], work)  # fmt: skip
        write_report(opts.report, html, opts.force)
    return show(fmt, data, emitted) if opts.emit else False
