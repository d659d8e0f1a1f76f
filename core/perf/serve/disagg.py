"""Disaggregated serving: a prefill pool and a decode pool, each with its own layout, worker count and
(if asked) its own system; a prompt's KV cache moves from the prefill worker to a decode worker.
The pools run the aggregated model's formulas (``layout.replica_of``, ``step_of``, ``prompt_time``,
``traffic.at_rate``); what is new here is stated below and checked by hand in the tests.

- Prefill pool: ``x`` workers pull prompts from one shared queue (as Dynamo's shared prefill queue and
  the load-balancing routers of SGLang and vLLM do). A prompt takes ``S`` once started (alone on its
  worker) and the lane ``L`` per prompt (short prompts share an iteration: ``traffic.at_rate``'s
  lane). Poisson arrivals at ``rate``, offered load ``a = rate x L``, ``rho = a / x``: an M/D/x
  queue. Its wait is Erlang's C(x, a) chance of waiting times the M/D/1 form's exponential tail
  (Allen-Cunneen: half the M/M/x wait), ``P(wait > t) = C exp(-2 x (1 - rho) t / L)``; at one worker
  C = rho, the M/D/1 tail of ``traffic.wait_quantile``. TTFT = S + wait + hand-off.
- Hand-off: the prompt's KV cache (input tokens x KV bytes per token) crosses the innermost tier that
  holds both pools (one kind of system: the first tier whose domain holds both pools' chips; two
  kinds: the slower of their scale-out links). Every chip sends or receives its own share at once,
  so the side holding more per chip sets the time: ``tokens x max(KV per token per chip, prefill;
  decode) / link + latency``.
- Decode pool: ``y`` workers, requests spread evenly (``rate / y`` each); a decode worker never stops
  for a prompt: ``traffic.at_rate`` without prompt work, so TPOT = step(B) with B = rate / y x
  output tokens x TPOT (Little), and the rate is refused when B outgrows the KV cache.
- Capacity (the search): the most requests/s a decode worker serves within a TPOT target is
  ``B* / (output tokens x step(B*))``, B* the largest batch whose step meets the target and fits the
  KV cache; a prefill pool's, the rate at which its TTFT p90 meets the target.
- Cost: every pool's systems; pools of one kind of system share whole systems.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...cost.pricing import Quote
from ...data import records
from ...errors import HwprofError
from .. import comm, ranges
from .. import efficiency as eff
from ..cluster import Cluster, cluster_for
from . import layout as sl
from . import options as opt
from . import serving
from . import shape as serve_shape
from . import traffic as tr

BISECTION_ROUNDS = 50


# --- the pooled prefill queue ------------------------------------------------------------------------------


def erlang_c(workers: Any, load: Any) -> Any:
    """Chance an arrival waits, ``workers`` servers at offered load ``load`` (Erlang C; 1 when
    ``load >= workers``), through Erlang B's recursion ``B_k = a B_{k-1} / (k + a B_{k-1})``.
    ``workers`` and ``load`` may be arrays (numpy): the recursion runs to the largest count once."""
    if isinstance(workers, int) and isinstance(load, float):
        b = 1.0
        for k in range(1, workers + 1):
            b = load * b / (k + load * b)
        rho = load / workers
        return b / (1 - rho * (1 - b)) if rho < 1 else 1.0
    import numpy as np

    workers, load = np.broadcast_arrays(np.asarray(workers), np.asarray(load, dtype=float))
    lowest, top = (int(workers.min()), int(workers.max())) if workers.size else (1, 1)
    b = at = np.ones(load.shape)  # type: ignore[assignment]  # the scalar branch above made b a float
    for k in range(1, top + 1):
        b = load * b / (k + load * b)
        if lowest <= k < top:
            at = np.where(workers == k, b, at)
    at = np.where(workers == top, b, at)
    rho = load / workers
    return np.where(rho < 1, at / np.maximum(1 - rho * (1 - at), 1e-300), 1.0)


def pooled_wait(chance: Any, workers: Any, lane_s: Any, rho: Any, p: float | None, xp: Any = tr.SCALAR) -> Any:
    """The p-quantile (``p`` None: the mean) of the wait in the pooled queue (see the module docstring)."""
    safe = xp.minimum(xp.maximum(rho, 1e-12), 1 - 1e-9)
    scale = lane_s / (2 * workers * (1 - safe))
    if p is None:
        return chance * scale
    return xp.log(xp.maximum(chance / (1 - p), 1.0)) * scale


@attrs.frozen
class PrefillLoad:
    """The prefill pool at a rate: times exclude the hand-off."""

    utilisation: Any  # rate x lane / workers
    wait_mean_s: Any
    ttft_mean_s: Any
    ttft_p50_s: Any
    ttft_p90_s: Any
    stable: Any


def prefill_pool(rate: float, workers: int, prompt_s: float, lane_s: float) -> PrefillLoad:
    load = rate * lane_s
    rho = load / workers
    chance = erlang_c(workers, load) if rho < 1 else 1.0
    wait = pooled_wait(chance, workers, lane_s, rho, None)
    return PrefillLoad(utilisation=rho, wait_mean_s=wait, ttft_mean_s=prompt_s + wait,
                       ttft_p50_s=prompt_s + pooled_wait(chance, workers, lane_s, rho, 0.5),
                       ttft_p90_s=prompt_s + pooled_wait(chance, workers, lane_s, rho, 0.9), stable=rho < 1)  # fmt: skip


def prefill_ttft_table(rate: float, prompt_s: Any, lane_s: Any, most: int, enough: float = -1.0, p: float = 0.9
                       ) -> Any:  # fmt: skip
    """TTFT p-quantile (no hand-off) of 1 to ``most`` pooled workers, for arrays of layouts: shape
    (layouts, columns), nonincreasing along a row, inf where the workers cannot keep up. One pass of
    Erlang B's recursion; it stops at the first column where every row is at most ``enough``."""
    import numpy as np

    load = rate * lane_s
    columns = []
    b = np.ones(np.shape(lane_s))
    for k in range(1, most + 1):
        b = load * b / (k + load * b)
        rho = load / k
        ok = rho < 1
        chance = np.where(ok, b / np.maximum(1 - rho * (1 - b), 1e-300), 1.0)
        columns.append(np.where(ok, prompt_s + pooled_wait(chance, k, lane_s, rho, p, np), np.inf))
        if (columns[-1] <= enough).all():
            break
    return np.stack(columns, axis=1) if columns else np.full((np.size(lane_s), 0), np.inf)


