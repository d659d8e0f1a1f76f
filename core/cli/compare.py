"""``hwprof compare``: one workload across several systems and cost models, with ratios to a baseline."""

from __future__ import annotations

from typing import Annotated, Any

import attrs
import typer

from hwprof.cli.common import (
    BaselineOpt,
    CostModelOpt,
    RegionOpt,
    SeqLenOpt,
    TrainPrecisionOpt,
    checked,
    chosen_cost_model,
    complete_cost_models,
    complete_system_list,
    current_registry,
    days_text,
    first_quote,
    purchase_options,
)
from hwprof.cli.groups import ModelOptions, OutputOptions, grouped
from hwprof.cli.plot import RATIO_NOTE, ratio_bars, ratios
from hwprof.cli.render import Cell, Table, duration, emit, note, warn
from hwprof.data import checks
from hwprof.data.hookspecs import hookimpl
from hwprof.errors import HwprofError

compare_app = typer.Typer(help="One workload across several systems, with ratios to a baseline.", no_args_is_help=True)


def _systems(text: str, baseline: str | None, cost_models: int = 1) -> tuple[list[str], str]:
    """The system ids of --systems and the baseline among them (default: the first).

    One system is enough when several cost models are compared on it.
    """
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if len(ids) < (1 if cost_models > 1 else 2):
        raise HwprofError(
            "`systems` needs at least two system ids, separated by commas (or one with several `cost_models`)"
        )
    if baseline is not None and baseline not in ids:
        raise HwprofError(f"`baseline` {baseline} is not one of `systems` {','.join(ids)}")
    return ids, baseline or ids[0]


@compare_app.command("train")
@grouped
def compare_train(
    systems: Annotated[str, typer.Option("--systems", autocompletion=complete_system_list, help="Comma-separated system ids.")],
    tokens: Annotated[float, typer.Option("--tokens", callback=checked(checks.TOKENS), help="Training tokens.")],
    model_opts: ModelOptions = ModelOptions(),
    seq_len: SeqLenOpt = None,
    chips: Annotated[int | None, typer.Option("--chips", callback=checked(checks.CHIPS), help="Chips per system type (rounded up to whole systems); default: the fewest that fit.")] = None,
    precision: TrainPrecisionOpt = "bf16",
    global_batch_tokens: Annotated[float | None, typer.Option("--global-batch-tokens", callback=checked(checks.GLOBAL_BATCH_TOKENS), help="Tokens per optimizer step (default 4M; 8M above 1,024 chips, 16M above 4,096).")] = None,
    baseline: BaselineOpt = None,
    cost_models: Annotated[str | None, typer.Option("--cost-model", "--cost-models", autocompletion=complete_cost_models,
                                                    help="Cost model ids, comma-separated, side by side (default: every one loaded).")] = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference, comma-separated.")] = "on-demand",
    output: OutputOptions = OutputOptions(),
) -> None:  # fmt: skip
    """Time, cost, tokens per dollar and energy of one training run on several systems."""
    fmt, plot = output.format(), output.plot
    work = model_opts.workload(seq_len)
    models = [m.strip() for m in cost_models.split(",")] if cost_models else None
    ids = [s.strip() for s in systems.split(",") if s.strip()]
    comparison = compare_train_result(work, tokens, ids, baseline=baseline, chips=chips, precision=precision,
                                      seq_len=seq_len, cost_models=models, region=region, purchase=purchase,
                                      global_batch_tokens=global_batch_tokens)  # fmt: skip
    out, baseline, finding = list(comparison.rows), comparison.baseline, comparison.finding
    for row in out:
        for message in (row["result"].get("cost") or {}).get("warnings", []):
            warn(message)
    data = {"baseline": baseline, "rows": [_compact(row) for row in out], "finding": finding}

    def blocks() -> list[Table]:
        table_rows = [[row["label"], row["chips"], _layout_cell(row["result"]),
                       Cell(days_text(row["result"]["time_s"]["expected"]), row["result"]["time_s"]["expected"] / 86400),
                       row["result"]["chip_hours"]["expected"], row["cost"] or "- (no price)",
                       _price_cell(row["result"].get("cost")), row["tokens_per_usd"] or "-",
                       row["result"]["energy_kwh"]["expected"] if row["result"].get("energy_kwh") else "-",
                       Cell(f"{row['time_ratio']:.2f}", row["time_ratio"]),
                       Cell(f"{row['price_performance']:.2f}", row["price_performance"]) if row["price_performance"] else "-"]
                      for row in out]  # fmt: skip
        headers = ["system", "chips", "layout: tp pp dp cp / exposed comm + bubble", "time", "chip-hours", "cost USD",
                   "price used", "tokens/USD", "kWh", "time vs base", "price-perf vs base"]  # fmt: skip
        csv = ["system", "chips", "layout", "time_days", "chip_hours", "cost_usd", "price_used", "tokens_per_usd", "energy_kwh",
               "time_ratio", "price_performance"]  # fmt: skip
        footer = "price-perf vs base: tokens per dollar relative to the baseline (above 1 is better).\n" + finding
        return [Table(headers, table_rows, title=title, footer=footer.rstrip(), csv_headers=csv)]

    title = f"{work.id}, {tokens:.3g} tokens, {precision}; baseline {baseline}"
    emit(fmt, data, blocks)
    if plot is not None:
        rows = [{**row["result"], "label": row["label"], "system": row["system"]} for row in out]
        panels = [(f"speed vs {baseline}", ratio_bars(rows, baseline, "time_s", smaller_is_better=True)),
                  (f"price-performance vs {baseline}", ratio_bars(rows, baseline, "cost_usd", smaller_is_better=True))]  # fmt: skip
        note(f"chart written to {ratios(panels, plot, title=title, note=RATIO_NOTE)}")


