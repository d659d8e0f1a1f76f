"""The ``hwprof`` command line: parses, calls the registry and estimators, renders. Nothing else.

Every command prints a table by default and stable JSON with ``--json``. Bad input raises
``HwprofError``; ``main`` turns it into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hwprof.core import __version__, registry
from hwprof.core.cli_plugins import plugins_app
from hwprof.core.cli_prices import prices_app
from hwprof.core.cli_profiles import profiles_app
from hwprof.core.errors import HwprofError
from hwprof.core.render import LEGEND, dump_json, echo, marked, number, pairs, table, warn


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="hwprof",
        help="Hardware profiles for ML accelerators, combined into sourced estimates.",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


app = _new_app()
chips_app = typer.Typer(help="Chips: peak compute per precision, memory, bandwidth, power.", no_args_is_help=True)
interconnects_app = typer.Typer(help="Interconnects: scale-up links and scale-out networks.", no_args_is_help=True)
systems_app = typer.Typer(
    help="Systems: chips joined by interconnect tiers, and their aggregates.", no_args_is_help=True
)
models_app = typer.Typer(help="Workload presets (model shapes).", no_args_is_help=True)
for sub, name in ((chips_app, "chips"), (interconnects_app, "interconnects"), (systems_app, "systems"),
                  (prices_app, "prices"), (plugins_app, "plugins"), (profiles_app, "profiles"),
                  (models_app, "models")):  # fmt: skip
    app.add_typer(sub, name=name)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print stable JSON instead of a table.")]


class _State:
    strict = False
    profile_dirs: list[Path] = []  # process-wide CLI state, set once by the callback


def settings() -> registry.Settings:
    return registry.Settings.from_env(strict=_State.strict, profile_dirs=_State.profile_dirs)


def reg() -> registry.Registry:
    """The registry for this invocation; plugin warnings go to stderr once."""
    result = registry.get(settings())
    for message in result.warnings:
        warn(message)
    result.warnings.clear()
    return result


def _version(value: bool) -> None:
    if value:
        echo(f"hwprof {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    strict_plugins: Annotated[
        bool,
        typer.Option(
            "--strict-plugins",
            help="Fail on a broken plugin or profile instead of warning (also HWPROF_STRICT_PLUGINS=1).",
        ),
    ] = False,
    profiles: Annotated[
        list[Path] | None, typer.Option("--profiles", help="Also load the *.toml profiles in this folder (repeatable).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Hardware profiles for ML accelerators, combined into sourced estimates.

    Plugins load from the `hwprof` entry-point group; HWPROF_LOAD_PLUGINS=a,b loads only those
    (set but empty: none). User profiles load from the config folder and HWPROF_PROFILE_PATH.
    """
    _State.strict = strict_plugins
    for folder in profiles or []:
        if not folder.is_dir():
            raise HwprofError(f"--profiles {folder}: not a folder; pass a folder holding *.toml profiles")
    _State.profile_dirs = list(profiles or [])
    if debug:
        os.environ["HWPROF_DEBUG"] = "1"


# ----------------------------------------------------------------------------- chips


def _peak(chip: Any, precision: str) -> str:
    figure = chip.peak_dense_tflops.get(precision)
    return marked(figure.value, figure.status) if figure else "-"


