"""``hwprof estimate``: one workload on one target: training, serving, peaks."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hwprof.core import hookimpl
from hwprof.core.cli.common import (
    ActiveOpt,
    ChipOpt,
    ChipsOpt,
    ConfigOpt,
    CostModelOpt,
    CountOpt,
    FormatOpt,
    HeadsOpt,
    HiddenOpt,
    JsonFlag,
    KvHeadsOpt,
    LayersOpt,
    ModelOpt,
    ParamsOpt,
    PurchaseOpt,
    RegionOpt,
    SystemOpt,
    cluster_from,
    current_registry,
    days_text,
    hardware_text,
    note_calibration,
    quote_for,
    range_text,
    shape_from,
)
from hwprof.core.cli.render import dump_json, echo, number, pairs, warn

estimate_app = typer.Typer(
    help="Estimates: training time and cost, serving latency and cost, peaks.", no_args_is_help=True
)


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
    from hwprof.core.perf import training

    shape = shape_from(model, params, active_params, layers, hidden, heads, kv_heads, model_config, seq_len)
    target = cluster_from(system, count, chip, chips)
    quote = quote_for(cost_model, target, purchase, region)
    result = training.estimate_train(shape, target, tokens, precision, seq_len, mfu, full_run, quote,
                                     global_batch_tokens)  # fmt: skip
    note_calibration(result, target.chip.id, "train")
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
        ("hardware", f"{hardware_text(i)}, {i['precision']}"),
        ("tokens", f"{i['tokens']:.3g}, sequence {i['seq_len'] or 'unknown'}"),
        ("FLOPs", f"{r['flops']:.3g} (6N {r['flops_breakdown']['dense_6n']:.3g} + attention "
                  f"{r['flops_breakdown']['attention']:.3g}, +{r['flops_breakdown']['attention_share']:.0%})"),
        ("precision basis", r["precision_basis"]),
        ("MFU", f"{e['expected']:.1%} ({e['low']:.1%} to {e['high']:.1%}) = "
                + " x ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in e["factors"].items())
                + ("; calibrated on published runs (`hwprof validate`, --json for each factor's source)"
                   if e["source"] != "given with --mfu" else "; given with --mfu")),
        ("time", f"{days_text(r['time_s']['expected'])} ({days_text(r['time_s']['low'])} to {days_text(r['time_s']['high'])})"),
        ("chip-hours", range_text(r["chip_hours"])),
        ("memory per chip", f"{m['total_bytes_per_chip'] / 2**30:,.1f} GiB of {m['usable_bytes_per_chip'] / 2**30:,.1f} "
                            f"usable; fewest chips that fit: {m['min_chips']}"),
        ("memory assumes", "; ".join(m["assumptions"].values())),
        ("communication", f"{c['comm_to_compute']:.2f} x compute per step over {c['link']} "
                          f"(DP {c['data_parallel']}, TP {c['tensor_parallel']}): {c['note']}"),
        ("binding", r["binding"]),
    ]  # fmt: skip
    if r["cost"]:
        p = r["cost"]["price"]
        rows.append(("cost", range_text(r["cost_usd"], "USD") + f" at {number(r['cost']['usd_per_hour'])} USD/h "
                     f"({p['purchase']}, {p['region']}, observed {p['observed']}, {p['status']})"))  # fmt: skip
    else:
        rows.append(("cost", "- (no system or no price: see --cost-model, --purchase, --region)"))
    if r["energy"]:
        rows.append(("energy", range_text(r["energy_kwh"], "kWh") + f" (rated power, {r['energy']['power_status']})"))
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
    from hwprof.core.perf import serving

    shape = shape_from(model, params, active_params, layers, hidden, heads, kv_heads, model_config, None)
    target = cluster_from(system, count, chip, chips)
    quote = quote_for(cost_model, target, purchase, region)
    result = serving.estimate_serve(shape, target, precision, kv_precision, batch, input_tokens, output_tokens, quote)
    note_calibration(result, target.chip.id, "serve")
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
        ("hardware", hardware_text(i)),
        ("request", f"batch {i['batch']}, {i['input_tokens']} in, {i['output_tokens']} out"),
        ("precision basis", r["precision_basis"]),
        ("time to first token", range_text(r["ttft_s"], "ms", 1000)),
        ("time per output token", range_text(r["tpot_s"], "ms", 1000)),
        ("throughput", range_text(r["tokens_per_s"], "tokens/s") + f", {number(r['tokens_per_s_per_chip'])} per chip"),
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
        rows.append(("cost", range_text(r["cost_usd_per_million_tokens"], "USD per million output tokens")
                     + f" at {number(r['cost']['usd_per_hour'])} USD/h ({p['purchase']}, {p['region']}, "
                     f"observed {p['observed']})"))  # fmt: skip
    rows.append(("rests on", ", ".join(r["rests_on"])))
    return pairs(rows, title="serving estimate (expected, with the low-high range)")


@estimate_app.command("peak")
def estimate_peak(
    system: SystemOpt = None, count: CountOpt = 1, chip: ChipOpt = None, chips: ChipsOpt = None,
    as_json: JsonFlag = False, fmt: FormatOpt = None,
) -> None:  # fmt: skip
    """Aggregate peak compute (dense and sparse), memory, bandwidth and power of N chips or K systems."""
    from hwprof.core.cli.render import aggregate_blocks, emit, output_format
    from hwprof.core.perf.aggregate import aggregate_chips, aggregate_system

    r = current_registry()
    target = cluster_from(system, count, chip, chips)
    if target.system is not None:
        result = aggregate_system(target.system, target.chip, r.interconnects, target.chips // target.system.chips)
    else:
        result = {"system": f"{target.chips} x {target.chip.id}", "systems": 1, **aggregate_chips(target.chip, target.chips),
                  "tiers": [], "scale_up_domain_chips": 1, "claims": []}  # fmt: skip
    emit(output_format(fmt, as_json), result, lambda: aggregate_blocks(result))


# ----------------------------------------------------------------------------- compare


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(estimate_app, name="estimate")