@attrs.frozen
class Comparison:
    """One workload on several systems (and cost models): a row per pair, ratios against ``baseline``."""

    baseline: str
    rows: tuple[dict[str, Any], ...]  # system, label, cost_model, chips, result, ratios, missing_price
    finding: str = ""


def compare_train_result(work: Any, tokens: float, systems: list[str], *, baseline: str | None = None,
                         chips: int | None = None, precision: str = "bf16", seq_len: int | None = None,
                         cost_models: list[str] | None = None, region: str | None = None,
                         purchase: str = "on-demand", global_batch_tokens: float | None = None) -> Comparison:  # fmt: skip
    """What ``compare train`` shows, as data (also ``hwprof.compare_train``)."""
    from hwprof.cost import pricing
    from hwprof.jsonable import to_json
    from hwprof.perf import cluster
    from hwprof.perf.train import training

    r = current_registry()
    models: list[str | None] = list(cost_models) if cost_models else [*sorted(r.cost_models)]
    seq = seq_len or work.seq_len
    if global_batch_tokens is not None and not seq:
        raise HwprofError("needs the sequence length to count sequences", subject="global_batch_tokens")
    batch = max(1, round(global_batch_tokens / seq)) if global_batch_tokens and seq else None
    from hwprof.perf import ranges

    published = ranges.own_chips(r.validation_cases.values(), "train")
    ids, baseline = _systems(",".join(systems), baseline, len(models))
    options = purchase_options(pricing, purchase, region, [r.cost_model(m) for m in models if m])
    rows: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        chip = r.chip(system.chip)
        want = chips or _fewest_chips(work, system, chip, r.interconnects, precision, seq_len, batch)
        target = cluster.cluster_for(chip, cluster.whole_systems(want, system), system, r.interconnects)
        for model_id in models or [None]:  # without a cost model: time and energy only
            quote, missing = None, ""
            if model_id is not None:
                quote, missing = first_quote(pricing, r.cost_model(model_id), system_id, options, region)
            result = to_json(training.estimate_train(work, target, r.interconnects, tokens, precision, None, seq_len,
                                                     quote=quote, global_batch_seqs=batch,
                                                     published_chips=published))  # fmt: skip
            label = system_id + (f" [{model_id}]" if len(models) > 1 else "")
            rows.append({"system": system_id, "label": label, "cost_model": model_id, "chips": target.chips,
                         "result": result, "missing_price": missing})  # fmt: skip
    out = _ratios(rows, baseline, "time_s")
    return Comparison(baseline, tuple(out), _finding(out, baseline))


def _fewest_chips(work: Any, system: Any, chip: Any, interconnects: dict[str, Any], precision: str,
                  seq_len: int | None, batch: int | None) -> int:  # fmt: skip
    """Chips in the fewest systems on which some layout fits (``plan``'s rule)."""
    from hwprof.perf import plan

    result = plan.plan_train(work, [(system, chip, [None])], interconnects, 1.0, precision, seq_len, top=1,
                             batch_seqs=batch)  # fmt: skip
    if not result.options:
        raise HwprofError(f"{system.id}: {result.reasons.get(system.id, 'no layout fits')}")
    return min(row.chips for row in result.options)


