"""``plan serve``: the cheapest deployment that meets latency targets at a request rate, found by
evaluating every candidate at once with numpy (imported inside the functions that need it).

Two kinds of deployment are searched:

- aggregated: a system, a count of them, a layout (tensor parallel x pipeline stages per replica,
  replicas over the rest), the weight and KV-cache precisions and the chunked-prefill budget; every
  replica prefills and decodes. Each candidate runs the scalar estimate's formulas
  (``layout.replica_of``, ``decode_step``, ``prompt_time``, ``traffic.at_rate`` with ``xp=numpy``).
- disaggregated (``disagg``): ``x`` prefill workers of one layout hand the KV cache to ``y`` decode
  workers of another (xPyD), the same weights and KV precision on both. Each pool is evaluated once
  per layout, not per pair: the decode pool's capacity within the TPOT target fixes ``y``; the
  prefill pool's TTFT p90 at 1, 2, ... pooled workers (one pass of Erlang's recursion) fixes the
  fewest ``x`` meeting the TTFT target after the hand-off, found for every compatible pair by a
  vectorised binary search. The hand-off crosses the innermost tier holding both pools' chips.

A pick re-estimated one at a time (``serving.estimate_serve``, ``disagg.estimate_disaggregated``)
gives the same numbers. Targets are met at the 90th percentile (TTFT p90 and TPOT p90). The pick is
the cheapest (fewest systems), then the widest weights and KV cache, then the most headroom: the
highest request rate the deployment would serve within the targets on the same systems (for a
disaggregated one, its workers regrouped over all the chips). That rate per chip is aiconfigurator's
figure of merit (tokens/s per GPU at the SLO); each system's result says how the best of the other
kind compares. Mixture-of-experts models are also searched with their experts spread over the tensor
ranks (``ep = tp``), with or without attention data parallel (``adp=1``).

The frontier is the serving engineer's chart: for each system and layout and a batch of 1 to 1,024
sequences per replica (per decode worker), output tokens/s per chip against tokens/s per user, one
Pareto edge per kind. Aggregated: TPOT = step(B) + B x prompt work / output tokens (prompts
interleaved). Disaggregated: TPOT = step(B) of the decode worker, and its chips are charged the
prefill chip-seconds its requests need on the most efficient prefill layout (the pools' ratio held
exactly; TTFT aside, as for the aggregated edge).
"""

from __future__ import annotations

from typing import Any

import attrs

from ...cost.pricing import Quote
from ...data import records
from ...errors import HwprofError
from .. import cluster as clusters
from .. import comm, ranges
from . import disagg, serving
from . import layout as sl
from . import options as opt
from . import traffic as tr

TP = (1, 2, 4, 8, 16, 32, 64)
PP = (1, 2, 4, 8)
KV = ("bf16", "fp8")
CHUNKS = (2048, 8192)
BATCHES = tuple(2**i for i in range(11))  # frontier: sequences per replica
SEARCH_ITERATIONS = 16  # fixed-point rounds in the search (the scalar estimate runs 30)
EXPERT_MODES = ("", ",ep={tp}", ",ep={tp},adp=1")  # mixture of experts: none, ep = tp, ep = tp with adp
AGGREGATED, DISAGGREGATED = "aggregated", "disaggregated"
CAPACITY_ROUNDS = 24  # bisection rounds of a headroom rate (2^-24 of its bracket)
FILL_WORKERS = 8  # regrouping a disaggregated pick over its systems: up to this many more prefill workers
FILL_PAIRS = 64  # ... for this many of the equally cheap pairs, the fewest chips first


@attrs.frozen
class Deployment:
    system: str
    count: int
    chips: int
    layout: str
    prefill_replicas: int  # aggregated: 0 (every replica prefills and decodes); disaggregated: x
    decode_replicas: int
    weights: str
    kv_cache: str
    chunk_tokens: int
    ttft_p90_s: float
    tpot_p90_s: float
    ttft_mean_s: float
    tpot_mean_s: float
    running_sequences_per_replica: float
    tokens_per_s_per_chip: float
    usd_per_hour: float | None
    usd_per_million_output_tokens: float | None
    price: dict[str, Any] | None
    thin_evidence: tuple[str, ...] = ()  # estimated figures the pick rests on (its range: ranges.py)
    # At the slow end of its range (every achieved rate lower by the range); None: the rate is not served there.
    slow_ttft_p90_s: float | None = None
    slow_tpot_p90_s: float | None = None
    kind: str = AGGREGATED
    prefill_layout: str = ""  # disaggregated: one prefill worker's layout (tp, pp, experts)
    decode_layout: str = ""
    handoff_s: float = 0.0  # disaggregated: one prompt's KV cache to its decode worker
    handoff_link: str = ""
    headroom_requests_per_s: float | None = None  # the most it serves within the targets on these systems
    # The layouts above as typed values: aggregated, ``layout``'s; disaggregated, each pool's (dp its workers).
    layout_fields: sl.ServeLayout | None = None
    prefill_layout_fields: sl.ServeLayout | None = None
    decode_layout_fields: sl.ServeLayout | None = None


@attrs.frozen
class Versus:
    """The best deployment of one kind on the pick's systems: the most it serves within the targets."""

    kind: str
    layout: str
    requests_per_s: float  # 0: none of this kind meets the targets there
    tokens_per_s_per_chip: float


@attrs.frozen
class SystemResult:
    system: str
    best: Deployment | None
    reason: str  # why nothing met the targets, or ""
    evaluated: int
    versus: tuple[Versus, ...] = ()  # the best of each kind on the pick's systems, the pick's kind first
    why: str = ""  # how the pick's kind compares with the other
    stack: str = ""  # the serving stack assumed ("" when none is named)
    evidence: str = ""  # the evidence class its range rests on (ranges.CLASSES)


@attrs.frozen
class FrontierPoint:
    system: str
    layout: str
    weights: str
    kv_cache: str
    batch_per_replica: int
    tokens_per_s_per_chip: float
    tokens_per_s_per_user: float
    usd_per_million_output_tokens: float | None
    kind: str = AGGREGATED


@attrs.frozen
class ServePlan:
    model: str
    rate_per_s: float
    input_tokens: int
    output_tokens: int
    ttft_target_s: float
    tpot_target_s: float
    budget_usd_per_hour: float | None
    systems: tuple[SystemResult, ...]
    cheapest: str | None
    frontier: tuple[FrontierPoint, ...]
    evaluated: int
    assumptions: tuple[str, ...]


