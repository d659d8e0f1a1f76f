"""``hwprof estimate``, ``hwprof compare`` and ``hwprof validate``: parse, call the estimators, render."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from hwprof.core.cli import JsonFlag, app, reg
from hwprof.core.errors import HwprofError
from hwprof.core.render import dump_json, echo, number, pairs, table, warn

estimate_app = typer.Typer(help="Estimates: training time and cost, serving latency and cost, peaks.",
                           no_args_is_help=True)  # fmt: skip
plan_app = typer.Typer(help="The cheapest or fastest configuration that meets a deadline or a budget.",
                       no_args_is_help=True)  # fmt: skip
compare_app = typer.Typer(help="One workload across several systems, with ratios to a baseline.", no_args_is_help=True)
app.add_typer(estimate_app, name="estimate")
app.add_typer(compare_app, name="compare")
app.add_typer(plan_app, name="plan")

ModelOpt = Annotated[str | None, typer.Option("--model", help="A workload preset id (`hwprof models list`).")]
ParamsOpt = Annotated[float | None, typer.Option("--params", help="Total parameters, e.g. 70e9.")]
ActiveOpt = Annotated[float | None, typer.Option("--active-params", help="Parameters used per token (MoE).")]
LayersOpt = Annotated[int | None, typer.Option("--layers", help="Transformer layers.")]
HiddenOpt = Annotated[int | None, typer.Option("--hidden", help="Model width.")]
HeadsOpt = Annotated[int | None, typer.Option("--heads", help="Attention heads.")]
KvHeadsOpt = Annotated[int | None, typer.Option("--kv-heads", help="Key/value heads (GQA).")]
ConfigOpt = Annotated[Path | None, typer.Option("--model-config", help="A local Hugging Face config.json.")]
SystemOpt = Annotated[str | None, typer.Option("--system", help="A system id (`hwprof systems list`).")]
CountOpt = Annotated[int, typer.Option("--count", help="How many systems.")]
ChipOpt = Annotated[str | None, typer.Option("--chip", help="A chip id, instead of --system.")]
ChipsOpt = Annotated[
    int | None, typer.Option("--chips", help="How many chips (with --chip, or rounded up to whole systems).")
]
CostModelOpt = Annotated[
    str | None, typer.Option("--cost-model", help="A cost model id, e.g. the built-in prices; 'none' to skip.")
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Region; default: the cheapest with a price.")]
PurchaseOpt = Annotated[str, typer.Option("--purchase", help="on-demand, capacity-block, spot, ...")]


def _shape(model: str | None, params: float | None, active: float | None, layers: int | None, hidden: int | None,
           heads: int | None, kv_heads: int | None, config: Path | None, seq_len: int | None) -> Any:  # fmt: skip
    from hwprof.core import shape

    given = [name for name, v in (("--model", model), ("--params", params), ("--model-config", config)) if v]
    if len(given) != 1:
        raise HwprofError("give the model once: --model ID, --params N (with --layers/--hidden/--heads for "
                          f"attention and KV cache) or --model-config PATH{'; got ' + ', '.join(given) if given else ''}")  # fmt: skip
    if model:
        result = shape.from_workload(reg().workload(model))
    elif config:
        result = shape.from_hf_config(config)
    else:
        assert params is not None
        if params <= 0 or (active is not None and active <= 0):
            raise HwprofError("--params and --active-params must be positive")
        result = shape.Shape(name=f"{params:.3g} params", params=params, active_params=active or params,
                             layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, seq_len=seq_len,
                             source="given on the command line")  # fmt: skip
    return result


def _target(system_id: str | None, count: int, chip_id: str | None, chips: int | None) -> Any:
    from hwprof.core import estimate

    r = reg()
    if (system_id is None) == (chip_id is None):
        raise HwprofError("give the hardware once: --system ID [--count K] or --chip ID --chips N")
    if count < 1 or (chips is not None and chips < 1):
        raise HwprofError(f"--count and --chips must be at least 1, got {chips if chips is not None else count}")
    if system_id is not None:
        system = r.system(system_id)
        total = math.ceil(chips / system.chips) * system.chips if chips else system.chips * count
        return estimate.target_for(r.chip(system.chip), total, system, r.interconnects)
    if chips is None:
        raise HwprofError("--chip needs --chips N (how many)")
    return estimate.target_for(r.chip(chip_id), chips, None, r.interconnects)  # type: ignore[arg-type]


def _cost_model(name: str | None) -> Any:
    """The cost model --cost-model names; without it, the only one loaded. None for 'none' or none loaded."""
    r = reg()
    if name == "none":
        return None
    if name is not None:
        return r.cost_model(name)
    models = sorted(r.cost_models)
    if len(models) > 1:
        raise HwprofError(f"several cost models are loaded ({', '.join(models)}); choose one with --cost-model")
    return r.cost_models[models[0]] if models else None


def _quote(cost_model: str | None, target: Any, purchase: str, region: str | None) -> Any:
    from hwprof.core import pricing

    chosen = _cost_model(cost_model) if target.system is not None else None
    if chosen is None:
        return None
    try:
        return pricing.quote(chosen, target.system.id, purchase, region)
    except HwprofError as exc:
        if target and region is None and purchase == "on-demand":
            warn(f"{exc}; no cost shown")
            return None
        raise


def _note_calibration(result: dict[str, Any], chip_id: str, kind: str) -> None:
    """Say whether any published result on this chip backs the efficiency defaults."""
    cases = [c.id for c in reg().validation_cases.values() if c.chip == chip_id and c.kind == kind]
    result["published_cases_for_chip"] = cases
    if not cases:
        warn(f"no published {kind} results for {chip_id} are on file: its efficiency comes from other chips' runs "
             "(see `hwprof validate`); treat the range as optimistic")  # fmt: skip


def _range(value: dict[str, float], unit: str = "", scale: float = 1.0) -> str:
    low, mid, high = (value[k] * scale for k in ("low", "expected", "high"))
    return f"{number(mid)} {unit} ({number(low)} to {number(high)})".replace("  ", " ")


def _hardware(inputs: dict[str, Any]) -> str:
    chips = f"{inputs['chips']} x {inputs['chip']}"
    return chips if inputs["target"] == chips else f"{inputs['target']} = {chips}"


def _days(seconds: float) -> str:
    return f"{seconds / 86400:,.1f} days" if seconds >= 86400 else f"{seconds / 3600:,.2f} hours"


@estimate_app.command("train")
def estimate_train(
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens, e.g. 15.6e12.")],
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="Training sequence length.")] = None,
    system: SystemOpt = None, count: CountOpt = 1, chip: ChipOpt = None, chips: ChipsOpt = None,
    precision: Annotated[str, typer.Option("--precision", help="Matmul precision: bf16, fp8, ...")] = "bf16",
    mfu: Annotated[float | None, typer.Option("--mfu", help="Override the efficiency model (0-1).")] = None,
    full_run: Annotated[bool, typer.Option("--full-run", help="Whole run incl. restarts and stages, not steady state.")] = False,
    global_batch_tokens: Annotated[float, typer.Option("--global-batch-tokens", help="Tokens per optimizer step.")] = 4 * 2**20,
    cost_model: CostModelOpt = None, region: RegionOpt = None, purchase: PurchaseOpt = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Training FLOPs, time, chip-hours, memory per chip, cost and energy, with a range."""
    from hwprof.core import estimate

    shape = _shape(model, params, active_params, layers, hidden, heads, kv_heads, model_config, seq_len)
    target = _target(system, count, chip, chips)
    quote = _quote(cost_model, target, purchase, region)
    result = estimate.estimate_train(shape, target, tokens, precision, seq_len, mfu, full_run, quote,
                                     global_batch_tokens)  # fmt: skip
    _note_calibration(result, target.chip.id, "train")
    for message in (result["cost"] or {}).get("warnings", []):
        warn(message)
    if as_json:
        echo(dump_json(result))
        return
    echo(render_train(result))