def _layout_cell(result: dict[str, Any]) -> Cell:
    """tp pp dp cp and the share of the step that is not compute."""
    s = result["step"]
    if not s:
        return Cell("-", "")
    lay = dict(part.split("=") for part in result["layout"].split(","))
    exposed = (s["tensor_parallel_s"] + s["expert_parallel_s"] + s["context_parallel_s"] + s["pipeline_p2p_s"]
               + s["data_parallel_s"] + s["pipeline_bubble_s"])  # fmt: skip
    return Cell(f"{lay['tp']} {lay['pp']} {lay['dp']} {lay['cp']} / {exposed / s['total_s']:.0%}", result["layout"])


def _price_cell(cost: dict[str, Any] | None) -> str:
    """Which price a row used and when it was observed, flagged when stale."""
    if not cost:
        return "-"
    p = cost["price"]
    return f"{p['usd_per_hour']:g}/h {p['purchase']} {p['region']} {p['observed']}" + (" STALE" if p["stale"] else "")


def _ratios(rows: list[dict[str, Any]], baseline: str, time_key: str) -> list[dict[str, Any]]:
    base = next(r for r in rows if r["system"] == baseline)
    base_cost = (base["result"].get("cost_usd") or {}).get("expected")
    tokens = base["result"]["inputs"]["tokens"]
    for row in rows:
        cost = (row["result"].get("cost_usd") or {}).get("expected")
        row["cost"] = cost
        row["tokens_per_usd"] = tokens / cost if cost else None
        row["time_ratio"] = row["result"][time_key]["expected"] / base["result"][time_key]["expected"]
        row["price_performance"] = base_cost / cost if cost and base_cost else None
    return rows


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    res = row["result"]
    return {"system": row["system"], "cost_model": row["cost_model"], "chips": row["chips"], "time_s": res["time_s"],
            "chip_hours": res["chip_hours"], "cost_usd": res.get("cost_usd"), "energy_kwh": res.get("energy_kwh"),
            "tokens_per_usd": row["tokens_per_usd"], "time_ratio": row["time_ratio"],
            "price_performance": row["price_performance"], "missing_price": row["missing_price"] or None,
            "price": (res.get("cost") or {}).get("price"), "mfu": res["mfu"], "layout": res["layout"],
            "layout_basis": res["layout_basis"], "step": res["step"], "memory": res["memory"],
            "tiers": res["tiers"]}  # fmt: skip


def _finding(rows: list[dict[str, Any]], baseline: str) -> str:
    priced = [r for r in rows if r["price_performance"]]
    lines = []
    for row in priced:
        if row["price_performance"] == 1 and row["system"] == baseline:
            continue
        gain = row["price_performance"] - 1
        verdict = "better" if gain > 0 else "worse"
        lines.append(f"{row['label']}: {abs(gain):.0%} {verdict} price-performance than the baseline at these prices "
                     f"and the step time its searched layout is expected to take; the ranking holds unless its real throughput "
                     f"is "
                     f"{'below' if gain > 0 else 'above'} {1 / row['price_performance']:.2f}x that expectation")  # fmt: skip
    for row in rows:
        if not row["cost"]:
            lines.append(f"not priced: {row['label']}: {row['missing_price'] or 'no cost model'}")
    return "\n".join(lines)


