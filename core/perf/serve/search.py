"""``plan serve``: the cheapest deployment that meets latency targets at a request rate, found by
evaluating every candidate at once with numpy (imported inside the functions that need it).

A candidate is a system, a count of them, a layout (tensor parallel x pipeline stages per replica,
replicas over the rest), the weight and KV-cache precisions, the chunked-prefill budget, and
whether some replicas only prefill (disaggregation: ``x`` prefill replicas hand the KV cache to
``y`` decode replicas over the scale-out link). Each is run through the same formulas as the
scalar estimate (``serve_layout.replica_of``, ``decode_step``, ``prompt_time``, ``traffic.at_rate``
with ``xp=numpy``), so a pick re-estimated one at a time gives the same numbers. Targets are met at
the 90th percentile (TTFT p90 and TPOT p90). Mixture-of-experts models are also searched with their
experts spread over the tensor ranks (``ep = tp``), with or without attention data parallel
(``adp=1``: each rank attends to its own sequences).

The frontier is the serving engineer's chart: for each system and layout and a batch of 1 to 1,024
sequences per replica, output tokens/s per chip against tokens/s per user (1 / TPOT, prompts
interleaved), Pareto-optimal points only.
"""

from __future__ import annotations

from typing import Any

import attrs

from hwprof.cost.pricing import Quote
from hwprof.data import records
from hwprof.errors import HwprofError
from hwprof.perf import cluster as clusters
from hwprof.perf import comm
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import shape as serve_shape
from hwprof.perf.serve import traffic as tr

TP = (1, 2, 4, 8, 16, 32, 64)
PP = (1, 2, 4, 8)
KV = ("bf16", "fp8")
CHUNKS = (2048, 8192)
PREFILL_SHARE = (0.0, 0.25, 0.5)  # share of replicas that only prefill; 0: every replica does both
BATCHES = tuple(2**i for i in range(11))  # frontier: sequences per replica
SEARCH_ITERATIONS = 16  # fixed-point rounds in the search (the scalar estimate runs 30)
EXPERT_MODES = ("", ",ep={tp}", ",ep={tp},adp=1")  # mixture of experts: none, ep = tp, ep = tp with adp


@attrs.frozen
class Deployment:
    system: str
    count: int
    chips: int
    layout: str
    prefill_replicas: int  # 0: every replica prefills and decodes
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


@attrs.frozen
class SystemResult:
    system: str
    best: Deployment | None
    reason: str  # why nothing met the targets, or ""
    evaluated: int


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


def _grid(np: Any, counts: Any, chips_per_system: int, precisions: list[str], moe: bool = False) -> dict[str, Any]:
    """Every combination of the searched dimensions, flattened; dp is what count and layout leave."""
    modes = np.arange(len(EXPERT_MODES) if moe else 1)
    axes = np.meshgrid(counts, np.array(TP), np.array(PP), np.arange(len(precisions)), np.arange(len(KV)),
                       np.array(CHUNKS), np.array(PREFILL_SHARE), modes, indexing="ij")  # fmt: skip
    names = ("count", "tp", "pp", "weights", "kv", "chunk", "share", "moe")
    g = {name: axis.ravel() for name, axis in zip(names, axes, strict=True)}
    g["chips"] = g["count"] * chips_per_system
    return g