def prefill_capacity(workers: Any, prompt_s: Any, lane_s: Any, budget_s: Any, xp: Any = tr.SCALAR,
                     rounds: int = BISECTION_ROUNDS) -> Any:  # fmt: skip
    """The most requests/s ``workers`` pooled prefill workers serve with TTFT p90 (no hand-off) within
    ``budget_s`` (0 where even an idle pool misses it): bisection on the rate."""
    lo, hi = 0.0 * lane_s, workers / lane_s
    for _ in range(rounds):
        mid = (lo + hi) / 2
        load = mid * lane_s
        rho = load / workers
        chance = erlang_c(workers, load)
        ok = (rho < 1) & (prompt_s + pooled_wait(chance, workers, lane_s, rho, 0.9, xp) <= budget_s)
        lo, hi = xp.where(ok, mid, lo), xp.where(ok, hi, mid)
    return xp.where(prompt_s <= budget_s, lo, 0.0)


def decode_capacity(step: Any, max_batch: Any, output_tokens: int, tpot_s: Any, xp: Any = tr.SCALAR) -> Any:
    """The most requests/s one decode worker serves with TPOT within ``tpot_s``: B* / (output x
    step(B*)), B* the largest batch (at most ``max_batch``) whose step meets the target."""
    lo, hi = 0.0 * max_batch, max_batch + 0.0
    for _ in range(BISECTION_ROUNDS):
        mid = (lo + hi) / 2
        ok = step(mid) <= tpot_s
        lo, hi = xp.where(ok, mid, lo), xp.where(ok, hi, mid)
    batch = xp.where(step(max_batch + 0.0) <= tpot_s, max_batch + 0.0, lo)
    return batch / (output_tokens * xp.maximum(step(batch), 1e-30))