@compare_app.command("serve")
@grouped
def compare_serve(
    systems: Annotated[str, typer.Option("--systems", autocompletion=complete_system_list, help="Comma-separated system ids.")],
    model_opts: ModelOptions = ModelOptions(),
    precision: Annotated[str, typer.Option("--precision", help="Weight precision.")] = "bf16",
    kv_precision: Annotated[str, typer.Option("--kv-precision", help="KV-cache precision.")] = "bf16",
    batch: Annotated[int, typer.Option("--concurrency", "--batch", callback=checked(checks.BATCH), help="Users in a closed loop.")] = 1,
    input_tokens: Annotated[int, typer.Option("--input-tokens", callback=checked(checks.REQUEST_TOKENS), help="Prompt tokens per request.")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens", callback=checked(checks.REQUEST_TOKENS), help="Generated tokens per request.")] = 500,
    baseline: BaselineOpt = None,
    cost_model: CostModelOpt = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    output: OutputOptions = OutputOptions(),
) -> None:  # fmt: skip
    """Latency, throughput and cost per million output tokens of one serving setup on one of each system
    (tensor parallel over its scale-up domain, replicas over the rest)."""
    fmt, plot = output.format(), output.plot
    work = model_opts.workload()
    comparison = compare_serve_result(
        work, [s.strip() for s in systems.split(",") if s.strip()], baseline=baseline, precision=precision,
        kv_precision=kv_precision, batch=batch, input_tokens=input_tokens, output_tokens=output_tokens,
        cost_model=cost_model, region=region, purchase=purchase,
    )  # fmt: skip
    from hwprof.jsonable import to_json

    out, baseline = list(comparison.rows), comparison.baseline
    data = {"baseline": baseline, "rows": [
        {"system": o["system"], "layout": o["result"].layout, "ttft_s": to_json(o["result"].ttft_s),
         "tpot_s": to_json(o["result"].tpot_s), "tokens_per_s": to_json(o["result"].tokens_per_s),
         "binding": o["result"].binding,
         "cost_usd_per_million_tokens": to_json(o["result"].cost.usd_per_million_output_tokens)
         if o["result"].cost else None,
         "price_performance": o["price_performance"], "missing_price": o["missing_price"] or None}
        for o in out]}  # fmt: skip

    def blocks() -> list[Table]:
        rows = [[o["system"], o["result"].layout,
                 Cell(duration(o["result"].ttft_s.expected), o["result"].ttft_s.expected),
                 Cell(duration(o["result"].tpot_s.expected), o["result"].tpot_s.expected),
                 o["result"].tokens_per_s.expected, o["result"].binding,
                 o["result"].cost.usd_per_million_output_tokens.expected if o["result"].cost
                 else f"- ({o['missing_price'] or 'no price'})",
                 Cell(f"{o['price_performance']:.2f}", o["price_performance"]) if o["price_performance"] else "-"]
                for o in out]  # fmt: skip
        headers = ["system", "layout", "TTFT", "TPOT", "tokens/s", "binding", "USD per M output tokens",
                   "price-perf vs base"]  # fmt: skip
        csv = ["system", "layout", "ttft_s", "tpot_s", "tokens_per_s", "binding", "usd_per_million_output_tokens",
               "price_performance"]  # fmt: skip
        title = f"{work.id}, concurrency {batch}, {input_tokens} in / {output_tokens} out; baseline {baseline}"
        return [Table(headers, rows, title=title, csv_headers=csv)]

    emit(fmt, data, blocks)
    if plot is not None:
        title = f"{work.id}, concurrency {batch}, {input_tokens} in / {output_tokens} out"
        shown: list[dict[str, Any]] = data["rows"]  # type: ignore[assignment]
        panels = [(f"throughput vs {baseline}", ratio_bars(shown, baseline, "tokens_per_s", smaller_is_better=False)),
                  (f"price-performance vs {baseline}",
                   ratio_bars(shown, baseline, "cost_usd_per_million_tokens", smaller_is_better=True))]  # fmt: skip
        note(f"chart written to {ratios(panels, plot, title=title, note=RATIO_NOTE)}")


# ----------------------------------------------------------------------------- plan


def compare_serve_result(work: Any, systems: list[str], *, baseline: str | None = None, precision: str = "bf16",
                         kv_precision: str = "bf16", batch: int = 1, input_tokens: int = 1000,
                         output_tokens: int = 500, cost_model: str | None = None, region: str | None = None,
                         purchase: str = "on-demand") -> Comparison:  # fmt: skip
    """What ``compare serve`` shows, as data (also ``hwprof.compare_serve``); ``batch`` is the
    concurrency (users in a closed loop)."""
    from hwprof.cost import pricing
    from hwprof.perf import cluster, ranges
    from hwprof.perf.serve import layout as serve_layout
    from hwprof.perf.serve import serving

    r = current_registry()
    ids, baseline = _systems(",".join(systems), baseline)
    chosen_model = chosen_cost_model(cost_model)
    options = purchase_options(pricing, purchase, region, [chosen_model] if chosen_model else [])
    out: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        target = cluster.cluster_for(r.chip(system.chip), system.chips, system, r.interconnects)
        quote, missing = None, ""
        if chosen_model is not None:
            quote, missing = first_quote(pricing, chosen_model, system_id, options, region)
        lay = serve_layout.default_layout(target, precision, kv_precision, work.heads)
        res = serving.estimate_serve(
            work,
            target,
            lay,
            serving.Traffic(input_tokens, output_tokens, batch),
            quote,
            published_chips=ranges.own_chips(r.validation_cases.values(), "serve"),
        )
        out.append({"system": system_id, "label": system_id, "result": res, "missing_price": missing})

    def per_million(res: Any) -> float | None:
        return res.cost.usd_per_million_output_tokens.expected if res.cost else None

    base = next(o for o in out if o["system"] == baseline)
    base_cost = per_million(base["result"])
    for o in out:
        cost = per_million(o["result"])
        o["price_performance"] = base_cost / cost if cost and base_cost else None
    return Comparison(baseline, tuple(out))


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(compare_app, name="compare")
