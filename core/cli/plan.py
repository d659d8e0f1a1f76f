"""``hwprof plan``: the cheapest or fastest configuration that meets a deadline or a budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import checks
from ..data.hookspecs import hookimpl
from ..errors import HwprofError
from .common import (
    CostModelOpt,
    RegionOpt,
    ServeStackOpt,
    TrainStackOpt,
    checked,
    comma_list,
    days_text,
    lowered,
)
from .groups import ModelOptions, OutputOptions, ServeFeatures, grouped
from .launch import LaunchOptions, after_serve_plan, after_train_plan
from .render import (
    Cell,
    Shown,
    Table,
    duration,
    emit,
    exact,
    note,
    plural,
    warn,
)

plan_app = typer.Typer(
    help="The cheapest or fastest configuration that meets a deadline or a budget.", no_args_is_help=True
)


@plan_app.command("train")
@grouped
def plan_train_cmd(
    tokens: Annotated[float, typer.Option("--tokens", callback=checked(checks.TOKENS), help="Training tokens (15T = 15e12: every number option reads K, M, B and T).")],
    model_opts: ModelOptions = ModelOptions(),
    seq_len: Annotated[int | None, typer.Option("--seq-len", callback=checked(checks.SEQ_LEN), help="Training sequence length in tokens.")] = None,
    deadline_days: Annotated[float | None, typer.Option("--deadline-days", callback=checked(checks.DAYS), help="Finish within this many days.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", callback=checked(checks.USD), help="Spend at most this many USD.")] = None,
    systems: Annotated[str | None, typer.Option("--systems", help="Comma-separated system ids (default: all priced).")] = None,
    precision: Annotated[str, typer.Option("--precision", callback=lowered, help="Matmul precision: bf16, fp8, ...")] = "bf16",
    top: Annotated[int, typer.Option("--top", callback=checked(checks.count("options to show")), help="Show this many options (cheapest first).")] = 10,
    global_batch_tokens: Annotated[float | None, typer.Option("--global-batch-tokens", callback=checked(checks.GLOBAL_BATCH_TOKENS), help="Tokens per optimizer step (default 4M; 8M above 1,024 chips, 16M above 4,096).")] = None,
    cost_model: CostModelOpt = None, region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options to compare, comma-separated.")] = "on-demand",
    robust: Annotated[bool, typer.Option("--robust", help="Meet the deadline (and budget) at the slow end of each "
                                         "estimate's range, not only at the expected value.")] = False,
    memory_headroom: Annotated[float, typer.Option("--memory-headroom", metavar="GIB", callback=checked(checks.HEADROOM_GIB), help="GiB every chip keeps free "
                                                   "beyond the model's usable memory (buffers, fragmentation).")] = 2.0,
    stack: TrainStackOpt = None,
    output: OutputOptions = OutputOptions(), launch: LaunchOptions = LaunchOptions(),
) -> None:  # fmt: skip
    """Systems x counts x layouts x purchase options: the time-cost frontier, the cheapest meeting the
    deadline, the fastest within the budget, and why each system's cheaper options are out."""
    from ..jsonable import to_json
    from ..service import plan
    from ..service.workload import global_batch_seqs

    fmt, plot = output.format(), output.plot
    launch.check()
    work = model_opts.workload(seq_len)
    ids = comma_list("--systems", systems, "system ids")
    candidates = plan.train_candidates(ids, cost_model, purchase, region)
    batch = global_batch_seqs(work, global_batch_tokens, seq_len)
    from .progress import Progress

    with Progress("plan train") as shown:
        result = plan.plan_train(work, candidates, tokens, precision=precision, seq_len=seq_len,
                                 deadline_s=deadline_days * 86400 if deadline_days is not None else None,
                                 budget=budget, top=top, global_batch_seqs=batch, robust=robust,
                                 headroom_gib=memory_headroom, progress=shown.update, stack=stack)  # fmt: skip
    # Each price warning once, on stderr and in the JSON (a script reading --json sees a stale price too).
    warnings = sorted({w for row in (*result.options, *result.frontier) for w in row.warnings})
    for message in warnings:
        warn(message)
    goal = ", ".join(g for g in (f"deadline {deadline_days:g} days" if deadline_days else "",
                                 f"budget {budget:,.0f} USD" if budget else "") if g) or "the time-cost frontier"  # fmt: skip
    title = (f"{work.id}, {tokens:.3g} tokens, {precision}; goal: {goal}"
             + (", met at the slow end of each range (--robust)" if robust else ""))  # fmt: skip
    pick = result.cheapest or result.fastest
    again = reproduce(pick, work.id, tokens, precision, stack) if pick else ""
    data = {
        "reproduce": again,
        "deadline_days": deadline_days,
        "budget_usd": budget,
        **to_json(result),
        "warnings": warnings,
    }
    ids = [system.id for system, _, _ in candidates]
    question = [title, f"model: {work.name}, from {work.citation}; systems considered: {', '.join(ids)}; "
                f"purchase: {purchase}"]  # fmt: skip
    if not after_train_plan(launch, fmt, data, result, work, precision, tokens, question, deadline_days):
        emit(fmt, data, lambda: [train_plan_table(result, budget, title, bool(deadline_days or budget), again)])
    if plot is not None:
        draw_train_plan(result, plot, title, deadline_days)
        note(f"chart written to {plot}")