@attrs.frozen
class ServeRequest:
    """What a serving plan is asked: the model at ``rate`` requests per second of ``input_tokens``
    in and ``output_tokens`` out, the p90 targets, a budget, the weight precisions to try, up to how
    many systems, targets met at the slow end of each range (``robust``), the serving features
    (``serve_options``) and the kinds of deployment to search."""

    shape: records.Workload
    rate: float
    input_tokens: int
    output_tokens: int
    ttft_target_s: float
    tpot_target_s: float
    budget_usd_per_hour: float | None = None
    precisions: tuple[str, ...] = ("bf16", "fp8", "int4", "fp4")
    max_count: int = 64
    robust: bool = False
    serve_options: opt.ServeOptions = opt.NONE
    kinds: tuple[str, ...] = (AGGREGATED, DISAGGREGATED)

    def check(self) -> None:
        for name, value in (("request rate", self.rate), ("TTFT target", self.ttft_target_s),
                            ("TPOT target", self.tpot_target_s)):  # fmt: skip
            if not value > 0:
                raise HwprofError(f"{name} must be positive, got {value:g}")
        if self.budget_usd_per_hour is not None and not self.budget_usd_per_hour > 0:
            raise HwprofError(f"the budget must be positive, got {self.budget_usd_per_hour:g} USD per hour")
        self.serve_options.check()


@attrs.frozen
class Candidate:
    """One system the plan searches, with what each part of its search reads: its chip and price,
    ``max_count`` of it as a cluster and its tiers as the serving stack sees them, the weight
    precisions the chip runs, and the evidence class and slow-end factor of its range."""

    system: records.System
    chip: records.Chip
    quote: Quote | None
    target: clusters.Cluster
    tiers: tuple[Any, ...]
    reach: int  # chips the tiers join
    stack: sl.StackServing
    weights: list[str]
    evidence: str
    factor: float  # every achieved rate times this: the range's slow end when robust, else 1
    k: sl.Constants
    published_chips: frozenset[str]
    interconnects: dict[str, records.Interconnect]


def _grid(np: Any, counts: Any, chips_per_system: int, precisions: list[str], moe: bool = False) -> dict[str, Any]:
    """Every combination of the searched dimensions, flattened; dp is what count and layout leave."""
    modes = np.arange(len(EXPERT_MODES) if moe else 1)
    axes = np.meshgrid(counts, np.array(TP), np.array(PP), np.arange(len(precisions)), np.arange(len(KV)),
                       np.array(CHUNKS), modes, indexing="ij")  # fmt: skip
    names = ("count", "tp", "pp", "weights", "kv", "chunk", "moe")
    g = {name: axis.ravel() for name, axis in zip(names, axes, strict=True)}
    g["chips"] = g["count"] * chips_per_system
    return g


def _replicas(np: Any, shape: records.Workload, chip: records.Chip, tiers: tuple[Any, ...], grid: dict[str, Any],
              precisions: list[str], k: sl.Constants, factor: float = 1.0, stack: sl.StackServing = sl.NO_STACK
              ) -> sl.Replica:  # fmt: skip
    """One replica's numbers for every layout in ``grid`` (arrays); ``factor`` scales every achieved rate;
    ``stack``: the serving stack's fixed costs and prompt scheduling."""
    tp, pp = grid["tp"], grid["pp"]
    w_bytes = np.array([records.BYTES_PER_ELEMENT[p] for p in precisions])[grid["weights"]]
    kv_bytes = np.array([records.BYTES_PER_ELEMENT[p] for p in KV])[grid["kv"]]
    peaks = np.array([chip.peak_dense_tflops[sl.compute_precision(chip, p)].value for p in precisions])
    r = sl.replica_of(shape, chip, tiers, tp, pp, w_bytes, kv_bytes, peaks[grid["weights"]], k, xp=np, stack=stack)
    if (grid["moe"] > 0).any():  # the experts over the tensor ranks, with or without attention data parallel
        modes = [r] + [sl.replica_of(shape, chip, tiers, tp, pp, w_bytes, kv_bytes, peaks[grid["weights"]], k, xp=np,
                                     ep=tp, adp=adp, stack=stack) for adp in (0, 1)]  # fmt: skip
        r = attrs.evolve(r, **{name: np.choose(grid["moe"], [np.broadcast_to(getattr(m, name), tp.shape) for m in modes])
                               for name in ("weights_bytes_per_chip", "kv_bytes_per_token_per_chip", "comm_fixed_s",
                                            "comm_per_token_s", "adp", "expert_width")})  # fmt: skip
    return sl.scaled(r, factor) if factor != 1.0 else r


def _valid(np: Any, shape: records.Workload, chip: records.Chip, grid: dict[str, Any], reach: int) -> Any:
    """Layouts the model's shape and the chip allow (heads, KV heads, layers, experts, fp8 KV, reach)."""
    tp, pp = grid["tp"], grid["pp"]
    valid = (tp * pp <= reach) & ((grid["kv"] == 0) | ("fp8" in chip.peak_dense_tflops))
    if shape.heads:
        valid &= shape.heads % tp == 0
    if shape.kv_heads:
        valid &= (tp <= shape.kv_heads) | (tp % shape.kv_heads == 0)
    if shape.layers:
        valid &= shape.layers % pp == 0
    if shape.experts:  # ep = tp divides the experts; attention data parallel needs tp > 1
        valid &= (grid["moe"] == 0) | ((shape.experts % tp == 0) & (tp > 1))
    return valid


def _layout_text(grid: dict[str, Any], i: int) -> str:
    tp = int(grid["tp"][i])
    return f"tp={tp},pp={int(grid['pp'][i])}" + EXPERT_MODES[int(grid["moe"][i])].format(tp=tp)