@chips_app.command("list")
def chips_list(as_json: JsonFlag = False) -> None:
    """List chips with their headline figures."""
    from hwprof.core.aggregate import figure_json

    r = reg()
    chips = sorted(r.chips.values(), key=lambda c: c.id)
    if as_json:
        echo(dump_json([{
            "id": c.id, "name": c.name, "vendor": c.vendor,
            "peak_dense_tflops": {p: f.value for p, f in c.peak_dense_tflops.items()},
            "peak_sparse_tflops": {p: f.value for p, f in c.peak_sparse_tflops.items()},
            "memory_gib" if c.memory_gib else "memory_gb": c.memory.value,
            "memory_bandwidth_tbps": c.memory_bandwidth_tbps.value,
            "tdp_w": figure_json(c.tdp_w)["value"] if c.tdp_w else None,  # type: ignore[index]
            "provider": r.provider("chips", c.id),
        } for c in chips]))  # fmt: skip
        return
    rows = [[
        c.id, c.name, _peak(c, "fp8"), _peak(c, "bf16"),
        marked(c.memory.value, c.memory.status, "GiB" if c.memory_gib else "GB"),
        marked(c.memory_bandwidth_tbps.value, c.memory_bandwidth_tbps.status),
        marked(c.tdp_w.value, c.tdp_w.status) if c.tdp_w else "-",
    ] for c in chips]  # fmt: skip
    headers = ["id", "name", "fp8 TFLOPS", "bf16 TFLOPS", "memory", "TB/s", "TDP W"]
    echo(table(headers, rows) + f"\n\ndense peaks; {LEGEND}")


def record_json(record: Any) -> Any:
    """Any model record as JSON, figures with their provenance."""
    import attrs

    from hwprof.core import model
    from hwprof.core.aggregate import figure_json, source_json

    if isinstance(record, model.Figure | model.Fact):
        return figure_json(record)
    if isinstance(record, model.Source):
        return source_json(record)
    if attrs.has(type(record)):
        return {f.name: record_json(getattr(record, f.name)) for f in attrs.fields(type(record))
                if f.name != "override"}  # fmt: skip
    if isinstance(record, dict):
        return {k: record_json(v) for k, v in record.items()}
    if isinstance(record, tuple | list):
        return [record_json(v) for v in record]
    return record


def _figure_rows(prefix: str, figures: dict[str, Any], unit: str) -> list[tuple[str, str]]:
    return [(f"{prefix} {p}", _figure_text(f, unit)) for p, f in figures.items()]


def _figure_text(figure: Any, unit: str = "") -> str:
    if figure is None:
        return "-"
    value = number(figure.value) if isinstance(figure.value, float | int) else figure.value
    text = f"{value}{' ' + unit if unit else ''}  [{figure.status}: {figure.source.title}]"
    if getattr(figure, "how", ""):
        text += f"  how: {figure.how}"
    if figure.note:
        text += f"  note: {figure.note}"
    for alt in getattr(figure, "alternatives", ()):
        text += f"\n{'':>24}also {number(alt.value)} {unit} [{alt.status}: {alt.source.title}] {alt.note}"
    return text


