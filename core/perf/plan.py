"""Plans: systems x counts x layouts x purchase options. For each system, counts from the fewest
that fit upward; for each count, the fastest layout (``search``); then the Pareto frontier of time
against cost, the cheapest option meeting a deadline, the fastest within a budget, and for each
system why its cheaper options are out.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ..cost.pricing import Quote
from ..data.records import Workload
from ..errors import HwprofError
from .cluster import cluster_for
from .train import search, training
from .train.layout import Layout
from .train.training import Span

MAX_SYSTEMS = 1 << 13
GAIN_TO_CONTINUE = 0.97  # keep doubling the count while the time falls below this share
# Memory a plan leaves free on every chip beyond the model's usable share: fragmentation, NCCL and
# framework buffers and a larger batch than planned vary by run, and a pick at 99% of usable memory
# leaves none (issue 21). A judgement, stated in the output; --memory-headroom changes it.
HEADROOM_GIB = 2.0
FULL_MEMORY = 0.95  # a pick above this share of usable memory (after the headroom) is noted
FEW_LAYERS = 4  # a stage with fewer layers than this is noted (a deep pipeline)


@attrs.frozen
class PlanRow:
    system: str
    purchase: str | None
    region: str | None
    count: int
    chips: int
    layout: str  # degrees count ranks: tp x pp x dp x cp = chips x ranks_per_chip
    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    vpp: int
    mb: int
    zero: int
    recompute: str
    time_s: Span
    time_days: float
    cost_usd: Span | None
    usd_per_hour: float | None
    mfu: float
    memory_gib_per_chip: float
    meets_deadline: bool
    meets_budget: bool | None
    price: dict[str, Any] | None  # the price used: purchase, region, USD/h, observed, stale
    warnings: tuple[str, ...]  # about that price (stale, volatile)
    marks: tuple[str, ...]
    cheapest: bool = False
    fastest: bool = False  # every option within 0.5% of the fastest
    frontier: bool = False
    ranks_per_chip: int = 1
    global_batch_seqs: int = 0  # the run's batch and sequence length: with the layout they reproduce it
    seq_len: int = 0
    memory_usable_gib_per_chip: float = 0.0  # after the plan's headroom
    notes: tuple[str, ...] = ()  # what is unusual about this pick (deep pipeline, uneven split, full memory)
    robust: bool = False  # meets_deadline / meets_budget judged at the slow (high) end of the range
    layout_fields: Layout | None = None  # ``layout`` as a typed value (tp..recompute above are copies of it)
    stack: str = ""  # the training stack assumed ("" when the chip's profile names none)
    evidence: str = ""  # the evidence class its range rests on (ranges.CLASSES)


@attrs.frozen
class Plan:
    deadline_s: float | None
    budget_usd: float | None
    options: tuple[PlanRow, ...]  # the top options, cheapest first (then fastest)
    frontier: tuple[PlanRow, ...]  # no other option is both faster and cheaper
    cheapest: PlanRow | None
    fastest: PlanRow | None
    reasons: dict[str, str]  # system -> why its cheaper options are out
    evaluated_layouts: int
    robust: bool = False  # goals judged at the slow end of each range
    headroom_gib: float = 0.0  # memory left free on every chip beyond the usable share


@attrs.frozen
class Run:
    """What every option of a plan estimates: the model, tokens and precision, sequence and batch
    (None: the defaults), the memory each chip keeps free, the stack, what the ranges rest on."""

    shape: Workload
    interconnects: dict[str, Any]
    tokens: float
    precision: str
    seq_len: int | None
    batch_seqs: int | None
    headroom_gib: float
    stack: str | None
    evidence: training.Evidence


def _estimate(run: Run, system: Any, chip: Any, count: int) -> tuple[Any, int, str]:
    """(estimate or None, layouts evaluated, why none fits) of ``count`` x ``system``."""
    cluster = cluster_for(chip, count * system.chips, system, run.interconnects)
    job = training.make_job(run.shape, cluster, run.interconnects, run.precision, run.seq_len, run.batch_seqs)
    job = with_headroom(job, run.headroom_gib)
    found = search.search(job)
    if not found.layouts:
        return None, found.evaluated, training.refusal_text(found.refused)
    request = training.TrainRequest(run.shape, cluster, run.tokens, run.precision, stack=run.stack)
    result = training.result_for(request, job, training.Pick(found.layouts[0], "searched"), run.evidence)
    return result, found.evaluated, ""


def with_headroom(job: Any, headroom_gib: float) -> Any:
    """``job`` with ``headroom_gib`` less usable memory on every chip (split over its ranks): memory
    bounds only which layouts fit, never a step's time, so an estimate of the pick without the
    headroom gives the same time."""
    if not headroom_gib:
        return job
    per_rank = headroom_gib * 2**30 / job.ranks_per_chip
    return attrs.evolve(job, memory_bytes=max(job.memory_bytes - per_rank / job.constants.usable_memory, 0.0))


def judged(span: Span, robust: bool) -> float:
    """The figure a goal is judged on: the range's slow (high) end with ``robust``, else the expected."""
    return span.high if robust else span.expected