def reproduce(row: Any, model: str, tokens: float, precision: str, stack: str | None = None) -> str:
    """The ``hwprof estimate train`` line that gives ``row``'s time and cost: its full layout, batch
    and sequence length, count and price (``estimate train`` keeps no headroom: memory moves no time)."""
    parts = [f"hwprof estimate train --model {model} --system {row.system} --count {row.count} --tokens {tokens:g}",
             f"--precision {precision}"]  # fmt: skip
    if row.seq_len:
        parts.append(f"--seq-len {row.seq_len}")
    if row.global_batch_seqs and row.seq_len:
        parts.append(f"--global-batch-tokens {row.global_batch_seqs * row.seq_len}")
    if row.purchase:
        parts.append(f"--purchase {row.purchase}" + (f" --region {row.region}" if row.region else ""))
    if stack:
        parts.append(f"--stack {row.stack}")
    return " ".join([*parts, f"--layout {row.layout}"])


def train_plan_table(result: Any, budget: float | None, title: str, has_goal: bool, again: str = "") -> Table:
    """The options with the price each used (purchase option, region, USD per system-hour, when it
    was observed, STALE past the limit) and its layout; then the frontier and why cheaper ones are out.
    Every figure has its own column (CSV holds numbers): count and chips apart, each time and cost
    with its range's low and high, the price's date beside it, the full layout string last."""
    rows: list[list[Shown]] = []
    for row in result.options:
        if not row.meets_deadline:
            verdict = "misses deadline"
        elif row.meets_budget is False:
            verdict = "over budget"
        elif budget is not None and row.meets_budget is None:
            verdict = "no price"
        else:
            verdict = "ok"
        p = row.price
        price = Cell(exact(p["usd_per_hour"]), p["usd_per_hour"], p.get("status", "official"),
                     p.get("source", {}).get("title", "")) if p else None  # fmt: skip
        observed = (f"{p['observed']}" + (" STALE" if p["stale"] else "")) if p else None
        t, c = row.time_s, row.cost_usd
        model = p["cost_model"] if p else None  # several price lists may price one system
        rows.append([row.system, model, row.purchase or "-", row.region or "-", price, observed, row.count, row.chips,
                     row.tp, row.pp, row.dp, row.cp, row.ep, row.vpp, row.mb, row.zero, row.recompute,
                     Cell(days_text(t.expected), t.expected / 86400), Cell(f"{t.low / 86400:,.1f}", t.low / 86400),
                     Cell(f"{t.high / 86400:,.1f}", t.high / 86400),
                     c.expected if c else None, c.low if c else None, c.high if c else None,
                     Cell(f"{row.mfu:.0%}", row.mfu), Cell(f"{row.memory_gib_per_chip:.0f}", row.memory_gib_per_chip),
                     " ".join([verdict, *row.marks]), Cell(f"{row.stack or 'none stated'} ({row.evidence})", row.stack),
                     row.layout])  # fmt: skip
    headers = ["system", "cost model", "purchase", "region", "USD/h", "observed", "count", "chips", "tp", "pp", "dp", "cp", "ep",
               "vpp", "mb", "zero", "recompute", "time", "days low", "days high", "cost USD", "cost low", "cost high",
               "MFU", "GiB/chip", "verdict", "stack (evidence)", "layout"]  # fmt: skip
    csv = ["system", "cost_model", "purchase", "region", "usd_per_system_hour", "price_observed", "count", "chips", "tp", "pp", "dp",
           "cp", "ep", "vpp", "mb", "zero", "recompute", "time_days", "time_days_low", "time_days_high", "cost_usd",
           "cost_usd_low", "cost_usd_high", "mfu", "memory_gib_per_chip", "verdict", "stack", "layout"]  # fmt: skip
    lines = (
        ["no priced option meets the goal; the nearest are shown", ""] if result.cheapest is None and has_goal else []
    )
    pick = result.cheapest or result.fastest
    if pick is not None:
        lines.append(f"pick: {pick.system} x {pick.count}, --layout {pick.layout}")
        lines.append(f"  reproduce: {again}" if again else "")
        lines += [f"  note: {n}" for n in pick.notes]
    others = [(r, n) for r in result.options if r is not pick for n in r.notes]
    lines += [f"note on {r.system} x {r.count}: {n}" for r, n in others]
    lines.append(f"memory: {result.headroom_gib:g} GiB a chip kept free beyond the usable share (--memory-headroom); "
                 f"ranges: time and cost low-high" + ("; goals met at the high end (--robust)" if result.robust
                                                      else "; goals judged on the expected figure (--robust: on the high end)"))  # fmt: skip
    lines.append(
        f"{len(result.frontier)} options on the time-cost frontier; {result.evaluated_layouts:,} layouts evaluated"
    )
    mixed = _mixed([(r.system, r.stack, r.evidence) for r in result.options])
    lines += [mixed] if mixed else []
    lines.append("why cheaper options are out:")
    lines += [f"  {system_id}: {why}" for system_id, why in sorted(result.reasons.items())]
    return Table(headers, rows, title=title, footer="\n".join(line for line in lines if line), csv_headers=csv)


