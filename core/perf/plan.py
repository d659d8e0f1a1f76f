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
class TrainPlanRequest:
    """What a training plan is asked: the model, how many tokens at which precision, the sequence
    length and batch (None: the defaults), a deadline and a budget (None: none), how many options to
    show, the goals judged at the slow end of each range (``robust``), the memory every chip keeps
    free beyond the model's usable share, the training stack every option assumes (None: each
    chip's own; ``training.estimate_train``)."""

    shape: Workload
    tokens: float
    precision: str
    seq_len: int | None = None
    batch_seqs: int | None = None
    deadline_s: float | None = None
    budget_usd: float | None = None
    top: int = 10
    robust: bool = False
    headroom_gib: float = HEADROOM_GIB
    stack: str | None = None

    def check(self) -> None:
        if not self.headroom_gib >= 0 or not math.isfinite(self.headroom_gib):
            raise HwprofError("must be 0 or more GiB", subject="memory_headroom", value=self.headroom_gib)
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise HwprofError("must be positive", subject="deadline_days", value=self.deadline_s / 86400)
        if self.budget_usd is not None and not self.budget_usd > 0:
            raise HwprofError("must be positive", subject="budget", value=self.budget_usd)
        if self.top < 1:
            raise HwprofError("must be at least 1 (options to show)", subject="top", value=self.top)


@attrs.frozen
class Run:
    """What every option of a plan estimates: the request, the interconnects its systems join over,
    what the ranges rest on."""

    request: TrainPlanRequest
    interconnects: dict[str, Any]
    evidence: training.Evidence


def _estimate(run: Run, system: Any, chip: Any, count: int) -> tuple[Any, int, str]:
    """(estimate or None, layouts evaluated, why none fits) of ``count`` x ``system``."""
    r = run.request
    cluster = cluster_for(chip, count * system.chips, system, run.interconnects)
    request = training.TrainRequest(r.shape, cluster, r.tokens, r.precision, stack=r.stack, seq_len=r.seq_len,
                                    global_batch_seqs=r.batch_seqs)  # fmt: skip
    job = with_headroom(training.make_job(request, run.interconnects), r.headroom_gib)
    found = search.search(job)
    if not found.layouts:
        return None, found.evaluated, training.refusal_text(found.refused)
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


class _Sizes:
    """One system's estimates by count, each count searched once: ``sizes(count)`` is the estimate
    (None: no layout fits), ``why(count)`` why none fits, ``unplaced`` why no more systems can be
    joined (None: they can), ``evaluated`` the layouts searched."""

    def __init__(self, run: Run, system: Any, chip: Any, label: str, progress: Any, before: int) -> None:
        self.run, self.system, self.chip = run, system, chip
        self.label, self.progress, self.before = label, progress, before  # progress counts layouts from before
        self.cache: dict[int, tuple[Any, str]] = {}
        self.unplaced: str | None = None
        self.evaluated = 0

    def __call__(self, count: int) -> Any:
        if count not in self.cache:
            if self.progress is not None:
                self.progress(f"{self.label} x {count}, {self.before + self.evaluated:,} layouts so far")
            try:
                result, n, why = _estimate(self.run, self.system, self.chip, count)
            except HwprofError as exc:  # cannot be placed at all (no scale-out tier joins a second system)
                result, n, why = None, 0, exc.detail
                if self.unplaced is None:
                    self.unplaced = exc.detail
            self.evaluated += n
            self.cache[count] = (result, why)
        return self.cache[count][0]

    def why(self, count: int) -> str:
        return self.cache[count][1]


def plan_train(request: TrainPlanRequest, options: list[tuple[Any, Any, list[Quote | None]]],
               interconnects: dict[str, Any], evidence: training.Evidence = training.NO_EVIDENCE,
               progress: Any = None) -> Plan:  # fmt: skip
    """``options``: (system, chip, quotes) with one quote per purchase option (None: unpriced).
    For each system the counts to show (``_counts``) and why the others are out; then the frontier,
    the cheapest meeting the deadline and the fastest within the budget (``_marked``). ``evidence``:
    what each range rests on. ``progress``: called with a short status (system, count, layouts so
    far) before each search."""
    request.check()
    run = Run(request, interconnects, evidence)
    rows: list[PlanRow] = []
    reasons: dict[str, str] = {}
    evaluated = 0
    for number, (system, chip, quotes) in enumerate(options, 1):
        if request.precision not in chip.peak_dense_tflops:
            reasons[system.id] = f"{chip.id} has no {request.precision} peak"
            continue
        sizes = _Sizes(run, system, chip, f"{system.id} ({number} of {len(options)})", progress, evaluated)
        counts, reasons[system.id] = _shown(request, sizes)
        evaluated += sizes.evaluated
        r = request
        rows += [_row(system, count, sizes(count), quote, r.deadline_s, r.budget_usd, r.robust, r.shape)
                 for count in counts for quote in quotes]  # fmt: skip
    plan = _marked(rows, request.deadline_s, request.budget_usd, request.top, reasons, evaluated)
    return attrs.evolve(plan, robust=request.robust, headroom_gib=request.headroom_gib)


def _shown(request: TrainPlanRequest, sizes: _Sizes) -> tuple[list[int], str]:
    """The counts of one system to show (none when no count fits), and why the others are out."""
    first = _fewest_fitting(sizes)
    if first is None:
        return [], _none_fits(sizes)
    counts = _counts(sizes, first, request.deadline_s, request.robust)
    return counts, _why_not_others(request, sizes, counts, first)


def _none_fits(sizes: _Sizes) -> str:
    """Why no count of a system fits: the last count's refusal, or one does not fit and no more join."""
    if sizes.unplaced is not None and 1 in sizes.cache:
        return f"one does not fit ({sizes.why(1)}), and no more can be joined: {sizes.unplaced}"
    why = sizes.why(max(sizes.cache)) if sizes.cache else "no count tried"
    return f"no count up to {MAX_SYSTEMS:,} fits: {why}"


def _why_not_others(request: TrainPlanRequest, sizes: _Sizes, counts: list[int], first: int) -> str:
    """Why a system's other counts are out: fewer do not fit, the shown ones that miss the deadline
    (at the slow end with ``robust``), more cannot be joined."""
    deadline_s, robust = request.deadline_s, request.robust
    parts = [f"fewer than {first} do not fit ({sizes.why(first - 1)})"] if first - 1 in sizes.cache else []
    missed = [c for c in counts if deadline_s is not None and judged(sizes(c).time_s, robust) > deadline_s]
    if missed:
        m = max(missed)
        end = " at the slow end" if robust else ""
        parts.append(
            f"{m} or fewer miss the deadline{end} ({judged(sizes(m).time_s, robust) / 86400:,.1f} days at {m})"
        )
    if sizes.unplaced is not None:
        most = max(c for c, (r, _) in sizes.cache.items() if r is not None)
        parts.append(f"no more than {most}: {sizes.unplaced}")
    return "; ".join(parts) or "the fewest that fit is shown first"


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
