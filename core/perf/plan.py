"""Plans: for each system, the fewest systems that fit a model and meet a deadline, then what
that costs, so the cheapest and the fastest options that meet a deadline or a budget stand out.
"""

from __future__ import annotations

import math
from typing import Any

from hwprof.core.cost.pricing import Quote
from hwprof.core.data import records
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, training
from hwprof.core.perf.shape import Shape

MAX_SYSTEMS = 1 << 16


def plan_train(
    shape: Shape,
    options: list[tuple[records.System, records.Chip, Quote | None]],
    interconnects: dict[str, records.Interconnect],
    tokens: float,
    precision: str,
    seq_len: int | None = None,
    deadline_s: float | None = None,
    budget_usd: float | None = None,
) -> list[dict[str, Any]]:
    """One row per system: the count chosen, expected time and cost, and whether it meets the goals."""
    if deadline_s is not None and deadline_s <= 0:
        raise HwprofError("must be positive", subject="deadline_days", value=deadline_s)
    if budget_usd is not None and budget_usd <= 0:
        raise HwprofError("must be positive", subject="budget", value=budget_usd)
    rows: list[dict[str, Any]] = []
    for system, chip, quote in options:
        if precision not in chip.peak_dense_tflops:
            rows.append({"system": system.id, "skipped": f"{chip.id} has no {precision} peak"})
            continue

        def run(
            count: int, system: records.System = system, chip: records.Chip = chip, quote: Quote | None = quote
        ) -> Any:
            target = cluster.cluster_for(chip, count * system.chips, system, interconnects)
            return training.estimate_train(shape, target, tokens, precision, seq_len, quote=quote)

        probe = cluster.cluster_for(chip, system.chips, system, interconnects)
        need = training.train_memory(shape, probe, seq_len or shape.seq_len)["min_chips"]
        if need is None:
            rows.append({"system": system.id, "skipped": "one sequence's activations do not fit on a chip"})
            continue
        count = max(1, math.ceil(need / system.chips))
        if deadline_s is not None:
            count = _fewest_meeting(run, count, deadline_s)
        if count is None:
            rows.append({"system": system.id, "skipped": f"cannot meet the deadline with up to {MAX_SYSTEMS} systems"})
            continue
        result = run(count)
        cost = (result.get("cost_usd") or {}).get("expected")
        rows.append({
            "system": system.id, "count": count, "chips": count * system.chips,
            "time_s": result["time_s"], "cost_usd": result.get("cost_usd"),
            "meets_deadline": deadline_s is None or result["time_s"]["expected"] <= deadline_s,
            "meets_budget": None if budget_usd is None or cost is None else cost <= budget_usd,
            "price": (result.get("cost") or {}).get("price"),
            "mfu": result["efficiency"]["expected"],
        })  # fmt: skip
    # With a budget, an option without a price cannot be said to meet it.
    feasible = [r for r in rows if "count" in r and r["meets_deadline"]
                and (r["meets_budget"] if budget_usd is not None else True)]  # fmt: skip
    priced = [r for r in feasible if r["cost_usd"]]
    if priced:
        min(priced, key=lambda r: r["cost_usd"]["expected"])["cheapest"] = True
    if feasible:
        min(feasible, key=lambda r: r["time_s"]["expected"])["fastest"] = True
    return rows


def _fewest_meeting(run: Any, start: int, deadline_s: float) -> int | None:
    """Smallest count >= start whose expected time meets the deadline (time falls as count grows)."""
    low, high = start, start
    while run(high)["time_s"]["expected"] > deadline_s:
        low, high = high + 1, high * 2
        if high > MAX_SYSTEMS:
            return None
    while low < high:
        mid = (low + high) // 2
        if run(mid)["time_s"]["expected"] <= deadline_s:
            high = mid
        else:
            low = mid + 1
    return high