def draw_train_plan(result: Any, path: Path, title: str, deadline_days: float | None) -> None:
    """Time against cost of the options shown and the frontier's, the chosen one (the cheapest
    meeting the goal, else the fastest) marked, each labelled with its system, count and layout."""
    from .plot import Point, frontier

    chosen = result.cheapest or result.fastest

    def key(r: Any) -> tuple[Any, ...]:
        return (r.system, r.count, r.purchase, r.region, r.layout)

    shown = {key(r) for r in result.options}
    options = {key(r): r for r in (*result.frontier, *result.options) if r.cost_usd is not None}
    points = [Point(r.time_s.expected / 86400, r.cost_usd.expected / 1e6,
                    f"{r.system} x{r.count} {r.purchase} {short_layout(r.layout_fields)}" if k in shown else "",
                    chosen is not None and k == key(chosen),
                    "" if r.meets_deadline and r.meets_budget is not False else "misses the goal",
                    x_range=(r.time_s.low / 86400, r.time_s.high / 86400) if k in shown else None)
              for k, r in options.items()]  # fmt: skip
    guides = [(f"deadline {deadline_days:g} days", deadline_days)] if deadline_days else []
    frontier(points, path, title=title, xlabel="days (expected; log scale)", ylabel="cost, million USD (expected)",
             guides=guides, log_x=True, legend="line: the time-cost frontier (no option is both faster and cheaper);"
             " star: the cheapest meeting the goal; whiskers: each option's time range (low-high); small dots: frontier options"
             " not in the table")  # fmt: skip


