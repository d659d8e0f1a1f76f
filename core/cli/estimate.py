"""``hwprof estimate``: one workload on one target: training, serving, peaks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import attrs
import typer

from ..data import checks
from ..data.hookspecs import hookimpl
from ..errors import HwprofError
from .common import (
    CostModelOpt,
    FormatOpt,
    JsonFlag,
    PurchaseOpt,
    RegionOpt,
    ServeStackOpt,
    TrainStackOpt,
    checked,
    days_text,
    hardware_text,
    lowered,
    range_text,
)
from .groups import HardwareOptions, ModelOptions, OutputOptions, ServeFeatures, grouped
from .launch import EmitOpt, show
from .plot import Bar, breakdown
from .render import duration, exact, note, number, pairs, plural, warn

estimate_app = typer.Typer(
    help="Estimates: training time and cost, serving latency and cost, peaks.", no_args_is_help=True
)


TrainLayoutOpt = Annotated[str | None, typer.Option(
    "--layout", help="How the job is split: tp=8,pp=16,dp=128,cp=1,ep=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1 "
                     "(omitted keys take defaults; dp defaults to what the chips leave; grads=16 for a recipe that keeps "
                     "16-bit gradients, 32 by default; etp=1 keeps routed experts whole, default etp=tp). "
                     "Without it: searched.")]  # fmt: skip


@estimate_app.command("train")
@grouped
def estimate_train(
    tokens: Annotated[float, typer.Option("--tokens", callback=checked(checks.TOKENS), help="Training tokens, e.g. 15.6e12.")],
    model_opts: ModelOptions = ModelOptions(),
    seq_len: Annotated[int | None, typer.Option("--seq-len", callback=checked(checks.SEQ_LEN), help="Training sequence length.")] = None,
    hardware: HardwareOptions = HardwareOptions(),
    precision: Annotated[str, typer.Option("--precision", callback=lowered, help="Matmul precision: bf16, fp8, ...")] = "bf16",
    layout: TrainLayoutOpt = None,
    mfu: Annotated[float | None, typer.Option("--mfu", callback=checked(checks.MFU), help="Skip the layout model: a given utilisation (0-1).")] = None,
    full_run: Annotated[bool, typer.Option("--full-run", help="Whole run incl. restarts and stages, not steady state.")] = False,
    global_batch_tokens: Annotated[float | None, typer.Option("--global-batch-tokens", callback=checked(checks.GLOBAL_BATCH_TOKENS), help="Tokens per optimizer step (default 4M; 8M above 1,024 chips, 16M above 4,096; raised to fill a given pipeline).")] = None,
    cross_domain_tp: Annotated[bool, typer.Option("--cross-domain-tp", help="Allow tensor parallel across scale-up domains.")] = False,
    stack: TrainStackOpt = None,
    cost_model: CostModelOpt = None, region: RegionOpt = None, purchase: PurchaseOpt = "on-demand",
    output: OutputOptions = OutputOptions(), emit_as: EmitOpt = None,
) -> None:  # fmt: skip
    """Training time, chip-hours, memory per chip, cost and energy for a layout (given or searched), with a range."""
    from ..emit import picks
    from ..jsonable import to_json
    from ..service import estimate
    from ..service.costs import calibration_evidence, quote_for
    from ..service.workload import global_batch_seqs
    from .render import Pairs, emit, ranges_table

    fmt, plot = output.format(), output.plot
    work = model_opts.workload(seq_len)
    target = hardware.cluster()
    quote = quote_for(cost_model, target, purchase, region)
    batch = global_batch_seqs(work, global_batch_tokens, seq_len)
    result = estimate.train(work, target, tokens, precision=precision, layout=layout, seq_len=seq_len,
                            full_run=full_run, quote=quote, global_batch_seqs=batch, cross_domain=cross_domain_tp,
                            mfu=mfu, stack=stack)  # fmt: skip
    data = to_json(result)
    data["published_cases_for_chip"] = calibration_evidence(target.chip.id, "train")
    for message in (result.cost or {}).get("warnings", []):
        warn(message)
    title = "training estimate (expected, with the low-high range)"
    sources = {
        "model": data["inputs"].get("model_source", ""),
        "cost": (data["cost"] or {}).get("price", {}).get("source"),
    }
    launched = emit_as and show(
        fmt, data, picks.write(emit_as, "train", picks.train_estimate_pick(work, result, target))
    )
    if not launched:
        emit(fmt, data, lambda: [Pairs(cited(train_rows(data), sources), title=title), ranges_table(data)])
    if plot is not None:
        draw_step(data, plot, result.layout_fields)
        note(f"chart written to {plot}")


def cited(rows: list[tuple[str, str]], sources: dict[str, Any]) -> list[tuple[str, Any]]:
    """Rows whose figures come from a source (the model's shape, the price) carry it: a footnote in Markdown."""
    from .render import Cell

    def where(source: Any) -> str:
        if isinstance(source, dict):
            return ", ".join(str(source[k]) for k in ("title", "url") if source.get(k))
        return str(source or "")

    return [(name, Cell(text, source=where(sources[name])) if sources.get(name) else text) for name, text in rows]


def draw_step(r: dict[str, Any], path: Path, layout: Any) -> None:
    """Where one optimizer step's time goes on the slowest pipeline stage: compute, each parallel
    dimension's exposed communication (with the links the job crosses), the bubble, the optimizer."""
    s = r["step"]
    if not s:
        raise HwprofError("--plot: this estimate has no step breakdown (a given --mfu skips the layout model)")
    parts = [("compute", "compute_s"), ("tensor parallel", "tensor_parallel_s"), ("expert parallel", "expert_parallel_s"),
             ("context parallel", "context_parallel_s"), ("pipeline sends", "pipeline_p2p_s"),
             ("pipeline bubble", "pipeline_bubble_s"), ("data parallel (exposed)", "data_parallel_s"),
             ("optimizer", "optimizer_s")]  # fmt: skip
    from .plan import short_layout

    i = r["inputs"]
    title = (f"one optimizer step ({s['micro_batches']} micro-batches): {i['model']} on {i['target']}, "
             f"{short_layout(layout)}")  # fmt: skip
    links = "links: " + ("; ".join(t.split(" (")[0] for t in r["tiers"]) or "none")
    breakdown([Bar(name, s[key]) for name, key in parts], path, title=title, note=links)


def render_train(r: dict[str, Any]) -> str:
    return pairs(train_rows(r), title="training estimate (expected, with the low-high range)")


def train_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    i = r["inputs"]
    gib = 2**30
    rows = [
        ("model", f"{i['model']} ({number(i['params'] / 1e9)}B params, {number(i['active_params'] / 1e9)}B active)"),
        ("hardware", f"{hardware_text(i)}, {i['precision']}"),
        ("tokens", f"{i['tokens']:.3g}, sequence {i['seq_len'] or 'unknown'}"
                   + (f", global batch {i['global_batch_seqs']:,} sequences ({i['global_batch_tokens']:.3g} tokens)"
                      if i["global_batch_seqs"] else "")),
        ("FLOPs", f"{r['flops']:.3g} (6N {r['flops_breakdown']['dense_6n']:.3g} + attention "
                  f"{r['flops_breakdown']['attention']:.3g}, +{r['flops_breakdown']['attention_share']:.0%})"),
    ]  # fmt: skip
    if r["layout"]:
        rows.append(("layout", f"{r['layout']} ({r['layout_basis']})"))
        if r["runner_up"]:
            u = r["runner_up"]
            rows.append(("runner-up", f"{u['layout']} ({u['slower_by']:+.1%} step time)"))
    rows.append(("precision basis", r["precision_basis"]))
    if r["step"]:
        s = r["step"]
        parts = [("compute", s["compute_s"]), ("TP", s["tensor_parallel_s"]), ("EP", s["expert_parallel_s"]),
                 ("CP", s["context_parallel_s"]), ("PP sends", s["pipeline_p2p_s"]),
                 ("bubble", s["pipeline_bubble_s"]), ("DP exposed", s["data_parallel_s"]),
                 ("optimizer", s["optimizer_s"])]  # fmt: skip
        rows.append(("step", f"{s['total_s']:.3g} s = " + " + ".join(f"{n} {v:.3g}" for n, v in parts if v > 0)
                     + f"; {s['micro_batches']} micro-batches"))  # fmt: skip
    m = r["mfu"]
    rows += [
        ("MFU", f"{m['expected']:.1%} ({m['low']:.1%} to {m['high']:.1%}), against the {i['precision']} peak"),
        ("time", f"{days_text(r['time_s']['expected'])} ({days_text(r['time_s']['low'])} to {days_text(r['time_s']['high'])})"),
        ("range", r["range_basis"]),
        ("chip-hours", range_text(r["chip_hours"])),
    ]  # fmt: skip
    rows.insert(rows.index(("range", r["range_basis"])), ("stack", f"{r['stack'] or '-'} ({r['stack_basis']})"))
    if r["memory"]:
        mem = r["memory"]
        rows.append(("memory per chip", f"{mem['total_bytes_per_chip'] / gib:,.1f} GiB of {mem['usable_bytes_per_chip'] / gib:,.1f} "
                     f"usable: weights {mem['weights_bytes_per_chip'] / gib:,.1f}, gradients "
                     f"{mem['gradients_bytes_per_chip'] / gib:,.1f}, optimizer {mem['optimizer_bytes_per_chip'] / gib:,.1f}, "
                     f"activations {mem['activations_bytes_per_chip'] / gib:,.1f}" + ("" if mem["fits"] else " - DOES NOT FIT")))  # fmt: skip
    for tier in r["tiers"]:
        rows.append(("link", tier))
    rows.append(("binding", r["binding"]))
    if r["cost"]:
        p = r["cost"]["price"]
        rows.append(("cost", range_text(r["cost_usd"], "USD") + f" at {exact(r['cost']['usd_per_hour'])} USD/h "
                     f"({p['purchase']}, {p['region']}, observed {p['observed']}, {p['status']})"))  # fmt: skip
    else:
        rows.append(("cost", "- (no system or no price: see --cost-model, --purchase, --region)"))
    if r["energy"]:
        rows.append(("energy", range_text(r["energy_kwh"], "kWh") + f" (rated power, {r['energy']['power_status']})"))
    for text in r["notes"]:
        rows.append(("note", text))
    rows.append(("rests on", ", ".join(r["rests_on"])))
    return rows


LayoutOpt = Annotated[
    str | None,
    typer.Option("--layout", help="Serving layout tp=T,pp=P,dp=D[,ep=E,adp=1|2]; default: tensor parallel over one "
                 "scale-up domain, replicas over the rest."),
]  # fmt: skip
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "--batch",
        callback=checked(checks.BATCH.named("concurrency")),
        help="Users in a closed loop (each sends again when answered).",
    ),
]
RateOpt = Annotated[
    float | None,
    typer.Option("--rate", callback=checked(checks.RATE), help="Requests per second (Poisson arrivals), all replicas."),
]
ARRIVALS = ("poisson", "constant")


