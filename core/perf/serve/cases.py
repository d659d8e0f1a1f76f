"""Serving estimates on published results: each case run with its published layout and load, and
the serving constants refitted from the calibration cases alone (``python -m
hwprof.perf.serve.cases`` prints the fit next to the shipped values).

Which case fits which constant is the case's ``calibrates`` list; the fit runs in a fixed order,
each step using the constants fitted before it:

1. ``memory_bandwidth_fraction`` and ``collective_latency_us`` together, from batch-1 decode
   (time per output token at one user is weights and KV read plus the all-reduce latency), solved
   alternately: the bandwidth from the cases on the fewest chips, the latency from the others.
2. ``prefill_compute_fraction`` from one prompt alone (time to first token at one user): the
   geometric mean of each case's solution.
3. ``batched_prefill_compute_fraction`` from max-throughput runs (prompts under load).
4. Each chip x serving stack's floors (``<chip>.<stack>.step_floor_us`` from its batch-1 decode
   cases, ``.request_floor_us`` from its batch-1 short-prompt TTFT cases), in microseconds per layer.
5. Each chip x serving stack's prefill efficiency (``<chip>.<stack>.prefill_efficiency``, a share of
   the pooled prompt compute fraction) from its own long-prompt TTFT cases; a chip x stack without
   one borrows it as it borrows floors (``layout.prefill_source``).
The steps depend on each other (a floor adds to the decode the bandwidth is fitted on, a request
floor and a prefill efficiency share a first token), so the fit runs ``ROUNDS`` rounds of all of
them. Validation cases never enter the fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from ...data import records
from ...data.registry import Registry
from .. import cluster, ranges
from . import layout as sl
from . import serving

FITTED = ("memory_bandwidth_fraction", "collective_latency_us", "prefill_compute_fraction",
          "batched_prefill_compute_fraction")  # fmt: skip


def layout_of(case: records.ValidationCase) -> sl.ServeLayout:
    """The case's published layout at chip level: degrees that count ranks (some chips run 4
    logical ranks each) are divided back to chips. Without one, tensor parallel over all its chips."""
    text = getattr(case, "layout", "") or ""
    per_chip = getattr(case, "ranks_per_chip", 1) or 1
    values = dict(tp=case.chips, pp=1, dp=1)
    for part in (p for p in text.split(",") if "=" in p):
        key, value = (x.strip() for x in part.split("=", 1))
        if key in ("tp", "pp", "dp", "ep", "adp"):
            values[key] = int(value)
    if per_chip > 1:
        values["tp"] = max(1, values["tp"] // per_chip)
    return sl.ServeLayout(tp=values["tp"], pp=values["pp"], dp=values["dp"], ep=values.get("ep", 1),
                          adp=values.get("adp", 0), weights=case.precision, kv_cache=case.kv_precision)  # fmt: skip


def traffic_of(case: records.ValidationCase, lay: sl.ServeLayout) -> serving.Traffic:
    """The case's load: its concurrency (all users) or rate, with its batch as the engine's limit
    per replica; else offline (``largest_batch``: as many in flight as the KV cache holds, at most
    its batch where the run's engine capped it); else its batch as the load (per replica, as engines
    are configured)."""
    concurrency = getattr(case, "concurrency", None)
    rate = getattr(case, "request_rate_per_s", None)
    limit = case.batch if (concurrency is not None or rate is not None or case.largest_batch) else None
    if concurrency is None and rate is None and case.batch and not case.largest_batch:
        concurrency = case.batch * lay.dp
    return serving.Traffic(case.input_tokens or 1, case.output_tokens or 1, concurrency=concurrency,
                           rate_per_s=rate, max_batch=limit, static=case.static_batch,
                           arrivals=getattr(case, "arrivals", "poisson"))  # fmt: skip


def estimate(case: records.ValidationCase, reg: Registry, k: sl.Constants = sl.SHIPPED,
             band: ranges.Band | None = None, first_band: ranges.Band | None = None) -> serving.ServeEstimate:  # fmt: skip
    work = reg.workload(case.model)
    system = reg.system(case.system) if case.system else None
    target = cluster.cluster_for(reg.chip(case.chip), case.chips, system, reg.interconnects)
    lay = layout_of(case)
    own = ranges.own_chips(reg.validation_cases.values(), "serve")
    k = attrs.evolve(k, evidence=evidence_of(reg))  # borrowing sees the calibration runs of ``reg`` only
    stack = sl.stack_of(target.chip, case.stack or None, k)
    if case.prompt_buckets:
        stack = attrs.evolve(stack, prompt_buckets=tuple(sorted(case.prompt_buckets)))
    if case.batch_buckets:
        stack = attrs.evolve(stack, batch_buckets=tuple(sorted(case.batch_buckets)))
    if case.kv_read_per_query_head:
        stack = attrs.evolve(stack, kv_read_per_query_head=True)
    return serving.estimate_serve(work, target, lay, traffic_of(case, lay), constants=k, band=band, published_chips=own,
                                  stack=stack, first_band=first_band)  # fmt: skip


_EVIDENCE: dict[int, tuple[tuple[object, object], sl.StackEvidence]] = {}


def evidence_of(reg: Registry) -> sl.StackEvidence:
    """Every chip and the (chip, stack) pairs of ``reg``'s serving calibration runs: what a stack's
    floors borrow through (``layout.floor_source``). Cached per set of cases (a fit asks thousands of times)."""
    key = (reg.validation_cases, reg.chips)
    hit = _EVIDENCE.get(id(key[0]) ^ id(key[1]) << 1)
    if hit is not None and hit[0][0] is key[0] and hit[0][1] is key[1]:
        return hit[1]
    found = sl.StackEvidence(dict(reg.chips), ranges.own_stacks(reg.validation_cases.values(), "serve"))
    if len(_EVIDENCE) > 64:
        _EVIDENCE.clear()
    _EVIDENCE[id(key[0]) ^ id(key[1]) << 1] = (key, found)
    return found


def predict(case: records.ValidationCase, reg: Registry, k: sl.Constants = sl.SHIPPED,
            band: ranges.Band | None = None) -> dict[str, float]:  # fmt: skip
    """(low, expected, high) of the metric the case published (the range from ``band`` if given: the
    range of the case's own regime, ``ranges.kind_of``; the one metric read, both regimes take it)."""
    value = getattr(estimate(case, reg, k, band, band), case.metric)
    return {"low": value.low, "expected": value.expected, "high": value.high}


def _solve(f: Callable[[float], float], target: float, low: float, high: float) -> float:
    """x in [low, high] with f(x) = target, f monotone (bisection on a log scale)."""
    f_low = f(low) - target
    for _ in range(BISECTIONS):
        mid = math.sqrt(low * high)
        if (f(mid) - target > 0) == (f_low > 0):
            low, f_low = mid, f(mid) - target
        else:
            high = mid
    return math.sqrt(low * high)


def _fit(case: records.ValidationCase, reg: Registry, k: sl.Constants, field: str, low: float, high: float) -> float:
    """The value of ``field`` (all else as in ``k``) at which the case's estimate is its published value."""

    def metric(x: float) -> float:  # the expected value alone: a point band spares the range's ends
        return predict(case, reg, attrs.evolve(k, **{field: x}), ranges.POINT)["expected"]  # type: ignore[arg-type]

    return _solve(metric, case.published, low, high)


FLOORS = (
    "collective_latency_us",
    "step_floor_us",
    "step_host_us",
    "request_floor_us",
    "request_host_us",
)  # a chip x stack's: "<chip>.<stack>.<floor>"
BISECTIONS = 40  # halvings of a log-scale bracket: 1e-6 of a nine-decade bracket, far below the cases' spread
ROUNDS = 4  # the fit's rounds: floors, bandwidth and latency depend on each other; converged to < 0.1%


def floor_names(reg: Registry) -> list[str]:
    """Every stack floor the registry's chips describe, as ``<chip>.<stack>.<floor>``."""
    return [
        f"{chip.id}.{stack}.{floor}"
        for chip in sorted(reg.chips.values(), key=lambda c: c.id)
        for stack in sorted(chip.serving_stacks)
        for floor in FLOORS
    ]  # in FLOORS order: latency, step, request


def calibrate(reg: Registry) -> sl.Constants:
    """Refit the serving constants from the calibration cases (see the module docstring). Every stack
    floor is refit too (``Constants.floors``): from its own cases, or 0 where none is left; and every
    stack prefill efficiency (``Constants.prefill``): from its own cases, none where none is left."""
    cases = [c for c in reg.validation_cases.values() if c.kind == "serve" and c.role == "calibration"]

    def using(name: str) -> list[records.ValidationCase]:
        return sorted((c for c in cases if name in c.calibrates), key=lambda c: (c.chips, c.id))

    floors = dict.fromkeys(floor_names(reg), 0.0)
    prefill: dict[str, float] = {}  # none fitted yet: every chip x stack at 1 until its round
    k = attrs.evolve(sl.SHIPPED, floors=tuple(floors.items()), prefill=())
    decode = using("memory_bandwidth_fraction")
    latency = [c for c in using("collective_latency_us") if c.chips > 2] or decode
    bandwidth = [c for c in decode if c not in latency] or decode
    for _ in range(ROUNDS):
        if bandwidth:
            fraction = _geo([_fit(c, reg, k, "memory_bandwidth_fraction", 0.2, 1.0) for c in bandwidth])
            k = attrs.evolve(k, memory_bandwidth_fraction=fraction)
        if latency:
            k = attrs.evolve(k, collective_latency_us=_geo([_fit(c, reg, k, "collective_latency_us", 0.5, 200.0)
                                                             for c in latency]))  # fmt: skip
        for name in (n for n in floors if using(n)):  # step floors from batch-1 decode, request floors from TTFT
            floors[name] = _mean([_fit_floor(c, reg, k, name) for c in using(name)])
            k = attrs.evolve(k, floors=tuple(floors.items()))
        for name in ("prefill_compute_fraction", "batched_prefill_compute_fraction"):
            if using(name):
                k = attrs.evolve(k, **{name: _geo([_fit(c, reg, k, name, 0.05, 1.0) for c in using(name)])})  # type: ignore[arg-type]
        for name, own in prefill_cases(reg, cases).items():
            prefill[name] = _geo([_fit(c, reg, k, "prefill_efficiency", 0.05, 4.0) for c in own])
            k = attrs.evolve(k, prefill=tuple(prefill.items()))
    return k


def prefill_cases(reg: Registry, cases: list[records.ValidationCase]) -> dict[str, list[records.ValidationCase]]:
    """``<chip>.<stack>.prefill_efficiency`` -> the calibration cases that fit it. A case naming
    ``<chip>.prefill_efficiency`` (written when it was a chip figure) fits its chip's default stack's."""
    found: dict[str, list[records.ValidationCase]] = {}
    for case in sorted(cases, key=lambda c: (c.chips, c.id)):
        for name in (n for n in case.calibrates if n.endswith(".prefill_efficiency")):
            chip = reg.chip(name.partition(".")[0])
            stack = name.split(".")[1] if name.count(".") == 2 else sl.default_stack(chip)
            found.setdefault(sl.prefill_name(chip, stack), []).append(case)
    return dict(sorted(found.items()))


def _fit_floor(case: records.ValidationCase, reg: Registry, k: sl.Constants, name: str) -> float:
    """The floor ``name`` (us per layer; a latency in us) at which the case's estimate is its published
    value; 0 where the estimate without it is already as slow (a floor adds time, it takes none away)."""

    def metric(x: float) -> float:
        return predict(case, reg, attrs.evolve(k, floors=tuple({**dict(k.floors), name: x}.items())))["expected"]

    if metric(1e-3) >= case.published:
        return 0.0
    return _solve(metric, case.published, 1e-3, 1e6)


def chip_figures(reg: Registry, k: sl.Constants) -> dict[str, float]:
    """Each chip x stack's own serving figures, as ``calibrate`` fitted them (``k``) on its own cases:
    ``<chip>.<stack>.prefill_efficiency`` and the stack floors ``<chip>.<stack>.<floor>`` that have cases."""
    cases = [c for c in reg.validation_cases.values() if c.kind == "serve" and c.role == "calibration"]
    named = {n for c in cases for n in c.calibrates} | set(prefill_cases(reg, cases))
    return {name: value for name, value in (*(k.prefill or ()), *k.floors) if name in named}


def shipped_figure(reg: Registry, name: str) -> records.Figure | None:
    """The profile figure a chip figure's name points at: ``<chip>.<figure>`` or ``<chip>.<stack>.<floor>``
    (a prefill efficiency: the stack's, or the chip's figure read as its default stack's)."""
    chip, _, rest = name.partition(".")
    stack, _, floor = rest.rpartition(".")
    if rest == "prefill_efficiency" or floor == "prefill_efficiency":
        found = reg.chip(chip)
        return sl.stack_prefill(found, stack if stack else sl.default_stack(found))
    if stack:
        entry = reg.chip(chip).serving_stacks.get(stack)
        return getattr(entry, floor) if entry else None
    return getattr(reg.chip(chip), rest)  # type: ignore[no-any-return]


def _mean(values: list[float]) -> float:
    """Geometric mean of positive values (0 when one is 0: a floor its own case does not need)."""
    return 0.0 if min(values) <= 0 else _geo(values)


def _geo(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main() -> None:  # pragma: no cover - a script for maintainers
    from ...data import registry

    reg = registry.get(registry.Settings.from_env())
    fitted = calibrate(reg)
    for name in FITTED:
        print(f"{name:36s} fitted {getattr(fitted, name):.4g}   shipped {getattr(sl.SHIPPED, name):.4g}")
    for name, value in chip_figures(reg, fitted).items():
        shipped = shipped_figure(reg, name)
        print(f"{name:48s} fitted {value:.4g}   shipped {shipped.value if shipped else None}")


if __name__ == "__main__":  # pragma: no cover
    main()