def render_train(r: dict[str, Any]) -> str:
    i, m, c, e = r["inputs"], r["memory"], r["communication"], r["efficiency"]
    rows = [
        ("model", f"{i['model']} ({number(i['params'] / 1e9)}B params, {number(i['active_params'] / 1e9)}B active)"),
        ("hardware", f"{_hardware(i)}, {i['precision']}"),
        ("tokens", f"{i['tokens']:.3g}, sequence {i['seq_len'] or 'unknown'}"),
        ("FLOPs", f"{r['flops']:.3g} (6N {r['flops_breakdown']['dense_6n']:.3g} + attention "
                  f"{r['flops_breakdown']['attention']:.3g}, +{r['flops_breakdown']['attention_share']:.0%})"),
        ("precision basis", r["precision_basis"]),
        ("MFU", f"{e['expected']:.1%} ({e['low']:.1%} to {e['high']:.1%}) = "
                + " x ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in e["factors"].items())
                + ("; calibrated on published runs (`hwprof validate`, --json for each factor's source)"
                   if e["source"] != "given with --mfu" else "; given with --mfu")),
        ("time", f"{_days(r['time_s']['expected'])} ({_days(r['time_s']['low'])} to {_days(r['time_s']['high'])})"),
        ("chip-hours", _range(r["chip_hours"])),
        ("memory per chip", f"{m['total_bytes_per_chip'] / 2**30:,.1f} GiB of {m['usable_bytes_per_chip'] / 2**30:,.1f} "
                            f"usable; fewest chips that fit: {m['min_chips']}"),
        ("memory assumes", "; ".join(m["assumptions"].values())),
        ("communication", f"{c['comm_to_compute']:.2f} x compute per step over {c['link']} "
                          f"(DP {c['data_parallel']}, TP {c['tensor_parallel']}): {c['note']}"),
        ("binding", r["binding"]),
    ]  # fmt: skip
    if r["cost"]:
        p = r["cost"]["price"]
        rows.append(("cost", _range(r["cost_usd"], "USD") + f" at {number(r['cost']['usd_per_hour'])} USD/h "
                     f"({p['purchase']}, {p['region']}, observed {p['observed']}, {p['status']})"))  # fmt: skip
    else:
        rows.append(("cost", "- (no system or no price: see --cost-model, --purchase, --region)"))
    if r["energy"]:
        rows.append(("energy", _range(r["energy_kwh"], "kWh") + f" (rated power, {r['energy']['power_status']})"))
    rows.append(("rests on", ", ".join(r["rests_on"])))
    return pairs(rows, title="training estimate (expected, with the low-high range)")