def evaluate(request: ServeRequest, c: Candidate, grid: dict[str, Any], rate: Any = None, factor: float | None = None,
             reach: int | None = None) -> dict[str, Any]:  # fmt: skip
    """TTFT and TPOT (mean, p90), validity and stability of every aggregated candidate in ``grid``
    (arrays) on system ``c`` (its serving stack's fixed costs and prompt scheduling, as in the scalar
    estimate); ``rate`` (default the request's) a number or an array over the grid; ``factor``
    (default the candidate's) scales every achieved rate (below 1: the slow end of the range);
    ``reach``: the most chips a replica may span (default what the candidate's tiers join)."""
    import numpy as np

    shape, chip, tiers, precisions, k, stack = request.shape, c.chip, c.tiers, c.weights, c.k, c.stack
    input_tokens, output_tokens, options = request.input_tokens, request.output_tokens, request.serve_options
    rate = request.rate if rate is None else rate
    factor = c.factor if factor is None else factor
    reach = c.reach if reach is None else reach

    tp, pp, chips = grid["tp"], grid["pp"], grid["chips"]
    per_replica = tp * pp
    dp = chips // per_replica
    r = _replicas(np, shape, chip, tiers, grid, precisions, k, factor, stack)
    i, o = input_tokens, output_tokens
    pc = disagg.prompt_costs(shape, r, grid["chunk"], i, options, xp=np)
    max_batch = r.max_batch(i + o, xp=np)
    valid = (chips % per_replica == 0) & _valid(np, shape, chip, grid, reach) & (max_batch >= 1)
    costs = disagg.decode_costs(shape, r, i, o, options)

    def step(batch: Any) -> Any:
        return sl.decode_step(costs, batch, xp=np)

    n = tp.shape
    out: dict[str, Any] = {name: np.full(n, np.nan) for name in ("ttft_mean", "ttft_p90", "tpot_mean", "tpot_p90",
                                                                  "running")}  # fmt: skip
    out["stable"] = np.zeros(n, dtype=bool)
    rv = _take(np, r, valid)
    costs_v = disagg.decode_costs(shape, rv, i, o, options)
    rates = np.broadcast_to(rate, n)[valid]
    load = tr.at_rate(rates / np.maximum(dp[valid], 1), o, pc.prompt_s[valid],
                      lambda b: sl.decode_step(costs_v, b, xp=np), max_batch[valid], pc.chunks[valid],
                      xp=np, prompt_work_s=pc.work_s[valid], pack=pc.pack[valid], iterations=SEARCH_ITERATIONS,
                      chunked=r.chunked_prefill)  # fmt: skip
    _put(out, valid, load)
    out.update(valid=valid, dp=dp, prefill=np.zeros(n, dtype=int), decode=dp, max_batch=max_batch, step=step,
               work_s=pc.work_s, prompt=pc, costs=costs, chunked=r.chunked_prefill)  # fmt: skip
    return out


def _take(np: Any, r: Any, mask: Any) -> Any:
    """The entries of ``r`` (an attrs record of arrays) where ``mask`` holds; scalar fields stay."""
    size = np.shape(mask)
    return attrs.evolve(r, **{f.name: getattr(r, f.name)[mask] for f in attrs.fields(type(r))
                              if isinstance(getattr(r, f.name), np.ndarray) and getattr(r, f.name).shape == size})  # fmt: skip


def _column(np: Any, r: Any) -> Any:
    """``r`` (an attrs record of arrays) with every array as a column, to broadcast against trials."""
    return attrs.evolve(r, **{f.name: getattr(r, f.name)[:, None] for f in attrs.fields(type(r))
                              if isinstance(getattr(r, f.name), np.ndarray) and getattr(r, f.name).ndim == 1})  # fmt: skip


def _put(out: dict[str, Any], mask: Any, load: tr.Load) -> None:
    out["ttft_mean"][mask] = load.ttft_mean_s
    out["ttft_p90"][mask] = load.ttft_p90_s
    out["tpot_mean"][mask] = load.tpot_mean_s
    out["tpot_p90"][mask] = load.tpot_p90_s
    out["running"][mask] = load.running_sequences
    out["stable"][mask] = load.stable


# --- disaggregated: two pools ---------------------------------------------------------------------------------


