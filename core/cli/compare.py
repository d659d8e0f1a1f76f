"""``hwprof compare``: one workload across several systems and cost models, with ratios to a baseline."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..data import checks
from ..data.hookspecs import hookimpl
from ..service.compare import compare_serve_result, compare_train_result
from .common import (
    BaselineOpt,
    CostModelOpt,
    RegionOpt,
    SeqLenOpt,
    ServeStackOpt,
    TrainPrecisionOpt,
    TrainStackOpt,
    checked,
    comma_list,
    complete_cost_models,
    complete_system_list,
    lowered,
)
from .groups import ModelOptions, OutputOptions, grouped
from .plot import RATIO_NOTE, ratio_bars, ratios
from .render import Cell, Table, duration, emit, note, warn

compare_app = typer.Typer(help="One workload across several systems, with ratios to a baseline.", no_args_is_help=True)


@compare_app.command("train")
@grouped
def compare_train(
    tokens: Annotated[float, typer.Option("--tokens", callback=checked(checks.TOKENS), help="Training tokens.")],
    model_opts: ModelOptions = ModelOptions(),
    seq_len: SeqLenOpt = None,
    chips: Annotated[int | None, typer.Option("--chips", callback=checked(checks.CHIPS), help="Chips per system type (rounded up to whole systems); default: the fewest that fit.")] = None,
    precision: TrainPrecisionOpt = "bf16",
    global_batch_tokens: Annotated[float | None, typer.Option("--global-batch-tokens", callback=checked(checks.GLOBAL_BATCH_TOKENS), help="Tokens per optimizer step (default 4M; 8M above 1,024 chips, 16M above 4,096).")] = None,
    systems: Annotated[str | None, typer.Option("--systems", autocompletion=complete_system_list, help="Comma-separated system ids (default: every system a loaded cost model prices).")] = None,
    baseline: BaselineOpt = None,
    cost_models: Annotated[str | None, typer.Option("--cost-model", "--cost-models", autocompletion=complete_cost_models,
                                                    help="Only these cost models, comma-separated (default: every one loaded prices the systems it prices).")] = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference, comma-separated.")] = "on-demand",
    stack: TrainStackOpt = None,
    output: OutputOptions = OutputOptions(),
) -> None:  # fmt: skip
    """Time, cost, tokens per dollar and energy of one training run on several systems."""
    fmt, plot = output.format(), output.plot
    work = model_opts.workload(seq_len)
    models = comma_list("--cost-models", cost_models, "cost model names")
    ids = comma_list("--systems", systems, "system ids") or []
    comparison = compare_train_result(work, tokens, ids, baseline=baseline, chips=chips, precision=precision,
                                      seq_len=seq_len, cost_models=models, region=region, purchase=purchase,
                                      global_batch_tokens=global_batch_tokens, stack=stack)  # fmt: skip
    out, baseline, finding = list(comparison.rows), comparison.baseline, comparison.finding
    for row in out:
        for message in (row["result"].get("cost") or {}).get("warnings", []):
            warn(message)
    data = {"baseline": baseline, "baseline_rule": comparison.baseline_rule, "stack_rule": comparison.stack_rule,
            "evidence_note": comparison.evidence_note or None, "rows": [_compact(row) for row in out],
            "finding": finding}  # fmt: skip

    def blocks() -> list[Table]:
        table_rows = [[row["label"], row["chips"], _stack_cell(row), _layout_cell(row["result"]),
                       _time_cell(row["result"]["time_s"]),
                       Cell(f"{row['result']['mfu']['expected']:.0%}", row["result"]["mfu"]["expected"]),
                       row["result"]["chip_hours"]["expected"], _cost_cell(row["result"].get("cost_usd")),
                       _price_cell(row["result"].get("cost")), row["tokens_per_usd"] or "-",
                       row["result"]["energy_kwh"]["expected"] if row["result"].get("energy_kwh") else "-",
                       Cell(f"{row['speed']:.2f}", row["speed"]),
                       Cell(f"{row['price_performance']:.2f}", row["price_performance"]) if row["price_performance"] else "-"]
                      for row in out]  # fmt: skip
        headers = ["system [cost model]", "chips", "stack (evidence)", "layout: tp pp dp cp / exposed comm + bubble",
                   "time (range)", "MFU",
                   "chip-hours", "cost USD (range)", "price used", "tokens/USD", "kWh", "speed vs base", "price-perf vs base"]  # fmt: skip
        csv = ["system", "chips", "stack", "layout", "time_days", "mfu", "chip_hours", "cost_usd", "price_used", "tokens_per_usd",
               "energy_kwh", "speed_ratio", "price_performance", "evidence", "time_days_low", "time_days_high",
               "cost_usd_low", "cost_usd_high"]  # fmt: skip
        csv_rows = [[*shown, row["evidence"], *_ends(row["result"]["time_s"], 86400), *_ends(row["result"].get("cost_usd"))]
                    for shown, row in zip(table_rows, out, strict=True)]  # fmt: skip
        footer = (f"baseline {baseline}: {comparison.baseline_rule}.\nstacks: {comparison.stack_rule}.\n"
                  + (f"{comparison.evidence_note}.\n" if comparison.evidence_note else "")
                  + "speed and price-perf vs base: the baseline's time / this time, this row's tokens per dollar / the "
                  "baseline's; both higher is better. Ranges: the model's error on held-out published runs.\n" + finding)  # fmt: skip
        return [Table(headers, table_rows, title=title, footer=footer.rstrip(), csv_headers=csv, csv_rows=csv_rows)]

    title = f"{work.id}, {tokens:.3g} tokens, {precision}; baseline {baseline}"
    emit(fmt, data, blocks)
    if plot is not None:
        rows = [{**row["result"], "label": row["label"], "system": row["system"]} for row in out]
        panels = [(f"speed vs {baseline}", ratio_bars(rows, baseline, "time_s", smaller_is_better=True)),
                  (f"price-performance vs {baseline}", ratio_bars(rows, baseline, "cost_usd", smaller_is_better=True))]  # fmt: skip
        note(f"chart written to {ratios(panels, plot, title=title, note=RATIO_NOTE)}")


def _layout_cell(result: dict[str, Any]) -> Cell:
    """tp pp dp cp and the share of the step that is not compute."""
    s = result["step"]
    if not s:
        return Cell("-", "")
    lay = result["layout_fields"]
    exposed = (s["tensor_parallel_s"] + s["expert_parallel_s"] + s["context_parallel_s"] + s["pipeline_p2p_s"]
               + s["data_parallel_s"] + s["pipeline_bubble_s"])  # fmt: skip
    return Cell(f"{lay['tp']} {lay['pp']} {lay['dp']} {lay['cp']} / {exposed / s['total_s']:.0%}", result["layout"])


def _stack_cell(row: dict[str, Any]) -> Cell:
    """'nemo-megatron (own)': the stack a row assumes and the evidence class its range rests on."""
    return Cell(f"{row['stack'] or 'none stated'} ({row['evidence']})", row["stack"])


def _price_cell(cost: dict[str, Any] | None) -> Cell | str:
    """Which cost model and price a row used and when it was observed, flagged when stale; its
    status and source become a footnote in Markdown."""
    if not cost:
        return "-"
    p = cost["price"]
    text = f"{p['cost_model']} {p['usd_per_hour']:g}/h {p['purchase']} {p['region']} {p['observed']}"
    source = p.get("source") or {}
    where = ", ".join(x for x in (source.get("title", ""), source.get("url", "")) if x)
    return Cell(text + (" STALE" if p["stale"] else ""), p["usd_per_hour"], p.get("status", "official"), where)


def _time_cell(span: dict[str, float]) -> Cell:
    """'329.7 days (275 to 660)': the expected time and its range, as estimate shows it."""
    unit, scale, digits = ("days", 86400, 1) if span["expected"] >= 86400 else ("hours", 3600, 2)
    low, mid, high = (f"{span[k] / scale:,.{digits}f}" for k in ("low", "expected", "high"))
    return Cell(f"{mid} {unit} ({low} to {high})", span["expected"] / 86400)


def _cost_cell(span: dict[str, float] | None) -> Cell | str:
    if not span:
        return "- (no price)"
    return Cell(f"{span['expected']:,.0f} ({span['low']:,.0f} to {span['high']:,.0f})", span["expected"])


def _ends(span: dict[str, float] | None, unit: float = 1.0) -> tuple[float | str, float | str]:
    """A range's (low, high) in ``unit``s, blank where there is none (no price, no range)."""
    if not span or span.get("low") is None:
        return "", ""
    return span["low"] / unit, span["high"] / unit


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    res = row["result"]
    return {"system": row["system"], "cost_model": row["cost_model"], "chips": row["chips"], "stack": row["stack"],
            "evidence": row["evidence"], "time_s": res["time_s"],
            "chip_hours": res["chip_hours"], "cost_usd": res.get("cost_usd"), "energy_kwh": res.get("energy_kwh"),
            "tokens_per_usd": row["tokens_per_usd"], "time_ratio": row["time_ratio"], "speed_ratio": row["speed"],
            "baseline": row["baseline"],
            "price_performance": row["price_performance"], "missing_price": row["missing_price"] or None,
            "price": (res.get("cost") or {}).get("price"), "mfu": res["mfu"], "layout": res["layout"],
            "layout_fields": res["layout_fields"], "layout_basis": res["layout_basis"], "step": res["step"], "memory": res["memory"],
            "tiers": res["tiers"]}  # fmt: skip


