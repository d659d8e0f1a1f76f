"""``hwprof chips|interconnects|systems|models``: list and show the registered records."""

from __future__ import annotations

from typing import Annotated, Any

import attrs
import typer

from ..data import checks
from ..data.hookspecs import hookimpl
from ..jsonable import to_json
from ..service.session import current_registry
from .common import (
    FormatOpt,
    JsonFlag,
    checked,
    complete_chips,
    complete_interconnects,
    complete_models,
    complete_systems,
)
from .render import LEGEND, Cell, Pairs, Shown, Table, aggregate_blocks, emit, number, output_format

ChipId = Annotated[str, typer.Argument(metavar="ID", autocompletion=complete_chips, help="A chip id.")]
LinkId = Annotated[str, typer.Argument(metavar="ID", autocompletion=complete_interconnects, help="An interconnect id.")]
SystemId = Annotated[str, typer.Argument(metavar="ID", autocompletion=complete_systems, help="A system id.")]
ModelId = Annotated[str, typer.Argument(metavar="ID", autocompletion=complete_models, help="A workload preset id.")]

chips_app = typer.Typer(help="Chips: peak compute per precision, memory, bandwidth, power.", no_args_is_help=True)
interconnects_app = typer.Typer(help="Interconnects: scale-up links and scale-out networks.", no_args_is_help=True)
systems_app = typer.Typer(
    help="Systems: chips joined by interconnect tiers, and their aggregates.", no_args_is_help=True
)
models_app = typer.Typer(help="Workload presets (model shapes).", no_args_is_help=True)


# ----------------------------------------------------------------------------- chips