def pools(request: ServeRequest, c: Candidate) -> dict[str, Any]:
    """Every worker layout as a prefill and as a decode worker, and every compatible pair with the
    fewest workers of each meeting the targets at the request's rate (see the module docstring), on
    up to ``max_count`` of system ``c``. ``tiers``: the links as collectives see them; ``links``: as
    a KV cache crosses them (innermost first)."""
    import numpy as np

    shape, chip, tiers, links, k, stack = request.shape, c.chip, c.tiers, c.target.tiers, c.k, c.stack
    chips_per_system, precisions, factor, options = c.system.chips, c.weights, c.factor, request.serve_options
    rate, ttft_s, tpot_s, max_count = request.rate, request.ttft_target_s, request.tpot_target_s, request.max_count
    i, o = request.input_tokens, request.output_tokens
    g = _grid(np, np.array([1]), chips_per_system, precisions, bool(shape.experts))
    n = g["tp"] * g["pp"]
    r = _replicas(np, shape, chip, tiers, g, precisions, k, factor, stack)
    ok = _valid(np, shape, chip, g, comm.reach(tiers))
    pc = disagg.prompt_costs(shape, r, g["chunk"], i, options, xp=np)
    pre_ok = ok & (r.max_batch(i, xp=np) >= 1) & (pc.prompt_s < ttft_s)
    max_batch = r.max_batch(i + o, xp=np)
    dec_ok = ok & (max_batch >= 1) & (g["chunk"] == CHUNKS[-1])  # a decode worker runs no prompt: one budget
    costs = disagg.decode_costs(shape, r, i, o, options)

    def step(batch: Any) -> Any:
        return sl.decode_step(costs, batch, xp=np)

    wide = _column(np, costs)
    mu = disagg.decode_capacities(np, lambda b: sl.decode_step(wide, b, xp=np), max_batch, o, tpot_s)
    y = np.ceil(rate / np.maximum(mu, 1e-300) * (1 - 1e-12))
    most_chips = max_count * chips_per_system
    dec_ok &= (mu > 0) & (y * n < most_chips)
    out: dict[str, Any] = {"grid": g, "replica": r, "prompt": pc, "mu": mu, "y": y, "max_batch": max_batch,
                           "step": step, "pre_ok": pre_ok, "dec_ok": dec_ok}  # fmt: skip
    p_idx, d_idx = np.flatnonzero(pre_ok), np.flatnonzero(dec_ok)
    same = (g["weights"][p_idx][:, None] == g["weights"][d_idx][None, :]) & (
        g["kv"][p_idx][:, None] == g["kv"][d_idx][None, :]
    )
    rows, cols = np.nonzero(same)
    pi, di = p_idx[rows], d_idx[cols]
    # Decode workers at their share of the rate (the same for every pair using that layout).
    load = tr.at_rate(rate / np.maximum(y[d_idx], 1), o, 0.0, lambda b: sl.decode_step(_take(np, costs, dec_ok), b,
                      xp=np), max_batch[d_idx], 0, xp=np, prompt_work_s=0.0, iterations=SEARCH_ITERATIONS)  # fmt: skip
    tpot_p90 = np.full(n.shape, np.nan)
    tpot_mean, running = tpot_p90.copy(), tpot_p90.copy()
    tpot_p90[d_idx], tpot_mean[d_idx], running[d_idx] = load.tpot_p90_s, load.tpot_mean_s, load.running_sequences
    # Prefill: TTFT p90 at 1, 2, ... pooled workers per layout; a pair's fewest by binary search.
    kv = r.kv_per_token(float(i), np) * np.ones_like(r.kv_bytes_per_token_per_chip)  # a prompt's cache, windowed
    per_chip = np.maximum(kv[pi], kv[di])
    slowest = min(links, key=lambda t: t.link.bytes_per_s * factor).link if links else None
    worst = (
        i * float(per_chip.max(initial=0.0)) / (slowest.bytes_per_s * factor) + slowest.latency_s if slowest else 0.0
    )
    most = int(most_chips // (int(n[p_idx].min()) if p_idx.size else 1))
    table = disagg.prefill_ttft_table(rate, pc.prompt_s[p_idx], pc.lane_s[p_idx], most, enough=ttft_s - worst)
    row = np.searchsorted(p_idx, pi)
    x = np.zeros(pi.shape, dtype=int)
    hand = np.full(pi.shape, np.nan)
    via = np.full(pi.shape, -1)
    for t, tier in enumerate(links):
        h = i * per_chip / (tier.link.bytes_per_s * factor) + tier.link.latency_s
        first = _first_at_most(np, table, row, ttft_s - h)
        chips = first * n[pi] + y[di] * n[di]
        fits = (first > 0) & (chips <= tier.domain) & (via < 0)
        x, hand, via = np.where(fits, first, x), np.where(fits, h, hand), np.where(fits, t, via)
    chips = x * n[pi] + y[di] * n[di]
    count = -(-chips // chips_per_system)
    feasible = (via >= 0) & (count <= max_count) & (tpot_p90[di] <= tpot_s)
    ttft_p90 = (
        np.where(via >= 0, table[row, np.maximum(x - 1, 0)] + hand, np.inf) if table.size else np.full(pi.shape, np.inf)
    )
    out.update(pi=pi, di=di, x=x, chips=chips, count=count, feasible=feasible, ttft_p90=ttft_p90, handoff=hand,
               via=via, tpot_p90=tpot_p90, tpot_mean=tpot_mean, running=running, n=n)  # fmt: skip
    return out


def _first_at_most(np: Any, table: Any, row: Any, budget: Any) -> Any:
    """Per pair, the fewest workers (1-based column) whose TTFT is within ``budget``; 0 if none. Rows
    are nonincreasing, so a binary search over the columns finds it."""
    width = table.shape[1]
    if width == 0:
        return np.zeros(row.shape, dtype=int)
    lo, hi = np.zeros(row.shape, dtype=int), np.full(row.shape, width)
    for _ in range(max(width, 1).bit_length()):
        mid = (lo + hi) // 2
        ok = table[row, np.minimum(mid, width - 1)] <= budget
        live = lo < hi
        hi = np.where(live & ok, mid, hi)
        lo = np.where(live & ~ok, mid + 1, lo)
    return np.where(lo < width, lo + 1, 0)


# --- headroom: the most a deployment serves within the targets ------------------------------------------------


def _aggregated_headroom(np: Any, ev: dict[str, Any], rows: Any, rate: float, o: int, ttft_s: float,
                         tpot_s: float) -> Any:  # fmt: skip
    """Per aggregated candidate ``rows`` (all meeting the targets at ``rate``), about the highest
    rate still meeting them (``disagg.largest``; at most the rate at which prompts fill the replicas)."""
    pc, dp = ev["prompt"], ev["dp"][rows][:, None]
    costs = _column(np, _take(np, ev["costs"], _mask(np, rows, ev["dp"].shape)))  # rows ascend, as _take keeps them

    def holds(trials: Any) -> Any:
        load = tr.at_rate(trials / dp, o, pc.prompt_s[rows][:, None], lambda b: sl.decode_step(costs, b, xp=np),
                          ev["max_batch"][rows][:, None], pc.chunks[rows][:, None], xp=np,
                          prompt_work_s=pc.work_s[rows][:, None], pack=pc.pack[rows][:, None],
                          iterations=SEARCH_ITERATIONS, chunked=ev["chunked"])  # fmt: skip
        return load.stable & (load.ttft_p90_s <= ttft_s) & (load.tpot_p90_s <= tpot_s)

    top = ev["dp"][rows] / np.maximum(pc.work_s[rows], 1e-30)
    return disagg.largest(np, holds, np.full(rows.shape, rate), np.maximum(top, rate))


def _mask(np: Any, rows: Any, shape: Any) -> Any:
    out = np.zeros(shape, dtype=bool)
    out[rows] = True
    return out


def _disaggregated_headroom(np: Any, pl: dict[str, Any], pairs: Any, chips: int, ttft_s: float) -> tuple[Any, Any]:
    """Per pair, the most it serves within the targets with its workers regrouped over ``chips``:
    x prefill workers (from its fewest up to ``FILL_WORKERS`` more) and as many decode workers as the
    rest holds; (rate, x) of the best grouping."""
    n, pc = pl["n"], pl["prompt"]
    pi, di = pl["pi"][pairs], pl["di"][pairs]
    x = pl["x"][pairs][:, None] + np.arange(FILL_WORKERS + 1)[None, :]
    y = (chips - x * n[pi][:, None]) // n[di][:, None]
    fits = y >= 1
    shape = x.shape

    def flat(a: Any) -> Any:
        return np.broadcast_to(a[:, None], shape).ravel()

    pre = disagg.prefill_capacities(np, x.ravel(), flat(pc.prompt_s[pi]), flat(pc.lane_s[pi]),
                                    flat(ttft_s - pl["handoff"][pairs])).reshape(shape)  # fmt: skip
    rate = np.where(fits, np.minimum(pre, y * pl["mu"][di][:, None]), 0.0)
    best = rate.argmax(axis=1)
    return rate[np.arange(pairs.size), best], x[np.arange(pairs.size), best]


# --- the plan -------------------------------------------------------------------------------------------------


def _cheapest_reason(np: Any, ev: dict[str, Any], cost: Any, ttft: float, tpot: float, budget: float | None,
                     max_count: int) -> str:  # fmt: skip
    """Why no candidate of a system met the targets: the first test that leaves none."""
    left = ev["valid"]
    if not left.any():
        return "the model does not fit on any layout (memory, heads or layers)"
    if not (left := left & ev["stable"]).any():
        return f"cannot serve the rate with up to {max_count} systems"
    if not (left & (ev["ttft_p90"] <= ttft)).any():
        return f"TTFT p90 above target: best {float(ev['ttft_p90'][left].min()) * 1e3:,.0f} ms"
    if not (left := left & (ev["ttft_p90"] <= ttft)).any() or not (left & (ev["tpot_p90"] <= tpot)).any():
        return f"TPOT p90 above target: best {float(ev['tpot_p90'][left].min()) * 1e3:,.1f} ms"
    priced = cost[left][np.isfinite(cost[left])]
    if budget is not None and priced.size:
        return f"over budget: cheapest meeting the targets costs {float(priced.min()):,.2f} USD/h"
    return "no price"


def candidate(request: ServeRequest, system: records.System, chip: records.Chip, quote: Quote | None,
              interconnects: dict[str, records.Interconnect], k: sl.Constants = sl.SHIPPED,
              published_chips: frozenset[str] = frozenset(),
              stacks: dict[str, tuple[sl.StackServing, str]] | None = None) -> Candidate:  # fmt: skip
    """``system`` as the plan searches it: ``request.max_count`` of it, its serving stack (the chip's
    default unless ``stacks`` names one) and evidence class, the weight precisions its chip runs (none:
    the system cannot serve the request's precisions) and its range's slow end when robust."""
    stack, cls = (stacks or {}).get(chip.id) or (sl.stack_of(chip, None, k), "")
    cls = cls or serving.stack_evidence(ranges.evidence("serve", chip, published_chips), stack)
    target = clusters.cluster_for(chip, request.max_count * system.chips, system, interconnects)
    sl.check(request.shape, attrs.evolve(target, chips=1), sl.ServeLayout(), request.input_tokens,
             request.output_tokens)  # fmt: skip
    tiers = sl.tiers(target, k, stack)
    factor = _slow_factor(target, published_chips, cls) if request.robust else 1.0
    return Candidate(system, chip, quote, target, tiers, comm.reach(tiers), stack,
                     sl.weight_precisions(chip, request.precisions), cls, factor, k, published_chips, interconnects)  # fmt: skip


def plan_serve(request: ServeRequest, options: list[tuple[records.System, records.Chip, Quote | None]],
               interconnects: dict[str, records.Interconnect], k: sl.Constants = sl.SHIPPED,
               published_chips: frozenset[str] = frozenset(),
               stacks: dict[str, tuple[sl.StackServing, str]] | None = None) -> ServePlan:  # fmt: skip
    """The cheapest deployment per system meeting the targets at the request's rate, the cheapest
    overall, and the throughput frontier. ``request.robust``: meet the targets at the slow end of
    each system's range (every achieved rate at the slow end of an estimate's range: ``ranges``;
    wider on chips without a serving calibration run of their own, ``published_chips`` being those
    with one). ``stacks``: chip id -> (serving stack, evidence class) where not the chip's default stack."""
    try:
        import numpy as np
    except ImportError:
        raise HwprofError("planning a deployment needs numpy, a dependency of hwprof: pip install numpy") from None

    request.check()
    shape, i, o = request.shape, request.input_tokens, request.output_tokens
    results: list[SystemResult] = []
    frontier: list[FrontierPoint] = []
    for system, chip, quote in options:
        c = candidate(request, system, chip, quote, interconnects, k, published_chips, stacks)
        if not c.weights:
            results.append(SystemResult(system.id, None, f"{chip.id} runs none of {', '.join(request.precisions)}", 0,
                                        stack=c.stack.name, evidence=c.evidence))  # fmt: skip
            continue
        results.append(attrs.evolve(_search_system(np, request, c), stack=c.stack.name, evidence=c.evidence))
        frontier.extend(_frontier(np, request, c))
    priced = [(r.best.usd_per_hour, r.system) for r in results if r.best and r.best.usd_per_hour is not None]
    cheapest = min(priced)[1] if priced else None
    edges = [p for kind in request.kinds for p in _pareto([p for p in frontier if p.kind == kind])]
    return ServePlan(
        model=shape.id, rate_per_s=request.rate, input_tokens=i, output_tokens=o,
        ttft_target_s=request.ttft_target_s, tpot_target_s=request.tpot_target_s,
        budget_usd_per_hour=request.budget_usd_per_hour, systems=tuple(results), cheapest=cheapest,
        frontier=tuple(edges), evaluated=sum(r.evaluated for r in results), assumptions=_assumptions(request),
    )  # fmt: skip


def _assumptions(request: ServeRequest) -> tuple[str, ...]:
    kinds, shape = request.kinds, request.shape
    return (
        "targets met at the 90th percentile (TTFT p90, TPOT p90) under Poisson arrivals at the rate",
        f"searched: system count 1-{request.max_count}, tp {TP}, pp {PP}, weights {'/'.join(request.precisions)} "
        f"(where the chip runs them), KV cache {'/'.join(KV)}, chunked prefill {CHUNKS} tokens"
        + (", experts over the tensor ranks (ep = tp) with and without attention data parallel"
           if shape.experts else "")
        + ("; aggregated and disaggregated (x prefill workers of one layout, y decode workers of another, "
           "prompts in one shared prefill queue, the KV cache handed over the innermost link holding both)"
           if DISAGGREGATED in kinds else ""),
        "cost: whole systems at the quoted price; per million output tokens at exactly the rate; among "
        "equally cheap picks the widest weights and KV cache, then the most headroom (the highest rate "
        "served within the targets on the same systems)",
        *request.serve_options.notes(shape),
    )  # fmt: skip


def _search_system(np: Any, request: ServeRequest, c: Candidate) -> SystemResult:
    """One system's cheapest deployment meeting the targets (``_pick``), or why none does."""
    shape, system = request.shape, c.system
    ttft, tpot, budget, kinds = request.ttft_target_s, request.tpot_target_s, request.budget_usd_per_hour, request.kinds
    grid = _grid(np, np.arange(1, request.max_count + 1), system.chips, c.weights, bool(shape.experts))
    price = c.quote.usd_per_hour if c.quote else np.nan
    ev = evaluate(request, c, grid)
    ok = ev["valid"] & ev["stable"] & (ev["ttft_p90"] <= ttft) & (ev["tpot_p90"] <= tpot)
    ok &= AGGREGATED in kinds
    if DISAGGREGATED in kinds:
        pl = pools(request, c)
    else:
        pl = {name: np.zeros(0, dtype=int) for name in ("pi", "di", "x", "count", "chips")}
        pl.update(feasible=np.zeros(0, dtype=bool), grid=grid)
    split_ok = pl["feasible"]
    pair_count = pl["count"]
    if budget is not None:
        ok &= grid["count"] * price <= budget
        split_ok &= pair_count * price <= budget
    if ok.any() or split_ok.any():
        return _pick(np, request, c, grid, ev, ok, pl, split_ok)
    reason = _cheapest_reason(np, ev, grid["count"] * price, ttft, tpot, budget, request.max_count)
    if DISAGGREGATED in kinds and not pl["feasible"].any():
        reason += f"; no prefill and decode pools of up to {request.max_count} systems meet both targets either"
    return SystemResult(system.id, None, reason, grid["tp"].size + pl["pi"].size)


def _pick(np: Any, request: ServeRequest, c: Candidate, grid: dict[str, Any], ev: dict[str, Any], ok: Any,
          pl: dict[str, Any], split_ok: Any) -> SystemResult:  # fmt: skip
    """The cheapest deployment of either kind, then the widest weights and KV cache, then the most headroom."""
    system, weights, rate, o = c.system, c.weights, request.rate, request.output_tokens
    ttft_s, tpot_s = request.ttft_target_s, request.tpot_target_s
    g = pl["grid"]
    keys = []  # (count, weights, kv) of each kind's cheapest
    if ok.any():
        keys.append((int(grid["count"][ok].min()),))
    if split_ok.any():
        keys.append((int(pl["count"][split_ok].min()),))
    count = min(keys)[0]
    at_agg = ok & (grid["count"] == count)
    at_split = split_ok & (pl["count"] == count)
    # Widest weights, then widest KV, over both kinds at that count.
    w_kv = [(int(grid["weights"][j]), int(grid["kv"][j])) for j in np.flatnonzero(at_agg)]
    w_kv += [(int(g["weights"][p]), int(g["kv"][p])) for p in pl["pi"][at_split]]
    w, v = min(w_kv)
    at_agg &= (grid["weights"] == w) & (grid["kv"] == v)
    at_split &= (g["weights"][pl["pi"]] == w) & (g["kv"][pl["pi"]] == v)
    chips = count * system.chips
    # Headroom of every equally cheap candidate of each kind (the most each serves within the targets).
    agg_rows = np.flatnonzero(at_agg)
    agg_head = _aggregated_headroom(np, ev, agg_rows, rate, o, ttft_s, tpot_s) if agg_rows.size else np.zeros(0)
    split_rows = np.flatnonzero(at_split)
    split_rows = split_rows[np.argsort(pl["chips"][split_rows], kind="stable")][:FILL_PAIRS]
    split_head, split_x = _disaggregated_headroom(np, pl, split_rows, chips, ttft_s) if split_rows.size else (
        np.zeros(0), np.zeros(0))  # fmt: skip
    best_agg = float(agg_head.max(initial=0.0))
    best_split = float(split_head.max(initial=0.0))
    if agg_rows.size and (not split_rows.size or best_agg >= best_split):
        # The most headroom; where experts whole (ep) and sliced (etp) tie, experts whole.
        j = int(agg_rows[np.lexsort((grid["moe"][agg_rows] == 0, -agg_head))[0]])
        one = {name: values[j : j + 1] for name, values in grid.items()}
        expected = evaluate(request, c, one, factor=1.0) if request.robust else {
            n: v_[j : j + 1] for n, v_ in ev.items() if hasattr(v_, "shape")}  # fmt: skip
        best = _deployment(one, expected, 0, system, weights, c.quote, rate, o)
        slow = evaluate(request, c, one, factor=_slow_factor(c.target, c.published_chips, c.evidence))
        held = bool(slow["stable"][0])
        lay = sl.ServeLayout(tp=int(grid["tp"][j]), pp=int(grid["pp"][j]), weights=best.weights)
        best = attrs.evolve(best, thin_evidence=tuple(sl.estimated_figures(c.target, lay)),
                            slow_ttft_p90_s=float(slow["ttft_p90"][0]) if held else None,
                            slow_tpot_p90_s=float(slow["tpot_p90"][0]) if held else None,
                            headroom_requests_per_s=best_agg)  # fmt: skip
    else:
        top = int(np.argmax(split_head))
        j = int(split_rows[top])
        p, d, x = int(pl["pi"][j]), int(pl["di"][j]), int(split_x[top])
        y = (chips - x * int(pl["n"][p])) // int(pl["n"][d])  # the workers regrouped over every chip paid for
        best = _split_deployment(request, c, pl, (p, d, x, y), count, best_split)
    versus = []
    for kind, head, rows in ((AGGREGATED, agg_head, agg_rows), (DISAGGREGATED, split_head, split_rows)):
        if kind not in request.kinds:
            continue
        if not rows.size:
            versus.append(Versus(kind, "", 0.0, 0.0))
            continue
        top = int(rows[int(np.argmax(head))])
        if kind == AGGREGATED:
            text = f"{_layout_text(grid, top)},dp={int(ev['dp'][top])}"
        else:
            x = int(split_x[int(np.argmax(head))])
            y = (chips - x * int(pl["n"][pl["pi"][top]])) // int(pl["n"][pl["di"][top]])
            text = _split_text(g, int(pl["pi"][top]), int(pl["di"][top]), x, int(y))
        versus.append(Versus(kind, text, float(head.max()), float(head.max()) * o / chips))
    versus.sort(key=lambda v_: v_.kind != best.kind)
    return SystemResult(system.id, best, "", grid["tp"].size + pl["pi"].size, tuple(versus),
                        _why(versus, count, system.id, weights[w], KV[v]))  # fmt: skip


def _why(versus: list[Versus], count: int, system_id: str, weights: str, kv: str) -> str:
    if len(versus) < 2:
        return ""
    mine, other = versus
    where = f"{count} x {system_id}" if count > 1 else f"one {system_id}"
    if not other.requests_per_s:
        return (f"{mine.kind}: no {other.kind} deployment in {weights}/{kv} meets the targets on {where}; this one "
                f"serves up to {mine.requests_per_s:.3g} requests/s ({mine.tokens_per_s_per_chip:,.0f} output "
                "tokens/s per chip)")  # fmt: skip
    gain = mine.requests_per_s / other.requests_per_s - 1
    return (f"{mine.kind} {'beats' if gain > 0 else 'ties with'} {other.kind} on {where} in {weights}/{kv}: up to "
            f"{mine.requests_per_s:.3g} requests/s within the targets ({mine.tokens_per_s_per_chip:,.0f} output "
            f"tokens/s per chip) against {other.requests_per_s:.3g} ({other.tokens_per_s_per_chip:,.0f}) for the best "
            f"{other.kind}, {other.layout} ({gain:+.0%})")  # fmt: skip


def _split_text(g: dict[str, Any], p: int, d: int, x: int, y: int) -> str:
    return f"prefill {x} x {_layout_text(g, p)} + decode {y} x {_layout_text(g, d)}"


def _split_deployment(request: ServeRequest, c: Candidate, pl: dict[str, Any], pick: tuple[int, int, int, int],
                      count: int, headroom: float) -> Deployment:  # fmt: skip
    """The disaggregated pick (prefill layout p, decode layout d, x and y workers), re-estimated one at a time."""
    shape, system, quote, weights, interconnects, k = request.shape, c.system, c.quote, c.weights, c.interconnects, c.k
    rate, o = request.rate, request.output_tokens
    g = pl["grid"]
    p, d, x, y = pick
    prefill, decode = (_pool(shape, c.chip, system, interconnects, g, index, workers, weights, c.stack)
                       for index, workers in ((p, x), (d, y)))  # fmt: skip
    traffic = serving.Traffic(request.input_tokens, o, rate_per_s=rate, options=request.serve_options)
    point = disagg.operating_point(shape, prefill, decode, traffic, interconnects, k)
    try:
        slow = disagg.operating_point(shape, prefill, decode, traffic, interconnects, k,
                                      _slow_factor(c.target, c.published_chips, c.evidence))  # fmt: skip
    except HwprofError:
        slow = None
    per_hour = quote.usd_per_hour * count if quote else None
    tokens = rate * o
    link = disagg.joining_link(prefill.cluster, decode.cluster, interconnects)
    thin = sorted(
        {*sl.estimated_figures(prefill.cluster, prefill.layout), *sl.estimated_figures(decode.cluster, decode.layout)}
    )
    return Deployment(
        system=system.id, count=count, chips=count * system.chips, layout=_split_text(g, p, d, x, y),
        prefill_replicas=x, decode_replicas=y, weights=weights[g["weights"][p]], kv_cache=KV[g["kv"][p]],
        chunk_tokens=int(g["chunk"][p]), ttft_p90_s=point.ttft_p90_s, tpot_p90_s=point.dec.tpot_p90_s,
        ttft_mean_s=point.ttft_mean_s, tpot_mean_s=point.dec.tpot_mean_s,
        running_sequences_per_replica=point.dec.running_sequences, tokens_per_s_per_chip=tokens / (count * system.chips),
        usd_per_hour=per_hour, usd_per_million_output_tokens=per_hour / (tokens * 3600) * 1e6 if per_hour else None,
        price=quote.as_json() if quote else None, thin_evidence=tuple(thin),
        slow_ttft_p90_s=slow.ttft_p90_s if slow else None, slow_tpot_p90_s=slow.dec.tpot_p90_s if slow else None,
        kind=DISAGGREGATED, prefill_layout=_layout_text(g, p), decode_layout=_layout_text(g, d),
        handoff_s=point.handoff_s, handoff_link=link.name, headroom_requests_per_s=headroom,
        prefill_layout_fields=prefill.layout, decode_layout_fields=decode.layout,
    )  # fmt: skip


def _pool(shape: records.Workload, chip: records.Chip, system: records.System,
          interconnects: dict[str, records.Interconnect], g: dict[str, Any], index: int, workers: int,
          weights: list[str], stack: sl.StackServing | None = None) -> disagg.Pool:  # fmt: skip
    lay = _grid_layout(g, index, workers, weights)
    return disagg.Pool(clusters.cluster_for(chip, lay.chips, system, interconnects), lay, stack=stack)


def _grid_layout(g: dict[str, Any], index: int, dp: int, weights: list[str]) -> sl.ServeLayout:
    """Row ``index`` of the search grid as a ServeLayout of ``dp`` replicas (or workers)."""
    tp, pp, mode = int(g["tp"][index]), int(g["pp"][index]), int(g["moe"][index])
    return sl.ServeLayout(tp=tp, pp=pp, dp=dp, ep=tp if mode else 1, adp=1 if mode == 2 else 0,
                          weights=weights[g["weights"][index]], kv_cache=KV[g["kv"][index]],
                          chunk_tokens=int(g["chunk"][index]))  # fmt: skip


# -- range hook (hwprof.perf.ranges) ---------------------------------------------------------------
def _slow_factor(target: clusters.Cluster, published_chips: frozenset[str], evidence: str = "") -> float:
    """Every achieved rate times this at the slow end of an estimate's range, as ``serving.estimate_serve``
    forms it (``evidence``: the class, where a stack other than the chip's default decides it): the slower
    of its decode and first-token ends, so a plan met there meets both targets there."""
    evidence = evidence or ranges.evidence("serve", target.chip, published_chips)
    return min(ranges.band("serve", evidence).slow, ranges.band("first", evidence).slow)


def _deployment(grid: dict[str, Any], ev: dict[str, Any], i: int, system: records.System, weights: list[str],
                quote: Quote | None, rate: float, output_tokens: int) -> Deployment:  # fmt: skip
    count, dp = int(grid["count"][i]), int(ev["dp"][i])
    chips = count * system.chips
    per_hour = quote.usd_per_hour * count if quote else None
    tokens = rate * output_tokens
    tp, pp = int(grid["tp"][i]), int(grid["pp"][i])
    return Deployment(
        system=system.id, count=count, chips=chips,
        layout=f"tp={tp},pp={pp},dp={dp}" + EXPERT_MODES[int(grid["moe"][i])].format(tp=tp),
        prefill_replicas=0, decode_replicas=dp, weights=weights[grid["weights"][i]],
        kv_cache=KV[grid["kv"][i]], chunk_tokens=int(grid["chunk"][i]), ttft_p90_s=float(ev["ttft_p90"][i]),
        tpot_p90_s=float(ev["tpot_p90"][i]), ttft_mean_s=float(ev["ttft_mean"][i]),
        tpot_mean_s=float(ev["tpot_mean"][i]), running_sequences_per_replica=float(ev["running"][i]),
        tokens_per_s_per_chip=tokens / chips, usd_per_hour=per_hour,
        usd_per_million_output_tokens=per_hour / (tokens * 3600) * 1e6 if per_hour else None,
        price=quote.as_json() if quote else None, layout_fields=_grid_layout(grid, i, dp, weights),
    )  # fmt: skip


def _frontier(np: Any, request: ServeRequest, c: Candidate) -> list[FrontierPoint]:
    """One system's Pareto points of each kind at 1 to 1,024 sequences per replica (module docstring):
    aggregated, TPOT = step(B) + B x prompt work / output tokens; disaggregated, TPOT = step(B) on the
    decode worker and the prefill chip-seconds of its requests charged on the most efficient prefill
    layout of the same precisions."""
    shape, system, weights, quote, o = request.shape, c.system, c.weights, c.quote, request.output_tokens
    grid = _grid(np, np.array([1]), system.chips, weights, bool(shape.experts))
    ev = evaluate(request, c, grid, rate=1e-9, factor=1.0, reach=system.chips)
    n = grid["tp"] * grid["pp"]
    lane = ev["prompt"].lane_s
    # The most efficient prefill layout per weights and KV precision: chip-seconds per prompt.
    chip_s = np.where(ev["valid"], lane * n, np.inf)
    pair = grid["weights"] * len(KV) + grid["kv"]
    prefill = np.full(n.shape, -1)
    for key in np.unique(pair):
        same = np.flatnonzero(pair == key)
        if np.isfinite(chip_s[same]).any():
            prefill[pair == key] = same[np.argmin(chip_s[same])]
    decoder = np.flatnonzero(ev["valid"] & (grid["chunk"] == CHUNKS[-1]))
    batch = np.array(BATCHES, dtype=float)[None, :]
    step = sl.decode_step(_column(np, _take(np, ev["costs"], _mask(np, decoder, n.shape))), batch, xp=np)
    fits = ev["max_batch"][decoder][:, None] >= batch
    nd = n[decoder][:, None]
    edges: list[FrontierPoint] = []
    per_chip_hour = quote.usd_per_hour / system.chips if quote else None
    for kind in request.kinds:
        if kind == AGGREGATED:
            tpot = step + batch * ev["work_s"][decoder][:, None] / o
            per_chip = batch / (tpot * nd)
            ok = fits
        else:
            p = prefill[decoder][:, None]
            ratio = batch / (o * step) * lane[np.maximum(p, 0)]  # prefill workers busy per decode worker
            tpot = step
            per_chip = batch / step / (nd + ratio * n[np.maximum(p, 0)])
            ok = fits & (p >= 0)
        rows, cols = np.nonzero(ok)
        user, chip_rate = 1 / tpot[rows, cols], per_chip[rows, cols]
        order = np.lexsort((-chip_rate, -user))
        best = np.maximum.accumulate(chip_rate[order])
        keep = order[np.concatenate(([True], chip_rate[order][1:] > best[:-1]))] if order.size else order
        for j in keep:
            i, b = int(decoder[rows[j]]), int(BATCHES[cols[j]])
            if kind == AGGREGATED:
                text = _layout_text(grid, i)
            else:
                text = (f"prefill {_layout_text(grid, int(prefill[i]))} x{float(ratio[rows[j], cols[j]]):.2g} : "
                        f"decode {_layout_text(grid, i)} x1")  # fmt: skip
            rate = float(chip_rate[j])
            edges.append(FrontierPoint(
                system=system.id, layout=text, weights=weights[grid["weights"][i]], kv_cache=KV[grid["kv"][i]],
                batch_per_replica=b, tokens_per_s_per_chip=rate, tokens_per_s_per_user=float(user[j]),
                usd_per_million_output_tokens=per_chip_hour / (rate * 3600) * 1e6 if per_chip_hour else None, kind=kind,
            ))  # fmt: skip
    return edges


def _pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """Points no other beats on both tokens/s per chip and tokens/s per user, fastest per user first; of
    equal points the cheapest priced one (two systems of one chip tie: an unpriced one never hides a priced)."""
    ordered = sorted(points, key=lambda p: (-p.tokens_per_s_per_user, -p.tokens_per_s_per_chip,
                                            p.usd_per_million_output_tokens is None, p.usd_per_million_output_tokens or 0))  # fmt: skip
    out: list[FrontierPoint] = []
    for p in ordered:
        if not out or p.tokens_per_s_per_chip > out[-1].tokens_per_s_per_chip:
            out.append(p)
    return out


def deployment_pools(d: Deployment, system: records.System, chip: records.Chip,
                     interconnects: dict[str, records.Interconnect]) -> tuple[disagg.Pool, disagg.Pool]:  # fmt: skip
    """A disaggregated pick's prefill and decode pools, to estimate it one at a time."""
    out = []
    for lay in (d.prefill_layout_fields, d.decode_layout_fields):
        if lay is None:
            raise HwprofError(f"{d.system} x {d.count}: not a disaggregated deployment (no pool layouts)")
        out.append(disagg.Pool(clusters.cluster_for(chip, lay.chips, system, interconnects), lay))
    return out[0], out[1]