def short_layout(layout: Any) -> str:
    """A Layout without the parts that say nothing on a chart label (=1, recompute=none)."""
    return ",".join(f"{key}={value}" for key, value in layout.parts() if str(value) not in ("1", "none"))


@plan_app.command("serve")
@grouped
def plan_serve_cmd(
    rate: Annotated[float, typer.Option("--rate", callback=checked(checks.RATE), help="Requests per second (Poisson arrivals).")],
    ttft_slo: Annotated[float, typer.Option("--ttft-slo", callback=checked(checks.SECONDS.named("time to first token")), help="Time to first token target, seconds (p90).")],
    tpot_slo: Annotated[float | None, typer.Option("--tpot-slo", callback=checked(checks.SECONDS.named("time per output token")), help="Time per output token target, seconds (p90); omitted: no target (a first-token-only question).")] = None,
    model_opts: ModelOptions = ModelOptions(),
    input_tokens: Annotated[int, typer.Option("--input-tokens", callback=checked(checks.REQUEST_TOKENS), help="Prompt tokens per request.")] = 1000,
    output_tokens: Annotated[int, typer.Option("--output-tokens", callback=checked(checks.REQUEST_TOKENS), help="Generated tokens per request.")] = 500,
    systems: Annotated[str | None, typer.Option("--systems", help="Comma-separated system ids (default: all priced).")] = None,
    budget: Annotated[float | None, typer.Option("--budget", callback=checked(checks.USD.named("USD per hour")), help="Spend at most this many USD per hour.")] = None,
    precisions: Annotated[str, typer.Option("--precisions", callback=lowered, help="Weight precisions to consider (where the chip "
                                            "runs them).")] = "bf16,fp8,int4,fp4",
    max_count: Annotated[int, typer.Option("--max-count", callback=checked(checks.count("systems to consider", 1, 10_000)), help="Most systems of one kind to consider.")] = 64,
    top: Annotated[int, typer.Option("--top", callback=checked(checks.count("frontier points", 1, 10_000)), help="Frontier points to show.")] = 12,
    robust: Annotated[bool, typer.Option("--robust", help="Meet the targets at the slow end of each estimate's "
                                         "range, not only at the expected value.")] = False,
    deployments: Annotated[str, typer.Option("--deployments", help="Kinds of deployment to search: aggregated "
                                             "(every replica prefills and decodes), disaggregated (prefill and decode "
                                             "workers apart), or both.")] = "aggregated,disaggregated",
    features: ServeFeatures = ServeFeatures(), stack: ServeStackOpt = None,
    cost_model: CostModelOpt = None, region: RegionOpt = None,
    purchase: Annotated[str, typer.Option("--purchase", help="Purchase options in order of preference.")] = "on-demand",
    output: OutputOptions = OutputOptions(), launch: LaunchOptions = LaunchOptions(),
) -> None:  # fmt: skip
    """The cheapest deployment per system meeting TTFT and TPOT targets at a request rate (layout,
    count, precision, cost per hour and per million output tokens), aggregated or with prefill and
    decode apart, and each kind's throughput frontier."""
    fmt, plot = output.format(), output.plot
    launch.check()
    from ..jsonable import to_json
    from ..service import plan as plans

    if max_count < 1 or max_count > 4096:
        raise HwprofError(f"--max-count {max_count}: use 1 to 4096")
    work = model_opts.workload()
    ids = comma_list("--systems", systems, "system ids")
    candidates = plans.serve_candidates(ids, cost_model, purchase, region)
    wanted = tuple(comma_list("--precisions", precisions, "precisions") or ())
    kinds = tuple(comma_list("--deployments", deployments, "deployment kinds") or ())
    plan = plans.plan_serve(work, candidates, rate, input_tokens, output_tokens, ttft_slo,
                            math.inf if tpot_slo is None else tpot_slo, budget=budget, precisions=wanted,
                            max_count=max_count, robust=robust, serve_options=features.options(),
                            deployments=kinds, stack=stack)  # fmt: skip
    for _, _, quote in candidates:
        for message in quote.warnings() if quote else ():
            warn(message)
    title = (f"{work.id} at {rate:g} requests/s, {input_tokens:,} in / {output_tokens:,} out; targets TTFT p90 <= "
             f"{duration(ttft_slo)}, {tpot_text(plan.tpot_target_s)}" + (f", budget {budget:,.2f} USD/h" if budget else "")
             + (", met at the slow end of each range (--robust)" if robust else ""))  # fmt: skip
    data = to_json(plan)
    if tpot_slo is None:
        data["tpot_target_s"] = None  # no target (JSON has no infinity)
    ids = [system.id for system, _, _ in candidates]
    question = [title, f"model: {work.name}, from {work.citation}; systems considered: {', '.join(ids)}; "
                f"weights: {precisions}; purchase: {purchase}"]  # fmt: skip
    if not after_serve_plan(launch, fmt, data, plan, work, question):
        emit(fmt, data, lambda: serve_plan_blocks(plan, title, top))
    if plot is not None:
        draw_serve_plan(plan, plot, top)
        note(f"chart written to {plot}")