def largest(np: Any, holds: Any, lo: Any, hi: Any, levels: int = 16, stages: int = 3) -> Any:
    """Per row, about the largest value in [lo, hi] where ``holds`` (monotone: true up to a point) is
    true, or ``lo`` if none: ``levels`` evenly spaced trials per stage, each stage inside the last
    stage's bracket, so a few array calls replace a bisection's dozens (within (hi - lo) / levels^stages
    below the edge). ``holds`` takes and returns arrays of shape (rows, levels)."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    steps = np.arange(1, levels + 1) / levels
    for _ in range(stages):
        trials = lo[:, None] + (hi - lo)[:, None] * steps[None, :]
        ok = holds(trials)
        count = ok.sum(axis=1)  # monotone: the first ``count`` trials hold
        below = np.take_along_axis(trials, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0]
        above = np.take_along_axis(trials, np.minimum(count, levels - 1)[:, None], axis=1)[:, 0]
        lo, hi = np.where(count > 0, below, lo), np.where(count < levels, above, hi)
    return lo


def decode_capacities(np: Any, step: Any, max_batch: Any, output_tokens: int, tpot_s: float) -> Any:
    """``decode_capacity`` for arrays of decode layouts; ``step`` maps (layouts, trials) batches to seconds."""
    batch = largest(np, lambda b: step(b) <= tpot_s, np.zeros(np.shape(max_batch)), max_batch)
    return batch / (output_tokens * np.maximum(step(batch[:, None])[:, 0], 1e-30))


def prefill_capacities(np: Any, workers: Any, prompt_s: Any, lane_s: Any, budget_s: Any) -> Any:
    """``prefill_capacity`` for arrays of pools (one Erlang pass per stage)."""

    def holds(rate: Any) -> Any:
        load = rate * lane_s[:, None]
        x = workers[:, None]
        rho = load / x
        wait = pooled_wait(erlang_c(x, load), x, lane_s[:, None], rho, 0.9, np)
        return (rho < 1) & (prompt_s[:, None] + wait <= budget_s[:, None])

    rate = largest(np, holds, np.zeros(np.shape(lane_s)), workers / lane_s)
    return np.where(prompt_s <= budget_s, rate, 0.0)


# --- the hand-off ------------------------------------------------------------------------------------------


def handoff_s(tokens: Any, prefill_kv_per_chip: Any, decode_kv_per_chip: Any, link: comm.Link, xp: Any = tr.SCALAR
              ) -> Any:  # fmt: skip
    """One prompt's KV cache from its prefill worker to its decode worker (module docstring)."""
    return tokens * xp.maximum(prefill_kv_per_chip, decode_kv_per_chip) / link.bytes_per_s + link.latency_s


def joining_link(prefill: Cluster, decode: Cluster, interconnects: dict[str, records.Interconnect]) -> comm.Link:
    """The link a KV cache crosses between the pools: one kind of system, the innermost tier whose
    domain holds both pools; two kinds, the slower of their scale-out links."""
    if _kind(prefill) == _kind(decode):
        together = prefill.chips + decode.chips
        tiers = cluster_for(prefill.chip, together, prefill.system, interconnects).tiers
        for tier in tiers:
            if together <= tier.domain:
                return tier.link  # type: ignore[no-any-return]
        raise HwprofError(f"no interconnect known here joins {together} {prefill.chip.id} chips (prefill and decode "
                          "pools together); name a system with a scale-out tier")  # fmt: skip
    outs = []
    for pool in (prefill, decode):
        if pool.scale_out is None:
            raise HwprofError(f"{pool.label} has no scale-out link to move the KV cache to the other pool; "
                              "name a system with one")  # fmt: skip
        outs.append(comm.Link.of(pool.scale_out))
    slow = min(outs, key=lambda link: link.bytes_per_s)
    return attrs.evolve(slow, latency_us=max(link.latency_us for link in outs))


def _kind(c: Cluster) -> str:
    return c.system.id if c.system is not None else c.chip.id


# --- one prompt's costs on a replica (shared with the search) ----------------------------------------------


@attrs.frozen
class PromptCosts:
    prompt_s: Any  # one prompt alone, once started (compute or weight reads, plus its collectives)
    compute_s: Any
    comm_s: Any
    work_s: Any  # the replica time it takes under load
    chunks: Any
    pack: Any  # prompts that share one iteration

    @property
    def lane_s(self) -> Any:
        """Time a prefill-only worker spends per prompt (``traffic.at_rate``'s lane without decodes)."""
        return self.work_s + (self.prompt_s - self.work_s) / self.pack


