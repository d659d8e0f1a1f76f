"""The report pages of a training plan and a serving plan: what was asked, the pick and its launch
arguments, the frontier and the pick's breakdown as charts, the figures it rests on with their
sources and status, its range, and the prices with the dates they were observed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ..data.records import Figure
from . import page, para, pre, table
from .svg import Point, bars, scatter


def figures_of(record: Any, prefix: str = "") -> list[list[str]]:
    """Each sourced figure of a record: name, value and unit, status, source (title, date, link), note."""
    rows = []
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        unit = field.metadata.get("unit", "")
        items = value.items() if isinstance(value, dict) else [("", value)]
        for key, figure in items:
            if not isinstance(figure, Figure):
                continue
            name = f"{prefix}{field.name}" + (f".{key}" if key else "")
            s = figure.source
            where = ", ".join(x for x in (s.title, s.date.isoformat() if s.date else "", s.url) if x)
            rows.append([name, f"{figure.value:,.4g} {unit}".strip(), figure.status, where, figure.how or figure.note])
    return rows


FIGURE_HEADERS = ["figure", "value", "status", "source", "how / note"]


def price_rows(prices: Sequence[dict[str, Any] | None]) -> list[list[str]]:
    seen, rows = set(), []
    for p in prices:
        if not p:
            continue
        key = (p.get("system"), p.get("purchase"), p.get("region"))
        if key in seen:
            continue
        seen.add(key)
        src = p.get("source") or {}
        rows.append([str(p.get("system")), str(p.get("purchase")), str(p.get("region")), f"{p['usd_per_hour']:,.2f}",
                     str(p.get("observed")), "STALE" if p.get("stale") else "current", str(p.get("status", "")),
                     ", ".join(v for v in (src.get("title"), src.get("url")) if v)])  # fmt: skip
    return rows


PRICE_HEADERS = ["system", "purchase", "region", "USD per system-hour", "observed", "age", "status", "source"]


def _span(s: Any, scale: float = 1.0, digits: str = ",.1f") -> str:
    return f"{s.expected * scale:{digits}} ({s.low * scale:{digits}} to {s.high * scale:{digits}})"


def sources_section(chip: Any, links: Sequence[Any], system: Any, workload: Any) -> list[str]:
    rows = figures_of(chip, f"{chip.id}: ")
    for link in links:
        rows += figures_of(link, f"{link.id}: ")
    if system is not None:
        src = system.source
        rows.append(
            [
                f"{system.id}: chips",
                f"{system.chips}",
                system.status,
                ", ".join(x for x in (src.title, src.url) if x),
                system.built_from,
            ]
        )
        rows += figures_of(system, f"{system.id}: ")
    parts = [table(FIGURE_HEADERS, rows, caption="the hardware figures behind the estimate")]
    parts.append(para(f"model shape: {workload.name} ({workload.id}), from {workload.citation}"))
    return parts


def train_page(question: Sequence[str], plan: Any, pick: Any, estimate: Any, emitted: Any | None, chip: Any,
               system: Any, links: Sequence[Any], workload: Any, deadline_days: float | None) -> str:  # fmt: skip
    """``pick``: the chosen PlanRow (None: nothing met the goal); ``estimate``: it re-estimated alone."""
    sections: list[tuple[str, list[str]]] = [("The question", [para(line) for line in question])]
    if pick is None:
        sections.append(("The pick", [para("No option meets the goal; the options below are the nearest.")]))
    else:
        cost = _span(pick.cost_usd, 1e-6, ",.2f") + " million USD" if pick.cost_usd else "no price"
        rows = [["system", f"{pick.count} x {pick.system} ({pick.chips:,} chips)"], ["layout", pick.layout],
                ["time, days", _span(pick.time_s, 1 / 86400)], ["cost", cost], ["MFU", f"{pick.mfu:.1%}"],
                ["memory per chip", f"{pick.memory_gib_per_chip:,.1f} GiB"],
                ["batch", f"{pick.global_batch_seqs:,} sequences of {pick.seq_len:,} tokens"],
                ["marks", " ".join(pick.marks) or "-"]]  # fmt: skip
        body = [table(["", ""], rows)]
        if emitted is not None:
            body += [para(f"launch ({emitted.framework}, {emitted.targets}):"), pre(emitted.text)]
        sections.append(("The pick", body))
    frontier = [Point(r.time_s.expected / 86400, r.cost_usd.expected / 1e6) for r in plan.frontier if r.cost_usd]
    points = [Point(r.time_s.expected / 86400, r.cost_usd.expected / 1e6, f"{r.system} x{r.count}",
                    r is pick or (pick is not None and r.layout == pick.layout and r.system == pick.system
                                  and r.count == pick.count and r.purchase == pick.purchase),
                    not (r.meets_deadline and r.meets_budget is not False))
              for r in plan.options if r.cost_usd]  # fmt: skip
    guide = (f"deadline {deadline_days:g} days", deadline_days) if deadline_days else None
    charts = [scatter(points, "days (expected, log scale)", "cost, million USD (expected)", frontier, log_x=True,
                      guide=guide, title="time against cost"),
              para("line: the time-cost frontier (no option is both faster and cheaper); gold: the pick; grey: "
                   "misses the goal", "note")]  # fmt: skip
    if estimate is not None and estimate.step is not None:
        s = estimate.step
        parts = [("compute", s.compute_s), ("tensor-parallel communication", s.tensor_parallel_s),
                 ("expert all-to-all", s.expert_parallel_s), ("context-parallel exchange", s.context_parallel_s),
                 ("pipeline bubble", s.pipeline_bubble_s), ("pipeline sends", s.pipeline_p2p_s),
                 ("data-parallel communication", s.data_parallel_s), ("optimizer", s.optimizer_s)]  # fmt: skip
        charts += [bars([p for p in parts if p[1] > 0], "s", "one optimizer step of the pick"),
                   para(f"one optimizer step of the pick, {s.total_s:,.2f} s in all ({s.micro_batches} micro-batches "
                        f"on the slowest stage); binding: {estimate.binding}", "note")]  # fmt: skip
    sections.append(("Charts", charts))
    options = [[r.system, r.purchase or "-", f"{r.count} ({r.chips:,})", r.layout, f"{r.time_s.expected / 86400:,.1f}",
                f"{r.time_s.low / 86400:,.1f} to {r.time_s.high / 86400:,.1f}",
                f"{r.cost_usd.expected:,.0f}" if r.cost_usd else "no price", " ".join(r.marks) or "-"]
               for r in plan.options]  # fmt: skip
    reasons = [[k, v] for k, v in sorted(plan.reasons.items())]
    sections.append(("The options", [
        table(["system", "purchase", "count (chips)", "layout", "days", "range, days", "cost USD", "marks"], options),
        table(["system", "why its cheaper options are out"], reasons),
        para(f"{plan.evaluated_layouts:,} layouts evaluated", "note")]))  # fmt: skip
    if estimate is not None:
        rng = [para(f"expected {estimate.time_days.expected:,.1f} days; the range {estimate.time_days.low:,.1f} to "
                    f"{estimate.time_days.high:,.1f} days: {estimate.range_basis}")]  # fmt: skip
        rng += [para("it rests on:")] + [para(f"- {line}") for line in estimate.rests_on]
        rng += [para(f"note: {n}", "note") for n in estimate.notes]
        sections.append(("The range and what it rests on", rng))
    sections.append(("Sources of every figure", sources_section(chip, links, system, workload)))
    prices = price_rows([r.price for r in (*plan.options, *plan.frontier)])
    sections.append(("Prices", [table(PRICE_HEADERS, prices) if prices else para("no prices: the plan ran unpriced")]))
    return page(
        f"Training plan: {workload.id}",
        question[0] if question else "",
        sections,
        footer="Written by hwprof. Figures marked estimated carry no document behind them; see the sources table.",
    )


def serve_page(question: Sequence[str], plan: Any, pick: Any, estimate: Any, emitted: Any | None, chip: Any,
               system: Any, links: Sequence[Any], workload: Any) -> str:  # fmt: skip
    """``pick``: the cheapest Deployment (None: nothing met the targets); ``estimate``: it re-estimated."""
    sections: list[tuple[str, list[str]]] = [("The question", [para(line) for line in question])]
    if pick is None:
        sections.append(("The pick", [para("No deployment meets the targets; see each system's reason below.")]))
    else:
        rows = [["system", f"{pick.count} x {pick.system} ({pick.chips:,} chips)"], ["layout", pick.layout],
                ["weights / KV cache", f"{pick.weights} / {pick.kv_cache}"],
                ["TTFT p90", f"{pick.ttft_p90_s * 1e3:,.0f} ms"], ["TPOT p90", f"{pick.tpot_p90_s * 1e3:,.1f} ms"],
                ["USD per hour", f"{pick.usd_per_hour:,.2f}" if pick.usd_per_hour is not None else "no price"],
                ["USD per million output tokens", f"{pick.usd_per_million_output_tokens:,.3f}"
                 if pick.usd_per_million_output_tokens else "-"],
                ["at the slow end of the range", "TTFT p90 " + (f"{pick.slow_ttft_p90_s * 1e3:,.0f} ms, TPOT p90 "
                 f"{pick.slow_tpot_p90_s * 1e3:,.1f} ms" if pick.slow_ttft_p90_s is not None else "does not serve the rate")]]  # fmt: skip
        body = [table(["", ""], rows)]
        if emitted is not None:
            body += [para(f"launch ({emitted.framework}, {emitted.targets}):"), pre(emitted.text)]
        sections.append(("The pick", body))
    kinds = {getattr(p, "kind", "") for p in plan.frontier}
    points = [Point(p.tokens_per_s_per_user, p.tokens_per_s_per_chip, getattr(p, "kind", "") if len(kinds) > 1 else "")
              for p in plan.frontier]  # fmt: skip
    chosen = [Point(1 / d.best.tpot_mean_s, d.best.tokens_per_s_per_chip, f"{d.system} x{d.best.count} (pick)",
                    d.system == plan.cheapest) for d in plan.systems if d.best]  # fmt: skip
    charts = [scatter(chosen, "output tokens/s per user", "output tokens/s per chip", points,
                      title="throughput against speed per user"),
              para("lines: the frontier of each kind of deployment (no deployment of that kind serves each user "
                   "faster with more tokens per chip); gold: the cheapest meeting the targets", "note")]  # fmt: skip
    if estimate is not None and hasattr(estimate, "breakdown"):
        b = estimate.breakdown
        parts = [("queue wait", b.queue_wait_s), ("prompt compute", b.prompt_compute_s),
                 ("prompt communication", b.prompt_comm_s), ("decode: memory reads", b.decode_memory_s),
                 ("decode: compute", b.decode_compute_s), ("decode: communication", b.decode_comm_s)]  # fmt: skip
        charts += [bars([(n, v * 1e3) for n, v in parts if v > 0], "ms", "the pick's parts"),
                   para(f"a prompt alone takes {b.prompt_alone_s * 1e3:,.0f} ms; a decode step at the running batch "
                        f"({b.running_sequences_per_replica:,.1f} sequences per replica) {b.decode_step_s * 1e3:,.1f} ms; "
                        f"binding: {estimate.binding}", "note")]  # fmt: skip
    elif estimate is not None:  # disaggregated: a prefill pool hands each prompt's KV cache to a decode pool
        first, dec = estimate.prefill, estimate.decode
        parts = [("wait for a prefill worker", estimate.queue_wait_s), ("prompt on the prefill pool", first.step_s),
                 (f"KV cache hand-off ({estimate.handoff_link})", estimate.handoff_s),
                 ("one decode step (per output token)", dec.step_s)]  # fmt: skip
        charts += [bars([(n, v * 1e3) for n, v in parts if v > 0], "ms", "the pick's parts"),
                   para(f"{first.workers} prefill worker(s) of {first.layout} ({first.utilisation:.0%} busy) hand prompts to "
                        f"{dec.workers} decode worker(s) of {dec.layout} ({dec.running_sequences_per_worker:,.1f} "
                        f"sequences each, {dec.utilisation:.0%} of their KV cache)", "note")]  # fmt: skip
    sections.append(("Charts", charts))
    rows = [[r.system, f"{r.best.count} ({r.best.chips:,})" if r.best else "-", r.best.layout if r.best else "-",
             f"{r.best.weights}/{r.best.kv_cache}" if r.best else "-",
             f"{r.best.ttft_p90_s * 1e3:,.0f}" if r.best else "-", f"{r.best.tpot_p90_s * 1e3:,.1f}" if r.best else "-",
             f"{r.best.usd_per_hour:,.2f}" if r.best and r.best.usd_per_hour is not None else "-",
             r.reason or ("cheapest" if r.system == plan.cheapest else "ok")] for r in plan.systems]  # fmt: skip
    sections.append(("Each system's cheapest deployment", [
        table(["system", "count (chips)", "layout", "weights/KV", "TTFT p90 ms", "TPOT p90 ms", "USD/h", "verdict"], rows),
        para(f"{plan.evaluated:,} deployments evaluated; " + "; ".join(plan.assumptions), "note")]))  # fmt: skip
    if estimate is not None:
        rng = [para(f"TTFT mean {estimate.ttft_s.expected * 1e3:,.0f} ms, TPOT mean {estimate.tpot_s.expected * 1e3:,.1f} ms; "
                    f"range: {estimate.range_basis}")]  # fmt: skip
        rests = getattr(estimate, "rests_on", ())
        rng += ([para("it rests on:")] + [para(f"- {line}") for line in rests]) if rests else []
        rng += [para(f"assumes: {a}", "note") for a in estimate.assumptions]
        sections.append(("The range and what it rests on", rng))
    sections.append(("Sources of every figure", sources_section(chip, links, system, workload)))
    prices = price_rows([r.best.price for r in plan.systems if r.best])
    sections.append(("Prices", [table(PRICE_HEADERS, prices) if prices else para("no prices: the plan ran unpriced")]))
    return page(
        f"Serving plan: {workload.id}",
        question[0] if question else "",
        sections,
        footer="Written by hwprof. Figures marked estimated carry no document behind them; see the sources table.",
    )