@compare_app.command("serve")
@grouped
def compare_serve(
    systems: Annotated[str, typer.Option("--systems", autocompletion=complete_system_list, help="Comma-separated system ids.")],
    model_opts: ModelOptions = ModelOptions(),
    precision: Annotated[str, typer.Option("--precision", callback=lowered, help="Weight precision.")] = "bf16",
    kv_precision: Annotated[str, typer.Option("--kv-precision", callback=lowered, help="KV-cache precision.")] = "bf16",
    batch: Annotated[int, typer.Option("--concurrency", "--batch", callback=checked(checks.BATCH), help="Users in a closed loop.")] = 1,
    input_tokens: Annotated[int, typer.Option("--input-tokens", callback=checked(checks.REQUEST_TOKENS), help="Prompt tokens per request.")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens", callback=checked(checks.REQUEST_TOKENS), help="Generated tokens per request.")] = 500,
    baseline: BaselineOpt = None,
    cost_model: CostModelOpt = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    stack: ServeStackOpt = None,
    output: OutputOptions = OutputOptions(),
) -> None:  # fmt: skip
    """Latency, throughput and cost per million output tokens of one serving setup on one of each system
    (tensor parallel over its scale-up domain, replicas over the rest)."""
    fmt, plot = output.format(), output.plot
    work = model_opts.workload()
    comparison = compare_serve_result(
        work, comma_list("--systems", systems, "system ids", required=True) or [], baseline=baseline, precision=precision,
        kv_precision=kv_precision, batch=batch, input_tokens=input_tokens, output_tokens=output_tokens,
        cost_model=cost_model, region=region, purchase=purchase, stack=stack,
    )  # fmt: skip
    from ..jsonable import to_json

    out, baseline = list(comparison.rows), comparison.baseline
    for o in out:  # stale or spot-like prices, as estimate says them
        for message in o["result"].cost.warnings if o["result"].cost else ():
            warn(message)
    data = {"baseline": baseline, "baseline_rule": comparison.baseline_rule, "stack_rule": comparison.stack_rule,
            "evidence_note": comparison.evidence_note or None, "rows": [
        {"system": o["system"], "label": o["label"], "cost_model": o["cost_model"], "stack": o["stack"],
         "evidence": o["evidence"],
         "price": o["result"].cost.price if o["result"].cost else None,
         "layout": o["result"].layout, "ttft_s": to_json(o["result"].ttft_s),
         "tpot_s": to_json(o["result"].tpot_s), "tokens_per_s": to_json(o["result"].tokens_per_s),
         "binding": o["result"].binding,
         "cost_usd_per_million_tokens": to_json(o["result"].cost.usd_per_million_output_tokens)
         if o["result"].cost else None,
         "price_performance": o["price_performance"], "missing_price": o["missing_price"] or None}
        for o in out]}  # fmt: skip

    def blocks() -> list[Table]:
        rows = [[o["label"], _stack_cell(o), o["result"].layout,
                 Cell(duration(o["result"].ttft_s.expected), o["result"].ttft_s.expected),
                 Cell(duration(o["result"].tpot_s.expected), o["result"].tpot_s.expected),
                 o["result"].tokens_per_s.expected, o["result"].binding,
                 o["result"].cost.usd_per_million_output_tokens.expected if o["result"].cost
                 else f"- ({o['missing_price'] or 'no price'})",
                 Cell(f"{o['price_performance']:.2f}", o["price_performance"]) if o["price_performance"] else "-"]
                for o in out]  # fmt: skip
        headers = ["system [cost model]", "stack (evidence)", "layout", "TTFT", "TPOT", "tokens/s", "binding", "USD per M output tokens",
                   "price-perf vs base"]  # fmt: skip
        csv = ["system", "stack", "layout", "ttft_s", "tpot_s", "tokens_per_s", "binding", "usd_per_million_output_tokens",
               "price_performance", "evidence", "ttft_s_low", "ttft_s_high", "tpot_s_low", "tpot_s_high",
               "tokens_per_s_low", "tokens_per_s_high"]  # fmt: skip
        csv_rows = [[*shown, o["evidence"], *_ends(to_json(o["result"].ttft_s)), *_ends(to_json(o["result"].tpot_s)),
                     *_ends(to_json(o["result"].tokens_per_s))] for shown, o in zip(rows, out, strict=True)]  # fmt: skip
        title = f"{work.id}, concurrency {batch}, {input_tokens} in / {output_tokens} out; baseline {baseline}"
        footer = (
            f"baseline {baseline}: {comparison.baseline_rule}.\nstacks: {comparison.stack_rule}.\n"
            + (f"{comparison.evidence_note}.\n" if comparison.evidence_note else "")
            + "price-perf vs base: the baseline's cost per million output tokens / this row's (higher is better)."
        )
        return [Table(headers, rows, title=title, csv_headers=csv, footer=footer, csv_rows=csv_rows)]

    emit(fmt, data, blocks)
    if plot is not None:
        title = f"{work.id}, concurrency {batch}, {input_tokens} in / {output_tokens} out"
        shown: list[dict[str, Any]] = data["rows"]  # type: ignore[assignment]
        panels = [(f"throughput vs {baseline}", ratio_bars(shown, baseline, "tokens_per_s", smaller_is_better=False)),
                  (f"price-performance vs {baseline}",
                   ratio_bars(shown, baseline, "cost_usd_per_million_tokens", smaller_is_better=True))]  # fmt: skip
        note(f"chart written to {ratios(panels, plot, title=title, note=RATIO_NOTE)}")


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(compare_app, name="compare")