@chips_app.command("list")
def chips_list(as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """List chips with their headline figures."""
    from ..jsonable import figure_json

    r = current_registry()
    chips = sorted(r.chips.values(), key=lambda c: c.id)
    data = [{
            "id": c.id, "name": c.name, "vendor": c.vendor,
            "peak_dense_tflops": {p: f.value for p, f in c.peak_dense_tflops.items()},
            "peak_sparse_tflops": {p: f.value for p, f in c.peak_sparse_tflops.items()},
            "memory_gib" if c.memory_gib else "memory_gb": c.memory.value,
            "memory_bandwidth_tbps": c.memory_bandwidth_tbps.value,
            "tdp_w": figure_json(c.tdp_w)["value"] if c.tdp_w else None,  # type: ignore[index]
            "provider": r.provider("chips", c.id),
        } for c in chips]  # fmt: skip
    rows: list[list[Shown]] = [[
        c.id, c.name, Cell.figure(c.peak_dense_tflops.get("fp8")), Cell.figure(c.peak_dense_tflops.get("bf16")),
        # Memory is published in GB or GiB; CSV gets bytes, so one column has one unit.
        attrs.evolve(Cell.figure(c.memory, "GiB" if c.memory_gib else "GB"), value=c.memory_bytes),
        Cell.figure(c.memory_bandwidth_tbps), Cell.figure(c.tdp_w),
    ] for c in chips]  # fmt: skip
    headers = ["id", "name", "fp8 TFLOPS", "bf16 TFLOPS", "memory", "TB/s", "TDP W"]
    csv = ["id", "name", "fp8_dense_tflops", "bf16_dense_tflops", "memory_bytes", "memory_bandwidth_tbps", "tdp_w"]
    table = Table(headers, rows, footer=f"dense peaks; {LEGEND}", csv_headers=csv)
    emit(output_format(fmt, as_json), data, lambda: [table])


def _figure_rows(prefix: str, figures: dict[str, Any], unit: str) -> list[tuple[str, Cell]]:
    return [(f"{prefix} {p}", _figure_text(f, unit)) for p, f in figures.items()]


def _figure_text(figure: Any, unit: str = "") -> Cell:
    """A figure with its status, source, derivation and alternatives (the source again as a footnote)."""
    if figure is None:
        return Cell("-")
    value = number(figure.value) if isinstance(figure.value, float | int) else figure.value
    text = f"{value}{' ' + unit if unit else ''}  [{figure.status}: {figure.source.title}]"
    if getattr(figure, "how", ""):
        text += f"  how: {figure.how}"
    if figure.note:
        text += f"  note: {figure.note}"
    for alt in getattr(figure, "alternatives", ()):
        text += f"\n{'':>24}also {number(alt.value)} {unit} [{alt.status}: {alt.source.title}] {alt.note}"
    source = figure.source.title + (f", {figure.source.url}" if figure.source.url else "")
    return Cell(text, figure.value, source=source)


@chips_app.command("show")
def chips_show(chip_id: ChipId, as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """Every figure of one chip, with its source and status."""
    r = current_registry()
    chip = r.chip(chip_id)
    data = {**to_json(chip), "provider": r.provider("chips", chip.id)}
    rows: list[tuple[str, Cell | str]] = [("name", chip.name), ("vendor", chip.vendor)]
    rows += _figure_rows("dense", chip.peak_dense_tflops, "TFLOPS")
    rows += _figure_rows("sparse", chip.peak_sparse_tflops, "TFLOPS")
    if chip.sparsity_pattern or chip.sparsity_note:
        rows.append(("sparsity", f"{chip.sparsity_pattern}  {chip.sparsity_note}".strip()))
    rows += [
        ("memory", _figure_text(chip.memory, "GiB" if chip.memory_gib else "GB")),
        ("memory bandwidth", _figure_text(chip.memory_bandwidth_tbps, "TB/s")),
        ("on-chip SRAM", _figure_text(chip.sram_mib, "MiB")),
        ("power", _figure_text(chip.tdp_w, "W")),
        ("process node", _figure_text(chip.process_node)),
        ("launch", _figure_text(chip.launch_date)),
        ("compute units", _figure_text(chip.compute_units)),
        *(("note", n) for n in chip.notes),
        ("from", f"{r.provider('chips', chip.id)}: {chip.origin}"),
    ]
    emit(output_format(fmt, as_json), data, lambda: [Pairs(rows, title=chip.id)])


# ----------------------------------------------------------------------------- interconnects


@interconnects_app.command("list")
def interconnects_list(as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """List interconnects with bandwidth per chip and its direction."""
    r = current_registry()
    links = sorted(r.interconnects.values(), key=lambda i: (i.tier, i.id))
    data = [{
            "id": i.id, "name": i.name, "tier": i.tier,
            "bandwidth_per_chip_gb_s": i.bandwidth_per_chip_gb_s.value, "direction": i.direction,
            "per_direction_gb_s": i.per_direction_gb_s, "topology": i.topology,
            "max_domain_chips": i.max_domain_chips, "provider": r.provider("interconnects", i.id),
        } for i in links]  # fmt: skip
    rows: list[list[Shown]] = [[i.id, i.tier, Cell.figure(i.bandwidth_per_chip_gb_s), i.direction, i.per_direction_gb_s,
             i.max_domain_chips or "-", i.topology] for i in links]  # fmt: skip
    headers = ["id", "tier", "GB/s per chip", "as stated", "GB/s one way", "max chips", "topology"]
    emit(output_format(fmt, as_json), data, lambda: [Table(headers, rows, footer=LEGEND)])


@interconnects_app.command("show")
def interconnects_show(link_id: LinkId, as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """Every figure of one interconnect."""
    r = current_registry()
    link = r.interconnect(link_id)
    data = {**to_json(link), "per_direction_gb_s": link.per_direction_gb_s,
            "provider": r.provider("interconnects", link.id)}  # fmt: skip
    rows: list[tuple[str, Cell | str]] = [
        ("name", link.name), ("tier", link.tier),
        ("bandwidth per chip", _figure_text(link.bandwidth_per_chip_gb_s, f"GB/s ({link.direction})")),
        ("one direction", f"{number(link.per_direction_gb_s)} GB/s"),
        ("latency", _figure_text(link.latency_us, "us")), ("topology", link.topology or "-"),
        ("max domain", str(link.max_domain_chips or "-")), *(("note", n) for n in link.notes),
        ("from", f"{r.provider('interconnects', link.id)}: {link.origin}"),
    ]  # fmt: skip
    emit(output_format(fmt, as_json), data, lambda: [Pairs(rows, title=link.id)])


# ----------------------------------------------------------------------------- systems


@systems_app.command("list")
def systems_list(as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """List systems: chip, count and dense FP8/BF16 peaks."""
    r = current_registry()
    systems = sorted(r.systems.values(), key=lambda s: (s.chip, s.chips, s.id))
    data = [{"id": s.id, "name": s.name, "kind": s.kind, "chip": s.chip, "chips": s.chips,
             "provider": r.provider("systems", s.id)} for s in systems]  # fmt: skip
    rows: list[list[Shown]] = []
    for s in systems:
        peaks = r.chip(s.chip).peak_dense_tflops
        rows.append([s.id, s.kind, s.chip, s.chips, Cell.figure(peaks.get("fp8"), scale=s.chips / 1000),
                     Cell.figure(peaks.get("bf16"), scale=s.chips / 1000)])  # fmt: skip
    headers = ["id", "kind", "chip", "chips", "fp8 PFLOPS", "bf16 PFLOPS"]
    emit(output_format(fmt, as_json), data, lambda: [Table(headers, rows, footer=f"dense peaks; {LEGEND}")])


@systems_app.command("show")
def systems_show(
    system_id: SystemId,
    count: Annotated[
        int, typer.Option("--count", callback=checked(checks.SYSTEMS), help="Aggregate this many systems.")
    ] = 1,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Aggregate a system: peak compute per precision (dense, sparse), memory, bandwidth, power."""
    from ..perf.aggregate import aggregate_system

    r = current_registry()
    system = r.system(system_id)
    result = aggregate_system(system, r.chip(system.chip), r.interconnects, count)
    result["name"] = system.name
    result["provider"] = r.provider("systems", system.id)
    result["origin"] = system.origin
    emit(output_format(fmt, as_json), result, lambda: aggregate_blocks(result))


# ----------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """List workload presets."""
    r = current_registry()
    models = sorted(r.workloads.values(), key=lambda w: w.id)
    source = {w.id: w.source.title + (f", {w.source.url}" if w.source.url else "") for w in models}
    rows = [[w.id, Cell(w.name, status=w.status, source=source[w.id]), w.params / 1e9, w.active / 1e9,
             w.layers or "-", w.hidden or "-", w.seq_len or "-"] for w in models]  # fmt: skip
    headers = ["id", "name", "params B", "active B", "layers", "hidden", "seq"]
    emit(output_format(fmt, as_json), [to_json(w) for w in models], lambda: [Table(headers, rows)])


@models_app.command("show")
def models_show(model_id: ModelId, as_json: JsonFlag = False, fmt: FormatOpt = None) -> None:
    """One workload preset's shape and its source."""
    w = current_registry().workload(model_id)
    data = to_json(w)
    rows = [(k, v["title"] if k == "source" else v) for k, v in data.items() if v not in (None, [], "")]
    shown = [(k, number(v) if isinstance(v, float) else str(v)) for k, v in rows]
    emit(output_format(fmt, as_json), data, lambda: [Pairs(shown, title=w.id)])


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    for group, name in ((chips_app, "chips"), (interconnects_app, "interconnects"), (systems_app, "systems"),
                        (models_app, "models")):  # fmt: skip
        cli.add_typer(group, name=name)