def prompt_costs(shape: records.Workload, r: sl.Replica, chunk_tokens: Any, input_tokens: int,
                 options: opt.ServeOptions = opt.NONE, xp: Any = tr.SCALAR) -> PromptCosts:  # fmt: skip
    """What ``serving`` computes for a prompt (padded to the stack's compiled lengths, in chunks where
    the stack runs prompts inside the decode steps), with the prefix cache's share left out."""
    padded, flops, attention = options.prompt(shape, input_tokens, r.prompt_buckets, xp)
    new = options.new_tokens(input_tokens)
    one = 0 * chunk_tokens + 1
    chunks = -(-new // chunk_tokens) if r.chunked_prefill else one
    pack = xp.maximum(1, chunk_tokens // new) if r.chunked_prefill else one
    compute, comm_s = sl.prompt_time(r, padded, flops, chunks, xp=xp, attention_flops=attention)
    work = sum(sl.prompt_time(r, padded, flops, chunks, xp=xp, batched=True, attention_flops=attention, pack=pack))
    return PromptCosts(compute + comm_s, compute, comm_s, work, chunks, pack)


def decode_costs(shape: records.Workload, r: sl.Replica, input_tokens: int, output_tokens: int,
                 options: opt.ServeOptions = opt.NONE) -> sl.Step:  # fmt: skip
    """One decode step's costs at the mean context (padded as ``serving`` pads it), per output token."""
    context = sl.padded(input_tokens + output_tokens / 2, r.prompt_buckets)
    attention = serve_shape.decode_attention_flops(shape, context)
    return options.step(sl.step_of(r, context, 2 * shape.active, attention), shape)


# --- the estimate ------------------------------------------------------------------------------------------


@attrs.frozen
class Pool:
    """One pool: ``cluster`` holds its chips (``layout.chips`` of them), ``layout.dp`` its workers."""

    cluster: Cluster
    layout: sl.ServeLayout
    quote: Quote | None = None
    stack: sl.StackServing | None = None  # its serving stack (None: the chip's default)


@attrs.frozen
class PoolFigures:
    role: str  # "prefill" or "decode"
    target: str
    chip: str
    chips: int
    layout: str
    workers: int
    weights: str
    kv_cache: str
    requests_per_s_per_worker: float
    utilisation: float  # prefill: share of the workers' time on prompts; decode: sequences / KV cache room
    step_s: float  # prefill: one prompt alone; decode: one step at the running batch (per output token)
    running_sequences_per_worker: float
    weights_bytes_per_chip: float
    kv_bytes_per_token_per_chip: float
    max_batch_per_worker: int
    tp_link: str
    layout_fields: sl.ServeLayout | None = None  # ``layout`` as a typed value, ``workers`` its dp


@attrs.frozen
class DisaggEstimate:
    kind: str
    model: str
    model_source: str
    input_tokens: int
    output_tokens: int
    traffic: str
    prefill: PoolFigures
    decode: PoolFigures
    handoff_s: float
    handoff_link: str
    handoff_bytes: float
    queue_wait_s: float
    ttft_s: serving.Span
    ttft_p50_s: float
    ttft_p90_s: float
    tpot_s: serving.Span
    tpot_p50_s: float
    tpot_p90_s: float
    chips: int
    requests_per_s: float
    tokens_per_s: float
    tokens_per_s_per_chip: float
    tokens_per_s_per_user: float
    cost: serving.ServeCost | None
    assumptions: tuple[str, ...]
    range_basis: str
    range: ranges.Band | None = None
    first_token_range: ranges.Band | None = None  # the TTFT's (``ranges.kind_of``)


@attrs.frozen
class Point:
    """Both pools at the rate."""

    pre: PrefillLoad
    dec: tr.Load
    handoff_s: float

    @property
    def ttft_mean_s(self) -> float:
        return float(self.pre.ttft_mean_s + self.handoff_s)

    @property
    def ttft_p90_s(self) -> float:
        return float(self.pre.ttft_p90_s + self.handoff_s)


def operating_point(shape: records.Workload, prefill: Pool, decode: Pool, traffic: serving.Traffic,
                    interconnects: dict[str, records.Interconnect], constants: sl.Constants = sl.SHIPPED,
                    factor: float = 1.0) -> Point:  # fmt: skip
    """Both pools at the traffic's rate with every achieved rate (memory, compute, links) times
    ``factor``; refused, naming the pool, where one cannot keep up."""
    rp = sl.scaled(_replica(shape, prefill, constants), factor)
    rd = sl.scaled(_replica(shape, decode, constants), factor)
    link = joining_link(prefill.cluster, decode.cluster, interconnects)
    link = attrs.evolve(link, gb_s_per_direction=link.gb_s_per_direction * factor)
    max_batch = float(rd.max_batch(traffic.input_tokens + traffic.output_tokens))
    if traffic.max_batch is not None:
        max_batch = min(max_batch, float(traffic.max_batch))
    return _point(shape, rp, rd, prefill, decode, traffic, link, traffic.options, max_batch)


def _point(shape: records.Workload, rp: sl.Replica, rd: sl.Replica, prefill: Pool, decode: Pool, t: serving.Traffic,
           link: comm.Link, options: opt.ServeOptions, max_batch: float) -> Point:  # fmt: skip
    rate = t.rate_per_s or 0.0
    i, o = t.input_tokens, t.output_tokens
    pc = prompt_costs(shape, rp, prefill.layout.chunk_tokens, i, options)
    x, y = prefill.layout.dp, decode.layout.dp
    pre = prefill_pool(rate, x, pc.prompt_s, pc.lane_s)
    if not pre.stable:
        raise HwprofError(f"{rate:g} requests/s is more than {x} prefill worker{'s' if x > 1 else ''} of "
                          f"{_short(prefill.layout)} can serve: each prompt takes {pc.lane_s:.3g} s of a worker "
                          f"({rate * pc.lane_s:.3g} workers busy); add prefill workers")  # fmt: skip
    costs = decode_costs(shape, rd, i, o, options)
    # A decode worker runs no prompt: no chunk rides in its steps (chunks 0), nothing queues ahead of it.
    dec = tr.at_rate(rate / y, o, 0.0, lambda b: sl.decode_step(costs, b), max_batch, 0, prompt_work_s=0.0)
    if not dec.stable:
        raise HwprofError(f"{rate:g} requests/s is more than {y} decode worker{'s' if y > 1 else ''} of "
                          f"{_short(decode.layout)} can serve: a worker's KV cache holds {int(max_batch)} "
                          "sequences, fewer than the rate keeps in flight; add decode workers")  # fmt: skip
    hand = handoff_s(i, rp.kv_per_token(i), rd.kv_per_token(i), link)
    return Point(pre, dec, hand)


def _replica(shape: records.Workload, pool: Pool, constants: sl.Constants) -> sl.Replica:
    """A worker of ``pool`` with its serving stack (fixed costs, compiled lengths), by default its chip's."""
    stack = pool.stack if pool.stack is not None else sl.stack_of(pool.cluster.chip, None, constants)
    return sl.replica(shape, pool.cluster, pool.layout, constants, stack)


def _short(lay: sl.ServeLayout) -> str:
    return str(attrs.evolve(lay, dp=1)).replace(",dp=1", "")


def estimate_disaggregated(
    shape: records.Workload,
    prefill: Pool,
    decode: Pool,
    traffic: serving.Traffic,
    interconnects: dict[str, records.Interconnect],
    constants: sl.Constants = sl.SHIPPED,
    band: ranges.Band | None = None,
    published_chips: frozenset[str] = frozenset(),
) -> DisaggEstimate:
    """TTFT, TPOT, throughput and cost of a prefill pool handing prompts to a decode pool at a rate."""
    i, o = traffic.input_tokens, traffic.output_tokens
    if traffic.rate_per_s is None or not traffic.rate_per_s > 0:
        raise HwprofError("disaggregated serving is modelled at a request rate (--rate), not a concurrency")
    options = traffic.options
    options.check()
    for pool in (prefill, decode):
        if pool.layout.prefill:
            raise HwprofError(f"layout {pool.layout}: prefill= splits one layout's replicas; with separate pools "
                              "give each pool its own layout instead")  # fmt: skip
        sl.check(shape, pool.cluster, pool.layout, i, o)
    if prefill.layout.kv_cache != decode.layout.kv_cache:
        raise HwprofError(f"the prefill pool's KV cache is {prefill.layout.kv_cache} and the decode pool's "
                          f"{decode.layout.kv_cache}: the hand-off moves the cache as it is; use one KV precision")  # fmt: skip
    rp, rd = _replica(shape, prefill, constants), _replica(shape, decode, constants)
    for role, pool, r, held in (("prefill", prefill, rp, i), ("decode", decode, rd, i + o)):
        if float(r.max_batch(held)) < 1:
            raise HwprofError(f"{role} layout {_short(pool.layout)}: the weights ({r.weights_bytes_per_chip / 1e9:,.1f}"
                              f" GB per chip) leave no room for the KV cache of one sequence of {held:,} tokens on "
                              f"a {pool.cluster.chip.id}; use more chips per worker (tp x pp) or smaller weights")  # fmt: skip
    max_batch = float(rd.max_batch(i + o))
    if traffic.max_batch is not None:
        max_batch = min(max_batch, float(traffic.max_batch))
    link = joining_link(prefill.cluster, decode.cluster, interconnects)
    point = _point(shape, rp, rd, prefill, decode, traffic, link, options, max_batch)
    band = band or ranges.band("serve", _evidence(prefill, decode, published_chips, constants))

    def at(factor: float) -> Point | None:
        try:
            return operating_point(shape, prefill, decode, traffic, interconnects, constants, factor)
        except HwprofError:
            return None

    fast, slow = at(band.fast), at(band.slow)
    first_band = ranges.band("first", band.evidence)
    first_fast, first_slow = at(first_band.fast), at(first_band.slow)

    def ttft(p: Point | None) -> float | None:
        return p.ttft_mean_s if p else None

    def tpot(p: Point | None) -> float | None:
        return p.dec.tpot_mean_s if p else None

    rate = traffic.rate_per_s
    chips = prefill.cluster.chips + decode.cluster.chips
    tokens = rate * o
    pc = prompt_costs(shape, rp, prefill.layout.chunk_tokens, i, options)
    costs = decode_costs(shape, rd, i, o, options)
    figures = (
        _figures("prefill", prefill, rp, rate / prefill.layout.dp, float(point.pre.utilisation), pc.prompt_s, 0.0,
                 float(rp.max_batch(i))),
        _figures("decode", decode, rd, rate / decode.layout.dp, point.dec.running_sequences / max_batch,
                 float(sl.decode_step(costs, point.dec.running_sequences)), point.dec.running_sequences, max_batch),
    )  # fmt: skip
    return DisaggEstimate(
        kind="serve-disaggregated", model=shape.id, model_source=shape.citation, input_tokens=i, output_tokens=o,
        traffic=traffic.kind, prefill=figures[0], decode=figures[1], handoff_s=point.handoff_s,
        handoff_link=link.name, handoff_bytes=i * (shape.kv_elements_per_token(i) or 0.0)
        * records.BYTES_PER_ELEMENT[decode.layout.kv_cache], queue_wait_s=float(point.pre.wait_mean_s),
        ttft_s=_span(ttft(first_fast), ttft(point) or 0.0, ttft(first_slow), first_band),
        ttft_p50_s=float(point.pre.ttft_p50_s + point.handoff_s), ttft_p90_s=float(point.pre.ttft_p90_s + point.handoff_s),
        tpot_s=_span(tpot(fast), point.dec.tpot_mean_s, tpot(slow), band), tpot_p50_s=point.dec.tpot_p50_s,
        tpot_p90_s=point.dec.tpot_p90_s, chips=chips, requests_per_s=rate, tokens_per_s=tokens,
        tokens_per_s_per_chip=tokens / chips, tokens_per_s_per_user=1 / point.dec.tpot_mean_s,
        cost=_cost(prefill, decode, tokens), assumptions=_assumptions(prefill, decode, link, options, shape),
        range_basis=f"every achieved rate (memory, compute, links) scaled to the ends of the range: {band.text}; "
                    f"first tokens: {first_band.text}",
        range=band, first_token_range=first_band,
    )  # fmt: skip


def _evidence(prefill: Pool, decode: Pool, published: frozenset[str], k: sl.Constants = sl.SHIPPED) -> str:
    """The thinner evidence of the two pools' chips (and their stacks' floors) sets the range."""
    kinds = [serving.stack_evidence(ranges.evidence("serve", pool.cluster.chip, published),
                                    pool.stack if pool.stack is not None else sl.stack_of(pool.cluster.chip, None, k))
             for pool in (prefill, decode)]  # fmt: skip
    return kinds[0] if kinds[0] == kinds[1] else max(kinds, key=lambda k: ranges.band("serve", k).factor)


def _span(low: float | None, expected: float, high: float | None, band: ranges.Band) -> serving.Span:
    lo, hi = ranges.widened(low, expected, high, band, True)
    return serving.Span(lo, expected, hi)


def _figures(role: str, pool: Pool, r: sl.Replica, rate: float, utilisation: float, step_s: float, running: float,
             max_batch: float) -> PoolFigures:  # fmt: skip
    lay = pool.layout
    return PoolFigures(
        role=role, target=pool.cluster.label, chip=pool.cluster.chip.id, chips=pool.cluster.chips, layout=_short(lay),
        layout_fields=lay,
        workers=lay.dp, weights=lay.weights, kv_cache=lay.kv_cache, requests_per_s_per_worker=rate,
        utilisation=utilisation, step_s=step_s, running_sequences_per_worker=running,
        weights_bytes_per_chip=float(r.weights_bytes_per_chip), kv_bytes_per_token_per_chip=float(r.kv_bytes_per_token_per_chip),
        max_batch_per_worker=int(max_batch), tp_link=sl.link_name(pool.cluster, lay.tp),
    )  # fmt: skip


def systems_billed(prefill: Pool, decode: Pool) -> list[tuple[Pool, int]]:
    """Whole systems per pool; pools of one kind of system share them (billed to the prefill pool)."""
    out = []
    if _kind(prefill.cluster) == _kind(decode.cluster) and prefill.cluster.system is not None:
        together = prefill.cluster.chips + decode.cluster.chips
        return [(prefill, -(-together // prefill.cluster.system.chips))]
    for pool in (prefill, decode):
        if pool.cluster.system is not None:
            out.append((pool, -(-pool.cluster.chips // pool.cluster.system.chips)))
    return out


def _cost(prefill: Pool, decode: Pool, tokens_per_s: float) -> serving.ServeCost | None:
    billed = systems_billed(prefill, decode)
    if not billed or any(pool.quote is None for pool, _ in billed) or len(billed) < (
            1 if _kind(prefill.cluster) == _kind(decode.cluster) else 2):  # fmt: skip
        return None
    per_hour = sum(pool.quote.usd_per_hour * n for pool, n in billed)  # type: ignore[union-attr, misc]
    per_million = per_hour / (tokens_per_s * 3600) * 1e6
    warnings = tuple(w for pool, _ in billed for w in pool.quote.warnings())  # type: ignore[union-attr]
    return serving.ServeCost(usd_per_hour=per_hour, systems_billed=sum(n for _, n in billed),
                             usd_per_million_output_tokens=serving.Span(per_million, per_million, per_million),
                             price=billed[0][0].quote.as_json(), warnings=warnings)  # type: ignore[union-attr]  # fmt: skip


def _assumptions(prefill: Pool, decode: Pool, link: comm.Link, options: opt.ServeOptions, shape: records.Workload
                 ) -> tuple[str, ...]:  # fmt: skip
    return (
        f"prefill pool: {prefill.layout.dp} worker{'s' if prefill.layout.dp > 1 else ''} of {_short(prefill.layout)} "
        f"on {prefill.cluster.label}, pulling prompts from one shared queue (M/D/x: Erlang C chance of waiting, "
        "Allen-Cunneen tail); a worker runs prompts only, in chunks of up to "
        f"{prefill.layout.chunk_tokens:,} tokens",
        f"decode pool: {decode.layout.dp} worker{'s' if decode.layout.dp > 1 else ''} of {_short(decode.layout)} on "
        f"{decode.cluster.label}, requests spread evenly; continuous batching, never paused for a prompt",
        f"KV cache handed over {link.name}: each chip sends its share at once, the side with more per chip sets the "
        "time; counted in TTFT",
        f"memory bandwidth {eff.MEMORY_BANDWIDTH_FRACTION.value:.0%}, prompt compute "
        f"{eff.PREFILL_COMPUTE_FRACTION.value:.0%}, decode compute {eff.DECODE_COMPUTE_FRACTION.value:.0%} of peak "
        "(the aggregated model's constants)",
        *options.notes(shape),
    )