@estimate_app.command("serve")
def estimate_serve(
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    system: SystemOpt = None, count: CountOpt = 1, chip: ChipOpt = None, chips: ChipsOpt = None,
    precision: Annotated[str, typer.Option("--precision", help="Weight precision.")] = "bf16",
    kv_precision: Annotated[str, typer.Option("--kv-precision", help="KV-cache precision.")] = "bf16",
    batch: Annotated[int, typer.Option("--batch", help="Concurrent sequences.")] = 1,
    input_tokens: Annotated[int, typer.Option("--input-tokens", help="Prompt tokens.")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens", help="Generated tokens.")] = 500,
    cost_model: CostModelOpt = None, region: RegionOpt = None, purchase: PurchaseOpt = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Time to first token, time per output token, throughput, KV cache, cost per million tokens."""
    from hwprof.core import estimate

    shape = _shape(model, params, active_params, layers, hidden, heads, kv_heads, model_config, None)
    target = _target(system, count, chip, chips)
    quote = _quote(cost_model, target, purchase, region)
    result = estimate.estimate_serve(shape, target, precision, kv_precision, batch, input_tokens, output_tokens, quote)
    _note_calibration(result, target.chip.id, "serve")
    for message in (result.get("cost") or {}).get("warnings", []):
        warn(message)
    if as_json:
        echo(dump_json(result))
        return
    echo(render_serve(result))


def render_serve(r: dict[str, Any]) -> str:
    i, b, m = r["inputs"], r["breakdown"], r["memory"]
    rows = [
        ("model", f"{i['model']}, weights {i['precision']}, KV cache {i['kv_precision']}"),
        ("hardware", _hardware(i)),
        ("request", f"batch {i['batch']}, {i['input_tokens']} in, {i['output_tokens']} out"),
        ("precision basis", r["precision_basis"]),
        ("time to first token", _range(r["ttft_s"], "ms", 1000)),
        ("time per output token", _range(r["tpot_s"], "ms", 1000)),
        ("throughput", _range(r["tokens_per_s"], "tokens/s") + f", {number(r['tokens_per_s_per_chip'])} per chip"),
        ("binding", r["binding"]),
        ("decode step", f"memory {b['decode_memory_s'] * 1e3:.2f} ms, compute {b['decode_compute_s'] * 1e3:.2f} ms, "
                        f"communication {b['decode_comm_s'] * 1e3:.2f} ms, prompts interleaved "
                        f"{b['decode_prefill_interleave_s'] * 1e3:.2f} ms"),
        ("memory", f"weights {m['weights_bytes'] / 1e9:,.1f} GB, KV cache {m['kv_cache_bytes'] / 1e9:,.1f} GB "
                   f"({m['kv_bytes_per_token'] / 1e3:,.1f} kB per token); largest batch {m['max_batch']}"),
        ("assumes", f"{r['assumptions']['parallelism']}; {r['assumptions']['batching']}; memory bandwidth "
                    f"{r['assumptions']['memory_bandwidth_fraction']:.0%}, prefill compute "
                    f"{r['assumptions']['prefill_compute_fraction']:.0%} of peak"),
    ]  # fmt: skip
    if "cost_usd_per_million_tokens" in r:
        p = r["cost"]["price"]
        rows.append(("cost", _range(r["cost_usd_per_million_tokens"], "USD per million output tokens")
                     + f" at {number(r['cost']['usd_per_hour'])} USD/h ({p['purchase']}, {p['region']}, "
                     f"observed {p['observed']})"))  # fmt: skip
    rows.append(("rests on", ", ".join(r["rests_on"])))
    return pairs(rows, title="serving estimate (expected, with the low-high range)")


@estimate_app.command("peak")
def estimate_peak(
    system: SystemOpt = None, count: CountOpt = 1, chip: ChipOpt = None, chips: ChipsOpt = None,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Aggregate peak compute (dense and sparse), memory, bandwidth and power of N chips or K systems."""
    from hwprof.core.aggregate import aggregate_chips, aggregate_system
    from hwprof.core.cli import render_aggregate

    r = reg()
    target = _target(system, count, chip, chips)
    if target.system is not None:
        result = aggregate_system(target.system, target.chip, r.interconnects, target.chips // target.system.chips)
    else:
        result = {"system": f"{target.chips} x {target.chip.id}", "systems": 1, **aggregate_chips(target.chip, target.chips),
                  "tiers": [], "scale_up_domain_chips": 1, "claims": []}  # fmt: skip
    echo(dump_json(result) if as_json else render_aggregate(result))


# ----------------------------------------------------------------------------- compare


def _systems(text: str, baseline: str | None) -> tuple[list[str], str]:
    """The system ids of --systems and the baseline among them (default: the first)."""
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if len(ids) < 2:
        raise HwprofError("--systems needs at least two system ids, separated by commas")
    if baseline is not None and baseline not in ids:
        raise HwprofError(f"--baseline {baseline} is not one of --systems {','.join(ids)}")
    return ids, baseline or ids[0]


@compare_app.command("train")
def compare_train(
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated system ids.")],
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens.")],
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len")] = None,
    chips: Annotated[int | None, typer.Option("--chips", help="Chips per system type (rounded up to whole systems); default: the fewest that fit.")] = None,
    precision: Annotated[str, typer.Option("--precision")] = "bf16",
    baseline: Annotated[str | None, typer.Option("--baseline", help="Ratios against this system (default: the first).")] = None,
    cost_models: Annotated[str | None, typer.Option("--cost-models", help="Comma-separated cost model ids to put side by side.")] = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference, comma-separated.")] = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Time, cost, tokens per dollar and energy of one training run on several systems."""
    from hwprof.core import estimate, pricing

    r = reg()
    shape = _shape(model, params, active_params, layers, hidden, heads, kv_heads, model_config, seq_len)
    ids, baseline = _systems(systems, baseline)
    models: list[str | None] = [m.strip() for m in cost_models.split(",")] if cost_models else [*sorted(r.cost_models)]
    options = _purchase_options(pricing, purchase, region, [r.cost_model(m) for m in models if m])
    rows: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        chip = r.chip(system.chip)
        fit = estimate.train_memory(shape, estimate.target_for(chip, system.chips, system, r.interconnects),
                                    seq_len or shape.seq_len)["min_chips"] or system.chips  # fmt: skip
        want = chips or fit
        target = estimate.target_for(chip, math.ceil(want / system.chips) * system.chips, system, r.interconnects)
        for model_id in models or [None]:  # without a cost model: time and energy only
            quote, missing = None, ""
            if model_id is not None:
                quote, missing = _first_quote(pricing, r.cost_model(model_id), system_id, options, region)
            result = estimate.estimate_train(shape, target, tokens, precision, seq_len, quote=quote)
            label = system_id + (f" [{model_id}]" if len(models) > 1 else "")
            rows.append({"system": system_id, "label": label, "cost_model": model_id, "chips": target.chips,
                         "result": result, "missing_price": missing})  # fmt: skip
    out = _ratios(rows, baseline, "time_s")
    if as_json:
        echo(
            dump_json(
                {"baseline": baseline, "rows": [_compact(row) for row in out], "finding": _finding(out, baseline)}
            )
        )
        return
    table_rows = [[row["label"], row["chips"],
                   _days(row["result"]["time_s"]["expected"]), number(row["result"]["chip_hours"]["expected"]),
                   number(row["cost"]) if row["cost"] else "- (no price)",
                   _price_cell(row["result"].get("cost")),
                   number(row["tokens_per_usd"]) if row["tokens_per_usd"] else "-",
                   number(row["result"]["energy_kwh"]["expected"]) if row["result"].get("energy_kwh") else "-",
                   f"{row['time_ratio']:.2f}", f"{row['price_performance']:.2f}" if row["price_performance"] else "-"]
                  for row in out]  # fmt: skip
    headers = ["system", "chips", "time", "chip-hours", "cost USD", "price used", "tokens/USD", "kWh",
               "time vs base", "price-perf vs base"]  # fmt: skip
    echo(table(headers, table_rows, title=f"{shape.name}, {tokens:.3g} tokens, {precision}; baseline {baseline}"))
    echo("\nprice-perf vs base: tokens per dollar relative to the baseline (above 1 is better).")
    echo(_finding(out, baseline))
    for row in out:
        for message in (row["result"].get("cost") or {}).get("warnings", []):
            warn(message)


def _price_cell(cost: dict[str, Any] | None) -> str:
    """Which price a row used and when it was observed, flagged when stale."""
    if not cost:
        return "-"
    p = cost["price"]
    return f"{p['usd_per_hour']:g}/h {p['purchase']} {p['region']} {p['observed']}" + (" STALE" if p["stale"] else "")


def _purchase_options(pricing: Any, purchase: str, region: str | None, cost_models: list[Any]) -> list[str]:
    """The --purchase options in order of preference, after checking them and --region."""
    options = [p.strip() for p in purchase.split(",") if p.strip()]
    for option in options:
        pricing.check_purchase(option)
    if region is not None:
        pricing.check_region(region, sorted({r for m in cost_models for r in m.regions}), "the cost models have")
    return options


def _first_quote(
    pricing: Any, cost_model: Any, system_id: str, options: list[str], region: str | None
) -> tuple[Any, str]:
    """The first purchase option (in the order given) with a price, or why there is none."""
    for option in options:
        if region is None or region in cost_model.regions:
            try:
                return pricing.quote(cost_model, system_id, option, region), ""
            except HwprofError:
                continue  # no price under this option: try the next
    gaps = [g.reason for option in options for g in pricing.missing_for(cost_model, system_id, option, region)]
    where = f" in {region}" if region else ""
    return None, f"no {'/'.join(options)} price{where}" + (f": {gaps[0]}" if gaps else "")


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
            "price": (res.get("cost") or {}).get("price"), "efficiency": res["efficiency"]}  # fmt: skip


def _finding(rows: list[dict[str, Any]], baseline: str) -> str:
    priced = [r for r in rows if r["price_performance"]]
    lines = []
    for row in priced:
        if row["price_performance"] == 1 and row["system"] == baseline:
            continue
        gain = row["price_performance"] - 1
        factors = row["result"]["efficiency"]["factors"]
        software = (
            f" (with its chip_software factor {factors['chip_software']:.2f})" if "chip_software" in factors else ""
        )
        verdict = "better" if gain > 0 else "worse"
        lines.append(f"{row['label']}: {abs(gain):.0%} {verdict} price-performance than the baseline at these prices "
                     f"and the MFU the efficiency model expects{software}; the ranking holds unless its real MFU is "
                     f"{'below' if gain > 0 else 'above'} {1 / row['price_performance']:.2f}x that expectation")  # fmt: skip
    for row in rows:
        if not row["cost"]:
            lines.append(f"not priced: {row['label']}: {row['missing_price'] or 'no cost model'}")
    return "\n".join(lines)


@compare_app.command("serve")
def compare_serve(
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated system ids.")],
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    precision: Annotated[str, typer.Option("--precision")] = "bf16",
    kv_precision: Annotated[str, typer.Option("--kv-precision")] = "bf16",
    batch: Annotated[int, typer.Option("--batch")] = 1,
    input_tokens: Annotated[int, typer.Option("--input-tokens")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens")] = 500,
    baseline: Annotated[str | None, typer.Option("--baseline")] = None,
    cost_model: CostModelOpt = None,
    region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """Latency, throughput and cost per million tokens of one serving setup on several systems."""
    from hwprof.core import estimate, pricing

    r = reg()
    shape = _shape(model, params, active_params, layers, hidden, heads, kv_heads, model_config, None)
    ids, baseline = _systems(systems, baseline)
    chosen_model = _cost_model(cost_model)
    options = _purchase_options(pricing, purchase, region, [chosen_model] if chosen_model else [])
    out: list[dict[str, Any]] = []
    for system_id in ids:
        system = r.system(system_id)
        target = estimate.target_for(r.chip(system.chip), system.chips, system, r.interconnects)
        quote, missing = None, ""
        if chosen_model is not None:
            quote, missing = _first_quote(pricing, chosen_model, system_id, options, region)
        res = estimate.estimate_serve(shape, target, precision, kv_precision, batch, input_tokens, output_tokens, quote)
        out.append({"system": system_id, "result": res, "missing_price": missing})
    base = next(o for o in out if o["system"] == baseline)
    base_cost = (base["result"].get("cost_usd_per_million_tokens") or {}).get("expected")
    for o in out:
        cost = (o["result"].get("cost_usd_per_million_tokens") or {}).get("expected")
        o["price_performance"] = base_cost / cost if cost and base_cost else None
    if as_json:
        echo(dump_json({"baseline": baseline, "rows": [
            {"system": o["system"], "ttft_s": o["result"]["ttft_s"], "tpot_s": o["result"]["tpot_s"],
             "tokens_per_s": o["result"]["tokens_per_s"], "binding": o["result"]["binding"],
             "cost_usd_per_million_tokens": o["result"].get("cost_usd_per_million_tokens"),
             "price_performance": o["price_performance"], "missing_price": o["missing_price"] or None}
            for o in out]}))  # fmt: skip
        return
    rows = [[o["system"], f"{o['result']['ttft_s']['expected'] * 1e3:,.1f}", f"{o['result']['tpot_s']['expected'] * 1e3:,.2f}",
             number(o["result"]["tokens_per_s"]["expected"]), o["result"]["binding"],
             number(o["result"]["cost_usd_per_million_tokens"]["expected"]) if "cost_usd_per_million_tokens" in o["result"]
             else f"- ({o['missing_price'] or 'no price'})",
             f"{o['price_performance']:.2f}" if o["price_performance"] else "-"] for o in out]  # fmt: skip
    echo(table(["system", "TTFT ms", "TPOT ms", "tokens/s", "binding", "USD/M tokens", "price-perf vs base"], rows,
               title=f"{shape.name}, batch {batch}, {input_tokens} in / {output_tokens} out; baseline {baseline}"))  # fmt: skip


# ----------------------------------------------------------------------------- plan


@plan_app.command("train")
def plan_train_cmd(
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens.")],
    model: ModelOpt = None, params: ParamsOpt = None, active_params: ActiveOpt = None, layers: LayersOpt = None,
    hidden: HiddenOpt = None, heads: HeadsOpt = None, kv_heads: KvHeadsOpt = None, model_config: ConfigOpt = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len")] = None,
    deadline_days: Annotated[float | None, typer.Option("--deadline-days", help="Finish within this many days.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Spend at most this many USD.")] = None,
    systems: Annotated[str | None, typer.Option("--systems", help="Comma-separated system ids (default: all priced).")] = None,
    precision: Annotated[str, typer.Option("--precision")] = "bf16",
    cost_model: CostModelOpt = None, region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """For each system, the fewest that fit and meet the deadline, its time and cost; cheapest and fastest marked."""
    from hwprof.core import plan, pricing

    r = reg()
    shape = _shape(model, params, active_params, layers, hidden, heads, kv_heads, model_config, seq_len)
    chosen_model = _cost_model(cost_model)
    if systems:
        ids = [s.strip() for s in systems.split(",") if s.strip()]
    else:
        ids = sorted({p.system for p in chosen_model.prices} & set(r.systems)) if chosen_model else sorted(r.systems)
    options = _purchase_options(pricing, purchase, region, [chosen_model] if chosen_model else [])
    candidates = []
    for system_id in ids:
        system = r.system(system_id)
        quote = _first_quote(pricing, chosen_model, system_id, options, region)[0] if chosen_model else None
        candidates.append((system, r.chip(system.chip), quote))
    rows = plan.plan_train(shape, candidates, r.interconnects, tokens, precision, seq_len,
                           deadline_days * 86400 if deadline_days is not None else None, budget)  # fmt: skip
    if as_json:
        echo(dump_json({"deadline_days": deadline_days, "budget_usd": budget, "options": rows}))
        return
    table_rows = []
    for row in rows:
        if "skipped" in row:
            table_rows.append([row["system"], "-", "-", "-", "-", row["skipped"]])
            continue
        marks = [m for m in ("cheapest", "fastest") if row.get(m)]
        if not row["meets_deadline"]:
            verdict = "misses deadline"
        elif row["meets_budget"] is False:
            verdict = "over budget"
        elif budget is not None and row["meets_budget"] is None:
            verdict = "no price"
        else:
            verdict = "ok"
        table_rows.append([row["system"], f"{row['count']} ({row['chips']} chips)", _days(row["time_s"]["expected"]),
                           number(row["cost_usd"]["expected"]) if row["cost_usd"] else "- (no price)",
                           f"{row['mfu']:.0%}", " ".join([verdict, *marks])])  # fmt: skip
    goal = ", ".join(g for g in (f"deadline {deadline_days:g} days" if deadline_days else "",
                                 f"budget {budget:,.0f} USD" if budget else "") if g) or "fewest systems that fit"  # fmt: skip
    echo(table(["system", "count", "time", "cost USD", "MFU", "verdict"], table_rows,
               title=f"{shape.name}, {tokens:.3g} tokens, {precision}; goal: {goal}"))  # fmt: skip


# ----------------------------------------------------------------------------- validate


@app.command("validate")
def validate_cmd(
    role: Annotated[str | None, typer.Option("--role", help="Only 'calibration' or 'validation' cases.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the estimators on published results: estimate vs published, error, median absolute error."""
    from hwprof.core import validate

    if role not in (None, "calibration", "validation"):
        raise HwprofError(f"--role {role}: use 'calibration' or 'validation'")
    out = validate.run(reg(), role)
    if as_json:
        echo(dump_json(out))
        return
    rows = [[c["id"], c["role"][:3], c["metric"], number(c["published"]), number(c["estimate"]["expected"]),
             f"{c['error']:+.0%}", "yes" if c["in_range"] else "NO", ", ".join(c["calibrates"])]
            for c in out["cases"]]  # fmt: skip
    echo(table(["case", "role", "metric", "published", "estimate", "error", "in range", "sets"], rows))
    for group, s in out["summary"].items():
        echo(f"\n{group}: {s['cases']} cases ({s['train_cases']} training, {s['serve_cases']} serving), "
             f"median absolute error {s['median_abs_error']:.1%}, published value inside the range for "
             f"{s['in_range_share']:.0%}")  # fmt: skip
    echo("\ncalibration cases set the defaults in hwprof.core.efficiency; validation cases are kept apart.")