def serve_plan_blocks(plan: Any, title: str, top: int) -> list[Table]:
    rows: list[list[Shown]] = []
    for result in plan.systems:
        d = result.best
        if d is None:
            rows.append([result.system, _stack_text(result), "-", "-", "-", "-", "-", "-", "-", result.reason])
            continue
        rows.append([d.system, _stack_text(result), Cell(f"{d.count} ({plural(d.chips, 'chip')})", d.count), d.layout,
                     f"{d.weights}/{d.kv_cache}", Cell(duration(d.ttft_p90_s), d.ttft_p90_s),
                     Cell(duration(d.tpot_p90_s), d.tpot_p90_s),
                     d.usd_per_hour, d.usd_per_million_output_tokens,
                     "ok" + (" cheapest" if d.system == plan.cheapest else "") + _slow_end(d, plan)])  # fmt: skip
    headers = ["system", "stack (evidence)", "count", "layout", "weights/KV", "TTFT p90", "TPOT p90", "USD/h",
               "USD per M output tokens", "verdict"]  # fmt: skip
    csv = ["system", "stack", "count", "layout", "weights_kv", "ttft_p90_s", "tpot_p90_s", "usd_per_hour",
           "usd_per_million_output_tokens", "verdict"]  # fmt: skip
    frontier = [[p.kind, p.system, p.layout, f"{p.weights}/{p.kv_cache}", p.batch_per_replica,
                 p.tokens_per_s_per_user, p.tokens_per_s_per_chip, p.usd_per_million_output_tokens or "-"]
                for p in _spread_kinds(plan.frontier, top)]  # fmt: skip
    why = "\n".join(f"{r.system}: {r.why}" for r in plan.systems if r.why)
    mixed = _mixed([(r.system, r.stack, r.evidence) for r in plan.systems if r.best is not None])
    why = "\n".join(line for line in (why, mixed) if line)
    return [
        Table(headers, rows, title=title, csv_headers=csv, footer=why),
        Table(["kind", "system", "layout", "weights/KV", "batch", "tokens/s per user", "tokens/s per chip",
               "USD per M output tokens"], frontier,
              title="frontier: tokens/s per chip against tokens/s per user (Pareto points of each kind; "
                    "aggregated: one replica per layout, prompts interleaved; disaggregated: one decode worker "
                    "per layout with the prefill workers its requests need, xN of them)",
              footer=_thin_note(plan) + f"{plan.evaluated:,} deployments evaluated; " + "; ".join(plan.assumptions)),
    ]  # fmt: skip