def plan_train(
    shape: Workload,
    options: list[tuple[Any, Any, list[Quote | None]]],
    interconnects: dict[str, Any],
    tokens: float,
    precision: str,
    seq_len: int | None = None,
    deadline_s: float | None = None,
    budget_usd: float | None = None,
    top: int = 10,
    batch_seqs: int | None = None,
    published_chips: frozenset[str] = frozenset(),
    robust: bool = False,
    headroom_gib: float = HEADROOM_GIB,
    progress: Any = None,
    stack: str | None = None,
    own_stacks: frozenset[tuple[str, str]] = frozenset(),
) -> Plan:
    """``options``: (system, chip, quotes) with one quote per purchase option (None: unpriced).
    ``stack``: the training stack every option assumes (default: each chip's own; ``training.estimate_train``).
    ``robust``: a time meets the deadline (a cost the budget) at the slow end of its range, not only
    the expected; ``headroom_gib``: memory every chip keeps free beyond the model's usable share.
    ``progress``: called with a short status (system, count, layouts so far) before each search."""
    if not headroom_gib >= 0 or not math.isfinite(headroom_gib):
        raise HwprofError("must be 0 or more GiB", subject="memory_headroom", value=headroom_gib)
    if deadline_s is not None and not deadline_s > 0:
        raise HwprofError("must be positive", subject="deadline_days", value=deadline_s / 86400)
    if budget_usd is not None and not budget_usd > 0:
        raise HwprofError("must be positive", subject="budget", value=budget_usd)
    if top < 1:
        raise HwprofError("must be at least 1 (options to show)", subject="top", value=top)
    run = Run(shape, interconnects, tokens, precision, seq_len, batch_seqs, headroom_gib, stack,
              training.Evidence(published_chips, own_stacks))  # fmt: skip
    rows: list[PlanRow] = []
    reasons: dict[str, str] = {}
    unplaced: dict[str, str] = {}  # system -> why more of it cannot be joined
    evaluated = 0
    for number, (system, chip, quotes) in enumerate(options, 1):
        if precision not in chip.peak_dense_tflops:
            reasons[system.id] = f"{chip.id} has no {precision} peak"
            continue
        cache: dict[int, tuple[Any, str]] = {}

        def at(
            count: int,
            system: Any = system,
            chip: Any = chip,
            cache: dict[int, tuple[Any, str]] = cache,
            number: int = number,
        ) -> Any:
            nonlocal evaluated
            if count not in cache:
                if progress is not None:
                    progress(f"{system.id} ({number} of {len(options)}) x {count}, {evaluated:,} layouts so far")
                try:
                    result, n, why = _estimate(run, system, chip, count)
                except HwprofError as exc:  # cannot be placed at all (no scale-out tier joins a second system)
                    result, n, why = None, 0, exc.detail
                    unplaced.setdefault(system.id, exc.detail)
                evaluated += n
                cache[count] = (result, why)
            return cache[count][0]

        first = _fewest_fitting(at)
        if first is None:
            why = cache[max(cache)][1] if cache else "no count tried"
            reasons[system.id] = f"no count up to {MAX_SYSTEMS:,} fits: {why}"
            if system.id in unplaced and 1 in cache:
                reasons[system.id] = (
                    f"one does not fit ({cache[1][1]}), and no more can be joined: {unplaced[system.id]}"
                )
            continue
        counts = _counts(at, first, deadline_s, robust)
        why_fewer = f"fewer than {first} do not fit ({cache[first - 1][1]})" if first - 1 in cache else ""
        missed = [c for c in counts if deadline_s is not None and judged(at(c).time_s, robust) > deadline_s]
        parts = [why_fewer] if why_fewer else []
        if missed:
            m = max(missed)
            end = " at the slow end" if robust else ""
            parts.append(
                f"{m} or fewer miss the deadline{end} ({judged(at(m).time_s, robust) / 86400:,.1f} days at {m})"
            )
        if system.id in unplaced:
            parts.append(
                f"no more than {max(c for c, (r, _) in cache.items() if r is not None)}: {unplaced[system.id]}"
            )
        reasons[system.id] = "; ".join(parts) or "the fewest that fit is shown first"
        for count in counts:
            result = at(count)
            for quote in quotes:
                rows.append(_row(system, count, result, quote, deadline_s, budget_usd, robust, shape))
    plan = _marked(rows, deadline_s, budget_usd, top, reasons, evaluated)
    return attrs.evolve(plan, robust=robust, headroom_gib=headroom_gib)