@chips_app.command("show")
def chips_show(chip_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Every figure of one chip, with its source and status."""
    r = reg()
    chip = r.chip(chip_id)
    if as_json:
        echo(dump_json({**record_json(chip), "provider": r.provider("chips", chip.id)}))
        return
    rows: list[tuple[str, str]] = [("name", chip.name), ("vendor", chip.vendor)]
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
    echo(pairs(rows, title=f"{chip.id}"))


# ----------------------------------------------------------------------------- interconnects


@interconnects_app.command("list")
def interconnects_list(as_json: JsonFlag = False) -> None:
    """List interconnects with bandwidth per chip and its direction."""
    r = reg()
    links = sorted(r.interconnects.values(), key=lambda i: (i.tier, i.id))
    if as_json:
        echo(dump_json([{
            "id": i.id, "name": i.name, "tier": i.tier,
            "bandwidth_per_chip_gb_s": i.bandwidth_per_chip_gb_s.value, "direction": i.direction,
            "per_direction_gb_s": i.per_direction_gb_s, "topology": i.topology,
            "max_domain_chips": i.max_domain_chips, "provider": r.provider("interconnects", i.id),
        } for i in links]))  # fmt: skip
        return
    rows = [[i.id, i.tier, marked(i.bandwidth_per_chip_gb_s.value, i.bandwidth_per_chip_gb_s.status),
             i.direction, number(i.per_direction_gb_s), i.max_domain_chips or "-", i.topology]
            for i in links]  # fmt: skip
    headers = ["id", "tier", "GB/s per chip", "as stated", "GB/s one way", "max chips", "topology"]
    echo(table(headers, rows) + f"\n\n{LEGEND}")


@interconnects_app.command("show")
def interconnects_show(link_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Every figure of one interconnect."""
    r = reg()
    link = r.interconnect(link_id)
    if as_json:
        echo(dump_json({**record_json(link), "per_direction_gb_s": link.per_direction_gb_s,
                        "provider": r.provider("interconnects", link.id)}))  # fmt: skip
        return
    rows = [
        ("name", link.name), ("tier", link.tier),
        ("bandwidth per chip", _figure_text(link.bandwidth_per_chip_gb_s, f"GB/s ({link.direction})")),
        ("one direction", f"{number(link.per_direction_gb_s)} GB/s"),
        ("latency", _figure_text(link.latency_us, "us")), ("topology", link.topology or "-"),
        ("max domain", str(link.max_domain_chips or "-")), *(("note", n) for n in link.notes),
        ("from", f"{r.provider('interconnects', link.id)}: {link.origin}"),
    ]  # fmt: skip
    echo(pairs(rows, title=link.id))


# ----------------------------------------------------------------------------- systems


@systems_app.command("list")
def systems_list(as_json: JsonFlag = False) -> None:
    """List systems: chip, count and dense FP8/BF16 peaks."""
    r = reg()
    systems = sorted(r.systems.values(), key=lambda s: (s.chip, s.chips, s.id))
    if as_json:
        echo(dump_json([{"id": s.id, "name": s.name, "kind": s.kind, "chip": s.chip, "chips": s.chips,
                         "provider": r.provider("systems", s.id)} for s in systems]))  # fmt: skip
        return
    rows = []
    for s in systems:
        chip = r.chip(s.chip)
        fp8, bf16 = chip.peak_dense_tflops.get("fp8"), chip.peak_dense_tflops.get("bf16")
        rows.append([s.id, s.kind, s.chip, s.chips,
                     marked(fp8.value * s.chips / 1000, fp8.status) if fp8 else "-",
                     marked(bf16.value * s.chips / 1000, bf16.status) if bf16 else "-"])  # fmt: skip
    echo(table(["id", "kind", "chip", "chips", "fp8 PFLOPS", "bf16 PFLOPS"], rows) + f"\n\ndense peaks; {LEGEND}")


@systems_app.command("show")
def systems_show(
    system_id: Annotated[str, typer.Argument(metavar="ID")],
    count: Annotated[int, typer.Option("--count", min=1, help="Aggregate this many systems.")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Aggregate a system: peak compute per precision (dense, sparse), memory, bandwidth, power."""
    from hwprof.core.aggregate import aggregate_system

    r = reg()
    system = r.system(system_id)
    result = aggregate_system(system, r.chip(system.chip), r.interconnects, count)
    result["name"] = system.name
    result["provider"] = r.provider("systems", system.id)
    result["origin"] = system.origin
    if as_json:
        echo(dump_json(result))
        return
    echo(render_aggregate(result))


def render_aggregate(a: dict[str, Any]) -> str:
    def cell(total: dict[str, Any] | None, unit: str = "") -> str:
        return marked(total["value"], total["status"], unit) if total else "-"

    precisions = list(a["peak_dense_pflops"]) + [p for p in a["peak_sparse_pflops"] if p not in a["peak_dense_pflops"]]
    rows = [[p, cell(a["peak_dense_pflops"].get(p)), cell(a["peak_sparse_pflops"].get(p)),
             number(a["peak_dense_pflops"][p]["per_chip"]) if p in a["peak_dense_pflops"] else "-"]
            for p in precisions]  # fmt: skip
    count = f"{a['systems']} x " if a["systems"] > 1 else ""
    title = f"{count}{a['system']}: {a['chips']} x {a['chip']}"
    out = [table(["precision", "dense PFLOPS", "sparse PFLOPS", "per chip TFLOPS"], rows, title=title), ""]
    memory_key = "memory_gib" if "memory_gib" in a else "memory_gb"
    tiers = ", ".join(f"{t['interconnect']} ({t['tier']}, {t['domain_chips']} chips, "
                      f"{number(t['per_direction_gb_s'])} GB/s per chip one way)" for t in a["tiers"])  # fmt: skip
    rows2 = [
        ("memory", cell(a[memory_key], "GiB" if memory_key == "memory_gib" else "GB")),
        ("memory bandwidth", cell(a["memory_bandwidth_tbps"], "TB/s")),
        ("power", cell(a["power_kw"], "kW") if a["power_kw"] else "- (no figure)"),
        ("scale-up domain", f"{a['scale_up_domain_chips']} chips"),
        ("tiers", tiers or "-"),
    ]
    if a.get("sparsity_note"):
        rows2.append(("sparsity", a["sparsity_note"]))
    for c in a["claims"]:
        rows2.append(
            ("claim", f"{c['metric']} = {number(c['value'])} [{c['status']}: {c['source']['title']}] {c['note']}")
        )
    if a["rests_on_non_official"]:
        rows2.append(("not official", ", ".join(a["rests_on_non_official"])))
    rows2.append(("from", f"{a.get('provider', '')}: {a.get('origin', '')}"))
    out.append(pairs(rows2))
    out.append(f"\n{LEGEND}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List workload presets."""
    r = reg()
    models = sorted(r.workloads.values(), key=lambda w: w.id)
    if as_json:
        echo(dump_json([record_json(w) for w in models]))
        return
    rows = [[w.id, w.name, number(w.params / 1e9), number(w.active / 1e9), w.layers or "-", w.hidden or "-",
             w.seq_len or "-"] for w in models]  # fmt: skip
    echo(table(["id", "name", "params B", "active B", "layers", "hidden", "seq"], rows))


@models_app.command("show")
def models_show(model_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """One workload preset's shape and its source."""
    w = reg().workload(model_id)
    data = record_json(w)
    if as_json:
        echo(dump_json(data))
        return
    rows = [(k, v["title"] if k == "source" else v) for k, v in data.items() if v not in (None, [], "")]
    echo(pairs([(k, number(v) if isinstance(v, float) else str(v)) for k, v in rows], title=w.id))


# ----------------------------------------------------------------------------- entry point


def _add_plugin_commands() -> None:
    """Let plugins add commands; a plugin whose hook raises is reported and skipped."""
    loaded = registry.modules(settings())
    for impl in loaded.manager.hook.hwprof_register_commands.get_hookimpls():
        try:
            impl.function(cli=app)
        except Exception as exc:
            warn(f"plugin {impl.plugin_name!r} could not add its commands: {type(exc).__name__}: {exc}")


def _app_for(args: list[str]) -> typer.Typer:
    """The app holding only the command group ``args`` name, or the whole app.

    Typer turns every group into click commands before parsing; converting one group instead of
    all of them is a good share of start-up (benchmarks/startup.py).
    """
    words = iter(args)
    name = None
    for word in words:
        if word == "--profiles":
            next(words, None)
        elif not word.startswith("-"):
            name = word
            break
    group = next((g for g in app.registered_groups if g.name == name), None)
    if group is None:
        return app
    pruned = _new_app()
    pruned.registered_callback = app.registered_callback
    pruned.registered_groups = [group]
    return pruned


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one clear line and exit 1 on bad input, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("HWPROF_DEBUG"))
    try:
        _add_plugin_commands()
        _app_for(args)(args=args, prog_name="hwprof", standalone_mode=True)
    except HwprofError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, with the way to see more
        if debug:
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback, "
            "and please report it)\n"
        )
        return 70
    return 0


# Command groups in their own modules attach themselves to `app` on import.
from hwprof.core import cli_estimate  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(main())