def evaluate(shape: records.Workload, chip: records.Chip, tiers: tuple[Any, ...], chips_per_system: int, reach: int,
             grid: dict[str, Any], precisions: list[str], rate: float, input_tokens: int, output_tokens: int,
             k: sl.Constants = sl.SHIPPED, factor: float = 1.0, stack: sl.StackServing = sl.NO_STACK
             ) -> dict[str, Any]:  # fmt: skip
    """TTFT and TPOT (mean, p90), validity and stability of every candidate in ``grid`` (arrays);
    ``factor`` scales every achieved rate (below 1: the slow end of the range); ``stack``: the
    serving stack's fixed costs and prompt scheduling, as in the scalar estimate."""
    import numpy as np

    tp, pp, chips = grid["tp"], grid["pp"], grid["chips"]
    per_replica = tp * pp
    dp = chips // per_replica
    w_bytes = np.array([records.BYTES_PER_ELEMENT[p] for p in precisions])[grid["weights"]]
    kv_bytes = np.array([records.BYTES_PER_ELEMENT[p] for p in KV])[grid["kv"]]
    peaks = np.array([chip.peak_dense_tflops[sl.compute_precision(chip, p)].value for p in precisions])
    r = sl.replica_of(shape, chip, tiers, tp, pp, w_bytes, kv_bytes, peaks[grid["weights"]], k, xp=np, stack=stack)
    if (grid["moe"] > 0).any():  # the experts over the tensor ranks, with or without attention data parallel
        modes = [r] + [sl.replica_of(shape, chip, tiers, tp, pp, w_bytes, kv_bytes, peaks[grid["weights"]], k, xp=np,
                                     ep=tp, adp=adp, stack=stack) for adp in (0, 1)]  # fmt: skip
        r = attrs.evolve(r, **{name: np.choose(grid["moe"], [np.broadcast_to(getattr(m, name), tp.shape) for m in modes])
                               for name in ("weights_bytes_per_chip", "kv_bytes_per_token_per_chip", "comm_fixed_s",
                                            "comm_per_token_s", "adp")})  # fmt: skip
    if factor != 1.0:
        r = sl.scaled(r, factor)
    i, o = input_tokens, output_tokens
    padded = sl.padded(i, r.prompt_buckets)  # as serving._solve: compiled prompt lengths
    context = sl.padded(i + o / 2, r.prompt_buckets)
    flops_per_token = 2 * shape.active
    attention_flops = serve_shape.decode_attention_flops(shape, context)
    prompt_flops = padded * shape.forward_flops_per_token(padded / 2)
    chunks = np.ceil(i / grid["chunk"]) if r.chunked_prefill else np.ones(grid["chunk"].shape)
    pack = np.maximum(1, grid["chunk"] // i) if r.chunked_prefill else np.ones(grid["chunk"].shape)
    prompt_attention = serve_shape.prompt_attention_flops(shape, padded)
    compute, comm_s = sl.prompt_time(r, padded, prompt_flops, chunks, xp=np, attention_flops=prompt_attention)
    prompt_s = compute + comm_s
    work_s = sum(sl.prompt_time(r, padded, prompt_flops, chunks, xp=np, batched=True,
                                attention_flops=prompt_attention))  # fmt: skip
    max_batch = r.max_batch(i + o, xp=np)
    fp8_kv = "fp8" in chip.peak_dense_tflops
    valid = (chips % per_replica == 0) & (per_replica <= reach)
    valid &= (max_batch >= 1) & ((grid["kv"] == 0) | fp8_kv)
    if shape.heads:
        valid &= shape.heads % tp == 0
    if shape.kv_heads:
        valid &= (tp <= shape.kv_heads) | (tp % shape.kv_heads == 0)
    if shape.layers:
        valid &= shape.layers % pp == 0
    if shape.experts:  # ep = tp divides the experts; attention data parallel needs tp > 1
        valid &= (grid["moe"] == 0) | ((shape.experts % tp == 0) & (tp > 1))
    prefill = np.where(grid["share"] > 0, np.maximum(np.round(grid["share"] * dp), 1), 0)
    decode = dp - prefill
    valid &= decode >= 1

    costs = sl.step_of(r, context, flops_per_token, attention_flops)

    def step(batch: Any) -> Any:
        return sl.decode_step(costs, batch, xp=np)

    # Each valid candidate is either aggregated (every replica prefills and decodes) or split:
    # evaluate each kind on its own candidates (invalid ones keep NaN and stable False).
    split = (prefill > 0) & valid
    n = tp.shape
    out: dict[str, Any] = {name: np.full(n, np.nan) for name in ("ttft_mean", "ttft_p90", "tpot_mean", "tpot_p90",
                                                                  "running")}  # fmt: skip
    out["stable"] = np.zeros(n, dtype=bool)
    agg = (prefill == 0) & valid
    ra = _take(np, r, agg)
    costs_agg = sl.step_of(ra, context, flops_per_token, attention_flops)
    both = tr.at_rate(rate / np.maximum(dp[agg], 1), o, prompt_s[agg],
                      lambda b: sl.decode_step(costs_agg, b, xp=np), max_batch[agg], chunks[agg],
                      xp=np, prompt_work_s=work_s[agg], pack=pack[agg], iterations=SEARCH_ITERATIONS,
                      chunked=r.chunked_prefill)  # fmt: skip
    _put(out, agg, both)
    # Split: prefill replicas run prompts only; decode replicas never stop for one; the prompt's KV
    # cache moves to its decode replica, each chip sending its share over the outermost link.
    rs = _take(np, r, split)
    costs_split = sl.step_of(rs, context, flops_per_token, attention_flops)
    pre = tr.at_rate(rate / np.maximum(prefill[split], 1), 1, prompt_s[split], lambda b: 0.0 * b, 1.0, chunks[split],
                     xp=np, prompt_work_s=work_s[split], pack=pack[split], iterations=1)  # fmt: skip
    dec = tr.at_rate(rate / np.maximum(decode[split], 1), o, 0.0, lambda b: sl.decode_step(costs_split, b,
                     xp=np), max_batch[split], chunks[split], xp=np, prompt_work_s=0.0,
                     iterations=SEARCH_ITERATIONS)  # fmt: skip
    handoff = sl.handoff_s(i, rs, tiers) / factor
    merged = attrs.evolve(dec, ttft_mean_s=pre.ttft_mean_s + handoff, ttft_p90_s=pre.ttft_p90_s + handoff,
                          stable=pre.stable & dec.stable)  # fmt: skip
    _put(out, split, merged)
    out.update(valid=valid, dp=dp, prefill=prefill, decode=decode, max_batch=max_batch, step=step, work_s=work_s)
    return out


def _take(np: Any, r: sl.Replica, mask: Any) -> sl.Replica:
    """The replicas of ``r`` (arrays) where ``mask`` holds; scalar fields stay as they are."""
    return attrs.evolve(
        r,
        **{
            f.name: getattr(r, f.name)[mask]
            for f in attrs.fields(sl.Replica)
            if isinstance(getattr(r, f.name), np.ndarray) and getattr(r, f.name).shape == mask.shape
        },
    )


def _put(out: dict[str, Any], mask: Any, load: tr.Load) -> None:
    out["ttft_mean"][mask] = load.ttft_mean_s
    out["ttft_p90"][mask] = load.ttft_p90_s
    out["tpot_mean"][mask] = load.tpot_mean_s
    out["tpot_p90"][mask] = load.tpot_p90_s
    out["running"][mask] = load.running_sequences
    out["stable"][mask] = load.stable


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


def plan_serve(
    shape: records.Workload,
    options: list[tuple[records.System, records.Chip, Quote | None]],
    interconnects: dict[str, records.Interconnect],
    rate: float,
    input_tokens: int,
    output_tokens: int,
    ttft_target_s: float,
    tpot_target_s: float,
    budget_usd_per_hour: float | None = None,
    precisions: tuple[str, ...] = ("bf16", "fp8", "int4", "fp4"),
    max_count: int = 64,
    k: sl.Constants = sl.SHIPPED,
    robust: bool = False,
    published_chips: frozenset[str] = frozenset(),
) -> ServePlan:
    """The cheapest deployment per system meeting the targets at ``rate``, the cheapest overall,
    and the throughput frontier. ``robust``: meet the targets at the slow end of each system's
    range (every achieved rate at the slow end of an estimate's range: ``ranges``; wider on chips
    without a serving calibration run of their own, ``published_chips`` being those with one)."""
    try:
        import numpy as np
    except ImportError:
        raise HwprofError("planning a deployment needs numpy, a dependency of hwprof: pip install numpy") from None

    for name, value in (("request rate", rate), ("TTFT target", ttft_target_s), ("TPOT target", tpot_target_s)):
        if not value > 0:
            raise HwprofError(f"{name} must be positive, got {value:g}")
    if budget_usd_per_hour is not None and not budget_usd_per_hour > 0:
        raise HwprofError(f"the budget must be positive, got {budget_usd_per_hour:g} USD per hour")
    probe = sl.ServeLayout()
    results: list[SystemResult] = []
    frontier: list[FrontierPoint] = []
    evaluated = 0
    for system, chip, quote in options:
        target = clusters.cluster_for(chip, max_count * system.chips, system, interconnects)
        sl.check(shape, attrs.evolve(target, chips=1), probe, input_tokens, output_tokens)  # context
        weights = sl.weight_precisions(chip, precisions)
        if not weights:
            results.append(SystemResult(system.id, None, f"{chip.id} runs none of {', '.join(precisions)}", 0))
            continue
        stack = sl.stack_of(chip, None, k)
        tiers = sl.tiers(target, k, stack)
        reach = comm.reach(tiers)
        grid = _grid(np, np.arange(1, max_count + 1), system.chips, weights, bool(shape.experts))
        factor = _slow_factor(target, published_chips) if robust else 1.0
        ev = evaluate(shape, chip, tiers, system.chips, reach, grid, weights, rate, input_tokens, output_tokens, k,
                      factor, stack)  # fmt: skip
        evaluated += grid["tp"].size
        cost = grid["count"] * (quote.usd_per_hour if quote else np.nan)
        ok = ev["valid"] & ev["stable"] & (ev["ttft_p90"] <= ttft_target_s) & (ev["tpot_p90"] <= tpot_target_s)
        if budget_usd_per_hour is not None:
            ok &= cost <= budget_usd_per_hour
        if quote is None and budget_usd_per_hour is not None:
            ok &= False
        if not ok.any():
            reason = _cheapest_reason(np, ev, cost, ttft_target_s, tpot_target_s, budget_usd_per_hour, max_count)
            results.append(SystemResult(system.id, None, reason, grid["tp"].size))
        else:
            # Cheapest (fewest systems), then the widest weights (narrow ones can cost quality), then
            # the widest KV cache, then the lowest TPOT p90.
            index = np.lexsort((ev["tpot_p90"], grid["kv"], grid["weights"], grid["count"]))
            i = int(index[ok[index]][0])
            one = {name: values[i : i + 1] for name, values in grid.items()}
            expected = evaluate(shape, chip, tiers, system.chips, reach, one, weights, rate, input_tokens,
                                output_tokens, k, stack=stack) if robust else {n: v[i : i + 1] for n, v in ev.items()
                                                                  if not callable(v)}  # fmt: skip
            best = _deployment(one, expected, 0, system, weights, quote, rate, output_tokens)
            lay = sl.ServeLayout(tp=int(grid["tp"][i]), pp=int(grid["pp"][i]), weights=best.weights)
            slow = evaluate(shape, chip, tiers, system.chips, reach, one, weights, rate, input_tokens, output_tokens, k,
                            _slow_factor(target, published_chips), stack)  # fmt: skip
            held = bool(slow["stable"][0])
            best = attrs.evolve(best, thin_evidence=tuple(sl.estimated_figures(target, lay)),
                                slow_ttft_p90_s=float(slow["ttft_p90"][0]) if held else None,
                                slow_tpot_p90_s=float(slow["tpot_p90"][0]) if held else None)  # fmt: skip
            results.append(SystemResult(system.id, best, "", grid["tp"].size))
        frontier.extend(
            _frontier(np, shape, chip, tiers, system, weights, quote, input_tokens, output_tokens, k, stack)
        )
    priced = [(r.best.usd_per_hour, r.system) for r in results if r.best and r.best.usd_per_hour is not None]
    cheapest = min(priced)[1] if priced else None
    return ServePlan(
        model=shape.id, rate_per_s=rate, input_tokens=input_tokens, output_tokens=output_tokens,
        ttft_target_s=ttft_target_s, tpot_target_s=tpot_target_s, budget_usd_per_hour=budget_usd_per_hour,
        systems=tuple(results), cheapest=cheapest, frontier=tuple(_pareto(frontier)), evaluated=evaluated,
        assumptions=(
            "targets met at the 90th percentile (TTFT p90, TPOT p90) under Poisson arrivals at the rate",
            f"searched: system count 1-{max_count}, tp {TP}, pp {PP}, weights {'/'.join(precisions)} (where the "
            f"chip runs them), KV cache {'/'.join(KV)}, chunked prefill {CHUNKS} tokens, prefill-only replicas "
            f"{PREFILL_SHARE} of the replicas" + (", experts over the tensor ranks (ep = tp) with and without "
                                                  "attention data parallel" if shape.experts else ""),
            "cost: whole systems at the quoted price; per million output tokens at exactly the rate; among "
            "equally cheap picks the widest weights and KV cache, then the lowest TPOT p90",
        ),
    )  # fmt: skip


# -- range hook (hwprof.perf.ranges) ---------------------------------------------------------------
def _slow_factor(target: clusters.Cluster, published_chips: frozenset[str]) -> float:
    """Every achieved rate times this at the slow end of an estimate's range, as ``serving.estimate_serve``
    forms it."""
    from hwprof.perf import ranges

    return ranges.band("serve", ranges.evidence("serve", target.chip, published_chips)).slow


def _deployment(grid: dict[str, Any], ev: dict[str, Any], i: int, system: records.System, weights: list[str],
                quote: Quote | None, rate: float, output_tokens: int) -> Deployment:  # fmt: skip
    count, tp, pp, dp = int(grid["count"][i]), int(grid["tp"][i]), int(grid["pp"][i]), int(ev["dp"][i])
    chips = count * system.chips
    per_hour = quote.usd_per_hour * count if quote else None
    tokens = rate * output_tokens
    return Deployment(
        system=system.id, count=count, chips=chips,
        layout=f"tp={tp},pp={pp},dp={dp}" + EXPERT_MODES[int(grid["moe"][i])].format(tp=tp)
        + (f",prefill={int(ev['prefill'][i])}" if ev["prefill"][i] else ""),
        prefill_replicas=int(ev["prefill"][i]), decode_replicas=int(ev["decode"][i]), weights=weights[grid["weights"][i]],
        kv_cache=KV[grid["kv"][i]], chunk_tokens=int(grid["chunk"][i]), ttft_p90_s=float(ev["ttft_p90"][i]),
        tpot_p90_s=float(ev["tpot_p90"][i]), ttft_mean_s=float(ev["ttft_mean"][i]),
        tpot_mean_s=float(ev["tpot_mean"][i]), running_sequences_per_replica=float(ev["running"][i]),
        tokens_per_s_per_chip=tokens / chips, usd_per_hour=per_hour,
        usd_per_million_output_tokens=per_hour / (tokens * 3600) * 1e6 if per_hour else None,
        price=quote.as_json() if quote else None,
    )  # fmt: skip


def _frontier(np: Any, shape: records.Workload, chip: records.Chip, tiers: tuple[Any, ...], system: records.System,
              weights: list[str], quote: Quote | None, input_tokens: int, output_tokens: int,
              k: sl.Constants, stack: sl.StackServing = sl.NO_STACK) -> list[FrontierPoint]:  # fmt: skip
    """One system's layouts at 1 to 1,024 sequences per replica, prompts interleaved: TPOT =
    step(B) + B x prompt work / output tokens (the closed loop at saturation, TTFT aside)."""
    grid = _grid(np, np.array([1]), system.chips, weights, bool(shape.experts))
    keep = (grid["chunk"] == CHUNKS[-1]) & (grid["share"] == 0)
    grid = {name: values[keep] for name, values in grid.items()}
    ev = evaluate(shape, chip, tiers, system.chips, system.chips, grid, weights, 1e-9, input_tokens,
                  output_tokens, k, stack=stack)  # fmt: skip
    per_chip_hour = quote.usd_per_hour / system.chips if quote else None
    points = []
    for batch in BATCHES:
        fits = ev["valid"] & (ev["max_batch"] >= batch)
        tpot = ev["step"](np.full(grid["tp"].shape, float(batch))) + batch * ev["work_s"] / output_tokens
        per_chip = batch / (tpot * grid["tp"] * grid["pp"])
        for i in np.flatnonzero(fits):
            points.append(FrontierPoint(
                system=system.id, layout=f"tp={int(grid['tp'][i])},pp={int(grid['pp'][i])}"
                + EXPERT_MODES[int(grid["moe"][i])].format(tp=int(grid["tp"][i])),
                weights=weights[grid["weights"][i]], kv_cache=KV[grid["kv"][i]], batch_per_replica=batch,
                tokens_per_s_per_chip=float(per_chip[i]), tokens_per_s_per_user=float(1 / tpot[i]),
                usd_per_million_output_tokens=per_chip_hour / (float(per_chip[i]) * 3600) * 1e6
                if per_chip_hour else None,
            ))  # fmt: skip
    return points


def _pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """Points no other beats on both tokens/s per chip and tokens/s per user, fastest per user first."""
    ordered = sorted(points, key=lambda p: (-p.tokens_per_s_per_user, -p.tokens_per_s_per_chip))
    out: list[FrontierPoint] = []
    for p in ordered:
        if not out or p.tokens_per_s_per_chip > out[-1].tokens_per_s_per_chip:
            out.append(p)
    return out