def _fewest_fitting(at: Any) -> int | None:
    """The fewest systems with a layout that fits: double until one does, then bisect down."""
    count = 1
    while at(count) is None:
        count *= 2
        if count > MAX_SYSTEMS:
            return None
    low = count // 2 + 1 if count > 1 else 1
    high = count
    while low < high:
        mid = (low + high) // 2
        if at(mid) is not None:
            high = mid
        else:
            low = mid + 1
    return high


def _counts(at: Any, first: int, deadline_s: float | None, robust: bool = False) -> list[int]:
    """Counts to show: doubling from the fewest that fit while time keeps falling; with a deadline,
    also the fewest that meets it (at the slow end of its range with ``robust``)."""

    def meets(count: int) -> bool:
        return judged(at(count).time_s, robust) <= deadline_s  # type: ignore[operator]

    counts = [first]
    count = first
    while count * 2 <= MAX_SYSTEMS:
        nxt = count * 2
        if at(nxt) is None:
            break
        if at(nxt).time_s.expected > GAIN_TO_CONTINUE * at(count).time_s.expected and (
            deadline_s is None or meets(count)
        ):
            break
        counts.append(nxt)
        count = nxt
    if deadline_s is not None:
        meeting = [c for c in counts if meets(c)]
        if meeting and meeting[0] > first:
            # Between the last count that misses and the first that meets it: the batch divides only
            # for some counts, so scan evenly spaced ones (16) rather than bisect.
            low, high = counts[counts.index(meeting[0]) - 1], meeting[0]
            step = max(1, (high - low) // 16)
            for count in range(low + step, high, step):
                if at(count) is not None and meets(count):
                    counts.append(count)
                    break
    return sorted(set(counts))


def _row(system: Any, count: int, result: Any, quote: Quote | None, deadline_s: float | None,
         budget_usd: float | None, robust: bool = False, shape: Any = None) -> PlanRow:  # fmt: skip
    per_hour = quote.usd_per_hour * count if quote else None
    cost = result.time_s.scaled(per_hour / 3600) if per_hour else None
    lay = result.layout_fields
    return PlanRow(
        system=system.id, purchase=quote.price.purchase if quote else None, region=quote.price.region if quote else None,
        count=count, chips=result.inputs.chips, layout=result.layout, tp=int(lay.tp), pp=int(lay.pp),
        dp=int(lay.dp), cp=int(lay.cp), ep=int(lay.ep), vpp=int(lay.vpp), mb=int(lay.mb),
        zero=int(lay.zero), recompute=lay.recompute, time_s=result.time_s,
        time_days=result.time_s.expected / 86400, cost_usd=cost, usd_per_hour=per_hour, mfu=result.mfu.expected,
        memory_gib_per_chip=result.memory.total_bytes_per_chip / 2**30,
        meets_deadline=deadline_s is None or judged(result.time_s, robust) <= deadline_s,
        meets_budget=None if budget_usd is None or cost is None else judged(cost, robust) <= budget_usd,
        price=quote.as_json() if quote else None, warnings=tuple(quote.warnings()) if quote else (), marks=(),
        ranks_per_chip=result.inputs.ranks_per_chip, global_batch_seqs=result.inputs.global_batch_seqs,
        seq_len=result.inputs.seq_len, memory_usable_gib_per_chip=result.memory.usable_bytes_per_chip / 2**30,
        notes=unusual(result, shape.layers if shape is not None else 0), robust=robust, layout_fields=lay,
        stack=result.stack, evidence=result.range.evidence if result.range else "",
    )  # fmt: skip


def unusual(result: Any, layers: int) -> tuple[str, ...]:
    """What a reader should check before launching a pick: few layers a stage (a deep pipeline pays
    its bubble and stage hand-offs on little compute), memory nearly full (after the headroom)."""
    pp = int(result.layout_fields.pp)
    notes = []
    if layers and pp > 1 and math.ceil(layers / pp) < FEW_LAYERS:
        notes.append(f"deep pipeline: pp={pp} leaves {math.ceil(layers / pp)} of {layers} layers a stage")
    used, usable = result.memory.total_bytes_per_chip, result.memory.usable_bytes_per_chip
    if usable and used > FULL_MEMORY * usable:
        notes.append(f"memory {used / usable:.0%} of usable ({used / 2**30:,.1f} of {usable / 2**30:,.1f} GiB)")
    return tuple(notes)


def _marked(rows: list[PlanRow], deadline_s: float | None, budget_usd: float | None, top: int,
            reasons: dict[str, str], evaluated: int) -> Plan:  # fmt: skip
    priced = [r for r in rows if r.cost_usd is not None]
    frontier = [r for r in priced if not any(
        o.cost_usd.expected <= r.cost_usd.expected and o.time_s.expected <= r.time_s.expected  # type: ignore[union-attr]
        and (o.cost_usd.expected, o.time_s.expected) != (r.cost_usd.expected, r.time_s.expected)  # type: ignore[union-attr]
        for o in priced)]  # fmt: skip
    ok = [r for r in rows if r.meets_deadline and (budget_usd is None or r.meets_budget)]
    ok_priced = [r for r in ok if r.cost_usd is not None]
    cheapest = min(ok_priced, key=lambda r: r.cost_usd.expected) if ok_priced else None  # type: ignore[union-attr]
    fastest = min(ok, key=lambda r: r.time_s.expected) if ok else None

    def mark(r: PlanRow) -> PlanRow:
        tied = fastest is not None and r in ok and r.time_s.expected <= fastest.time_s.expected * 1.005
        hits = {"cheapest": r is cheapest, "fastest": tied, "frontier": r in frontier}
        return attrs.evolve(r, marks=tuple(m for m, hit in hits.items() if hit), cheapest=hits["cheapest"],
                            fastest=hits["fastest"], frontier=hits["frontier"])  # fmt: skip

    def order(r: PlanRow) -> tuple[float, float]:
        return (r.cost_usd.expected if r.cost_usd else math.inf, r.time_s.expected)

    chosen = sorted(ok, key=order)[:top]
    shown = [r for r in (cheapest, fastest) if r is not None and r not in chosen] + chosen
    if not shown:  # nothing meets the goals: show the nearest misses
        shown = sorted(rows, key=lambda r: r.time_s.expected)[:top]
    marked = {id(r): mark(r) for r in rows}
    return Plan(
        deadline_s=deadline_s, budget_usd=budget_usd, options=tuple(marked[id(r)] for r in sorted(shown, key=order)),
        frontier=tuple(marked[id(r)] for r in sorted(frontier, key=order)),
        cheapest=marked[id(cheapest)] if cheapest else None, fastest=marked[id(fastest)] if fastest else None,
        reasons=reasons, evaluated_layouts=evaluated,
    )  # fmt: skip