def _arrivals(value: str) -> str:
    if value not in ARRIVALS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(ARRIVALS)}")
    return value


ArrivalsOpt = Annotated[
    str,
    typer.Option("--arrivals", metavar="poisson|constant", callback=_arrivals,
                 help="How --rate's requests arrive: poisson (independent users) or constant (evenly spaced, as a "
                      "load generator's constant-rate run sends them)."),
]  # fmt: skip
ChunkOpt = Annotated[
    int,
    typer.Option(
        "--chunk-tokens",
        callback=checked(checks.REQUEST_TOKENS.named("chunk tokens")),
        help="Chunked-prefill budget: prompt tokens per step.",
    ),
]


@estimate_app.command("serve")
@grouped
def estimate_serve(
    model_opts: ModelOptions = ModelOptions(),
    hardware: HardwareOptions = HardwareOptions(),
    layout: LayoutOpt = None,
    precision: Annotated[str, typer.Option("--precision", callback=lowered, help="Weight precision: bf16, fp8, int4, fp4 ...")] = "bf16",
    kv_precision: Annotated[str, typer.Option("--kv-precision", callback=lowered, help="KV-cache precision: bf16 or fp8.")] = "bf16",
    concurrency: ConcurrencyOpt = None, rate: RateOpt = None, arrivals: ArrivalsOpt = "poisson",
    input_tokens: Annotated[int, typer.Option("--input-tokens", callback=checked(checks.REQUEST_TOKENS), help="Prompt tokens.")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens", callback=checked(checks.REQUEST_TOKENS), help="Generated tokens.")] = 500,
    chunk_tokens: ChunkOpt = 8192,
    max_batch: Annotated[int | None, typer.Option("--max-batch", callback=checked(checks.BATCH.named("max batch")), help="The engine's limit on sequences in flight per "
                                                  "replica (default: what the KV cache holds).")] = None,
    prefill_layout: Annotated[str | None, typer.Option("--prefill-layout", help="Disaggregated serving: the prefill "
                                                       "pool's layout tp=T,pp=P,dp=WORKERS (default 1 worker); "
                                                       "--layout is then the decode pool's, on the chips left or "
                                                       "on --decode-system.")] = None,
    decode_system: Annotated[str | None, typer.Option("--decode-system", help="Disaggregated serving: the decode "
                                                      "pool's system, if not --system's (one of it unless --layout "
                                                      "gives dp).")] = None,
    features: ServeFeatures = ServeFeatures(), stack: ServeStackOpt = None,
    cost_model: CostModelOpt = None, region: RegionOpt = None, purchase: PurchaseOpt = "on-demand",
    output: OutputOptions = OutputOptions(), emit_as: EmitOpt = None,
) -> None:  # fmt: skip
    """Time to first token and per output token (mean, p50, p90), throughput, memory, cost per million tokens;
    with --prefill-layout, prefill and decode pools apart (the KV cache handed over, counted in TTFT)."""
    from ..emit import picks
    from ..jsonable import to_json
    from ..perf.serve import serving
    from ..service import estimate
    from ..service.costs import calibration_evidence, quote_for
    from .render import Pairs, emit, ranges_table

    fmt, plot = output.format(), output.plot
    if concurrency is not None and rate is not None:
        raise HwprofError("give the load once: --concurrency N (closed loop) or --rate R (requests per second)")
    if arrivals != "poisson" and rate is None:
        raise HwprofError("--arrivals says how --rate's requests arrive: give --rate R with it")
    work = model_opts.workload()
    target = hardware.cluster()
    load = serving.Traffic(input_tokens, output_tokens, concurrency=concurrency if rate is None else None,
                           rate_per_s=rate, max_batch=max_batch, options=features.options(), arrivals=arrivals)  # fmt: skip
    if prefill_layout is not None or decode_system is not None:
        if prefill_layout is None:
            raise HwprofError("--decode-system needs --prefill-layout (the prefill pool's layout, e.g. tp=2,dp=3)")
        if emit_as:
            raise HwprofError("--emit writes one engine's launch files; with --prefill-layout (two pools) it is not "
                              "supported yet: leave out --emit")  # fmt: skip
        split = estimate.serve_disaggregated(work, target, prefill_layout, layout, decode_system, load,
                                             precision=precision, kv_precision=kv_precision, chunk_tokens=chunk_tokens,
                                             cost_model=cost_model, purchase=purchase, region=region,
                                             stack=stack)  # fmt: skip
        for message in split.cost.warnings if split.cost else ():
            warn(message)
        emit(fmt, to_json(split), lambda: [Pairs(disaggregated_rows(split), title="disaggregated serving estimate "
                                                 "(expected, with the low-high range)")])  # fmt: skip
        return
    quote = quote_for(cost_model, target, purchase, region)
    lay = estimate.serve_layout(work, target, layout, precision, kv_precision, chunk_tokens)
    if rate is None and concurrency is None:
        load = attrs.evolve(load, concurrency=1)
    result = estimate.serve(work, target, lay, load, quote, stack=stack)
    data = to_json(result)
    data["published_cases_for_chip"] = calibration_evidence(target.chip.id, "serve")
    for message in result.cost.warnings if result.cost else ():
        warn(message)
    title = "serving estimate (expected, with the low-high range)"
    sources = {"model": result.model_source, "cost": result.cost.price.get("source") if result.cost else None}
    launched = emit_as and show(
        fmt, data, picks.write(emit_as, "serve", picks.serve_estimate_pick(work, lay, result, target, max_batch))
    )
    if not launched:
        emit(fmt, data, lambda: [Pairs(cited(serve_rows(result), sources), title=title), ranges_table(data)])
    if plot is not None:
        b = result.breakdown
        parts = [Bar("queue wait", b.queue_wait_s), Bar("prompt (to first token)", result.ttft_s.expected - b.queue_wait_s),
                 Bar(f"decode ({result.output_tokens - 1:,} more tokens)", (result.output_tokens - 1) * result.tpot_s.expected)]  # fmt: skip
        breakdown(parts, plot, title=f"one request's time: {result.model} on {result.target}, {result.traffic}")
        note(f"chart written to {plot}")


def _maybe(value: float | None) -> str:
    return number(value) if value is not None else "-"


def render_serve(r: Any) -> str:
    return pairs(serve_rows(r), title="serving estimate (expected, with the low-high range)")


def serve_rows(r: Any) -> list[tuple[str, str]]:
    b, m = r.breakdown, r.memory

    def span_ms(s: Any) -> str:  # milliseconds, or seconds and minutes once that reads better
        low = duration(s.low) if s.low is not None else "-"
        return f"{duration(s.expected)} ({low} to {duration(s.high) if s.high is not None else 'unbounded'})"

    hardware = f"{r.chips} x {r.chip}" if r.target == f"{r.chips} x {r.chip}" else f"{r.target} = {r.chips} x {r.chip}"
    rows = [
        ("model", f"{r.model}, weights {r.weights}, KV cache {r.kv_cache}"),
        ("hardware", f"{hardware}; layout {r.layout} ({plural(r.replicas, 'replica')}, tensor parallel over {b.tp_link})"),
        ("load", f"{r.traffic}; {r.input_tokens:,} in, {r.output_tokens:,} out"),
        ("precision basis", r.precision_basis),
        ("stack", f"{r.stack or '-'} ({r.stack_basis})"),
        ("time to first token", f"mean {span_ms(r.ttft_s)}; p50 {duration(r.ttft_p50_s)}, "
                                f"p90 {duration(r.ttft_p90_s)}"),
        ("time per output token", f"mean {span_ms(r.tpot_s)}; p50 {duration(r.tpot_p50_s)}, "
                                  f"p90 {duration(r.tpot_p90_s)}"),
        ("throughput", f"{number(r.tokens_per_s.expected)} output tokens/s ({_maybe(r.tokens_per_s.low)} to "
                       f"{_maybe(r.tokens_per_s.high)}), {number(r.tokens_per_s_per_chip)} per chip, "
                       f"{number(r.tokens_per_s_per_user)} per user; {r.requests_per_s:,.3g} requests/s"),
        ("binding", f"{r.binding} (prompts take {b.prompt_share:.0%} of each replica's time)"),
        ("decode step", f"memory {b.decode_memory_s * 1e3:.2f} ms, compute {b.decode_compute_s * 1e3:.2f} ms, "
                        f"communication {b.decode_comm_s * 1e3:.2f} ms, fixed {b.decode_fixed_s * 1e3:.2f} ms at "
                        f"{b.running_sequences_per_replica:,.1f} "
                        "sequences per replica"),
        ("prompt alone", f"{duration(b.prompt_alone_s)} (communication {duration(b.prompt_comm_s)}, fixed "
                         f"{duration(b.prompt_fixed_s)}); "
                         f"queue wait {duration(b.queue_wait_s)}"),
        ("memory per chip", f"weights {m.weights_bytes_per_chip / 1e9:,.1f} GB, KV cache "
                            f"{m.kv_cache_bytes_per_chip / 1e9:,.1f} GB ({m.kv_bytes_per_token_per_chip / 1e3:,.1f} kB "
                            f"per token), usable {m.usable_bytes_per_chip / 1e9:,.1f} GB; largest batch per replica "
                            f"{m.max_batch_per_replica:,}"),
    ]  # fmt: skip
    if r.cost:
        c, p = r.cost, r.cost.price
        rows.append(("cost", f"{number(c.usd_per_million_output_tokens.expected)} USD per million output tokens "
                     f"({_maybe(c.usd_per_million_output_tokens.low)} to {_maybe(c.usd_per_million_output_tokens.high)})"
                     f" at {exact(c.usd_per_hour)} USD/h for {plural(c.systems_billed, 'system')} ({p['purchase']}, "
                     f"{p['region']}, observed {p['observed']})"))  # fmt: skip
    rows.append(("range", r.range_basis))
    rows.extend(("assumes", a) for a in r.assumptions)
    rows.append(("rests on", ", ".join(r.rests_on)))
    return rows


def disaggregated_rows(r: Any) -> list[tuple[str, str]]:
    """A disaggregated estimate as label-value rows: each pool, the hand-off, then the request's times."""

    def span_ms(s: Any) -> str:
        low = duration(s.low) if s.low is not None else "-"
        return f"{duration(s.expected)} ({low} to {duration(s.high) if s.high is not None else 'unbounded'})"

    def pool(p: Any) -> str:
        what = (f"{p.utilisation:.0%} busy, a prompt alone {duration(p.step_s)}" if p.role == "prefill" else
                f"{p.running_sequences_per_worker:,.1f} sequences per worker (KV cache room {p.max_batch_per_worker:,}), "
                f"a step {duration(p.step_s)}")  # fmt: skip
        return (f"{plural(p.workers, 'worker')} of {p.layout} on {p.target} ({p.chips} x {p.chip}, tensor parallel "
                f"over {p.tp_link}), {p.weights}/{p.kv_cache}; {p.requests_per_s_per_worker:,.3g} requests/s per "
                f"worker, {what}")  # fmt: skip

    rows = [
        ("model", f"{r.model}"),
        ("load", f"{r.traffic}; {r.input_tokens:,} in, {r.output_tokens:,} out"),
        ("prefill pool", pool(r.prefill)),
        ("decode pool", pool(r.decode)),
        ("KV hand-off", f"{duration(r.handoff_s)} per prompt ({r.handoff_bytes / 1e6:,.1f} MB over {r.handoff_link}), "
                        "counted in the time to first token"),
        ("time to first token", f"mean {span_ms(r.ttft_s)}; p50 {duration(r.ttft_p50_s)}, p90 {duration(r.ttft_p90_s)}; "
                                f"queue wait {duration(r.queue_wait_s)}"),
        ("time per output token", f"mean {span_ms(r.tpot_s)}; p50 {duration(r.tpot_p50_s)}, "
                                  f"p90 {duration(r.tpot_p90_s)}"),
        ("throughput", f"{number(r.tokens_per_s)} output tokens/s, {number(r.tokens_per_s_per_chip)} per chip "
                       f"({r.chips} chips), {number(r.tokens_per_s_per_user)} per user; {r.requests_per_s:,.3g} "
                       "requests/s"),
    ]  # fmt: skip
    if r.cost:
        c = r.cost
        rows.append(("cost", f"{number(c.usd_per_million_output_tokens.expected)} USD per million output tokens at "
                     f"{exact(c.usd_per_hour)} USD/h for {plural(c.systems_billed, 'system')}, every pool's"))  # fmt: skip
    rows.append(("range", r.range_basis))
    rows.extend(("assumes", a) for a in r.assumptions)
    return rows


@estimate_app.command("peak")
@grouped
def estimate_peak(
    hardware: HardwareOptions = HardwareOptions(),
    as_json: JsonFlag = False, fmt: FormatOpt = None,
) -> None:  # fmt: skip
    """Aggregate peak compute (dense and sparse), memory, bandwidth and power of N chips or K systems."""
    from ..service import estimate
    from .render import aggregate_blocks, emit, output_format

    result = estimate.peak(hardware.cluster())
    emit(output_format(fmt, as_json), result, lambda: aggregate_blocks(result))


# ----------------------------------------------------------------------------- compare


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(estimate_app, name="estimate")