def _mixed(rows: list[tuple[str, str, str]]) -> str:
    """One line when the systems shown rest on different evidence (``service.stacks.mixed_note``), one
    row per system."""
    from ..service.stacks import mixed_note

    return mixed_note(dict((system, (system, stack, cls)) for system, stack, cls in rows).values())


def _stack_text(result: Any) -> Cell:
    """The serving stack a system's pick assumes and the evidence class of its range."""
    return Cell(f"{result.stack or 'none stated'} ({result.evidence})", result.stack)


def _spread_kinds(points: Any, top: int) -> list:  # type: ignore[type-arg]
    """``top`` frontier points of each kind, evenly spaced along each kind's edge."""
    kinds = list(dict.fromkeys(p.kind for p in points))
    return [p for kind in kinds for p in _spread([q for q in points if q.kind == kind], top)]


def draw_serve_plan(plan: Any, path: Path, top: int) -> None:
    """Tokens/s per chip against tokens/s per user: the frontier's points (the ``top`` spread along it
    labelled with system and layout) and each system's pick, the cheapest marked."""
    from .plot import Point, frontier

    named = {id(p) for p in _spread_kinds(plan.frontier, max(top // 2, 2))}
    points = [Point(p.tokens_per_s_per_user, p.tokens_per_s_per_chip,
                    f"{p.system} {p.layout} {p.weights} b{p.batch_per_replica}" if id(p) in named else "",
                    series=p.kind)
              for p in plan.frontier]  # fmt: skip
    for result in plan.systems:
        d = result.best
        if d is not None:
            points.append(Point(1 / d.tpot_mean_s, d.tokens_per_s_per_chip,
                                f"{d.system} x{d.count} {d.layout} {d.weights} (pick)", d.system == plan.cheapest,
                                series=d.kind))  # fmt: skip
    title = (f"{plan.model}, {plan.rate_per_s:g} requests/s, {plan.input_tokens:,} in / {plan.output_tokens:,} out; "
             f"chosen: the cheapest meeting TTFT p90 <= {duration(plan.ttft_target_s)}, "
             f"{tpot_text(plan.tpot_target_s)}")  # fmt: skip
    frontier(points, path, title=title, xlabel="output tokens/s per user (1 / time per output token)",
             ylabel="output tokens/s per chip", up=True, right=True,
             legend="lines: each kind's frontier (no deployment of that kind serves each user faster with more tokens "
                    "per chip); aggregated: every replica prefills and decodes; disaggregated: prefill and decode "
                    "workers apart")  # fmt: skip


def tpot_text(target: float) -> str:
    """The TPOT target as the title states it (none: the question is about the first token only)."""
    return f"TPOT p90 <= {duration(target)}" if math.isfinite(target) else "no TPOT target (first token only)"


def _slow_end(d: Any, plan: Any) -> str:
    """How the pick fares at the slow end of its range (wide where it rests on estimated figures)."""
    wide = "wide range, " if d.thin_evidence else ""
    if d.slow_ttft_p90_s is None:
        return f" ({wide}the slow end does not serve the rate)"
    if d.slow_ttft_p90_s <= plan.ttft_target_s and d.slow_tpot_p90_s <= plan.tpot_target_s:
        return f" ({wide}holds at the slow end)"
    return f" ({wide}misses at the slow end)"


def _thin_note(plan: Any) -> str:
    thin = sorted({f for result in plan.systems if result.best for f in result.best.thin_evidence})
    if not thin:
        return ""
    return (f"the picks marked 'wide range' rest on estimated figures ({', '.join(thin)}); every pick's range is "
            "that of published results on chips with the same evidence (hwprof.perf.ranges; hwprof validate "
            "lists the widths)\n")  # fmt: skip


def _spread(points: list, top: int) -> list:  # type: ignore[type-arg]
    """At most ``top`` points, evenly spaced along the frontier (its ends kept)."""
    if len(points) <= top or top < 2:
        return points[: max(top, 0)]
    step = (len(points) - 1) / (top - 1)
    return [points[round(i * step)] for i in range(top)]


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(plan_app, name="plan")
