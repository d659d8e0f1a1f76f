"""Plans: the candidates (each system with the quotes its cost model gives under each purchase
option) built once here, for ``hwprof plan`` and ``hwprof.plan_train`` / ``hwprof.plan_serve`` alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwprof.data import records
from hwprof.errors import HwprofError
from hwprof.service.costs import chosen_cost_model, first_quote, purchase_options
from hwprof.service.estimate import published_chips
from hwprof.service.session import current_registry


def system_ids(systems: Sequence[str] | None, cost_model: Any) -> list[str]:
    """The systems asked for, else every system the cost model prices (every system without one)."""
    r = current_registry()
    if systems:
        return list(systems)
    return sorted(cost_model.priced_systems() & set(r.systems)) if cost_model else sorted(r.systems)


def train_candidates(systems: Sequence[str] | None, cost_model: str | None, purchase: str,
                     region: str | None) -> list[tuple[Any, Any, list[Any]]]:  # fmt: skip
    """(system, chip, quotes) per system: one quote per purchase option that has a price ([None]: unpriced)."""
    r = current_registry()
    chosen = chosen_cost_model(cost_model)
    options = purchase_options(purchase, region, [chosen] if chosen else [])
    out = []
    for system_id in system_ids(systems, chosen):
        system = r.system(system_id)
        quotes = [q for q in (first_quote(chosen, system_id, [o], region)[0] for o in options) if q] if chosen else []
        out.append((system, r.chip(system.chip), quotes or [None]))
    return out


def serve_candidates(systems: Sequence[str] | None, cost_model: str | None, purchase: str,
                     region: str | None) -> list[tuple[Any, Any, Any]]:  # fmt: skip
    """(system, chip, quote) per system: the first purchase option, in the order given, with a price."""
    r = current_registry()
    chosen = chosen_cost_model(cost_model)
    options = purchase_options(purchase, region, [chosen] if chosen else [])
    out = []
    for system_id in system_ids(systems, chosen):
        system = r.system(system_id)
        quote = first_quote(chosen, system_id, options, region)[0] if chosen else None
        out.append((system, r.chip(system.chip), quote))
    return out


def plan_train(work: records.Workload, candidates: list[tuple[Any, Any, list[Any]]], tokens: float, *,
               precision: str = "bf16", seq_len: int | None = None, deadline_s: float | None = None,
               budget: float | None = None, top: int = 10, global_batch_seqs: int | None = None,
               robust: bool = False, headroom_gib: float | None = None, progress: Any = None) -> Any:  # fmt: skip
    """Systems x counts x layouts x quotes: the frontier, the cheapest meeting the deadline, the fastest
    within the budget (``perf.plan``); ``robust`` judges the goals at the slow end of each range,
    ``headroom_gib`` (default ``perf.plan.HEADROOM_GIB``) is memory every chip keeps free."""
    from hwprof.perf import plan

    return plan.plan_train(work, candidates, current_registry().interconnects, tokens, precision, seq_len, deadline_s,
                           budget, top, global_batch_seqs, published_chips("train"), robust=robust,
                           headroom_gib=plan.HEADROOM_GIB if headroom_gib is None else headroom_gib,
                           progress=progress)  # fmt: skip


def plan_serve(work: records.Workload, candidates: list[tuple[Any, Any, Any]], rate: float, input_tokens: int,
               output_tokens: int, ttft_slo: float, tpot_slo: float, *, budget: float | None = None,
               precisions: Sequence[str] = ("bf16", "fp8", "int4", "fp4"), max_count: int = 64,
               robust: bool = False, serve_options: Any = None,
               deployments: Sequence[str] = ("aggregated", "disaggregated")
               ) -> Any:  # fmt: skip
    """The cheapest deployment per system meeting the targets at the rate, and the frontier (``perf.serve.search``):
    aggregated and disaggregated ``deployments``, with speculative decoding and prefix caching
    (``serve_options``, ``estimate.serve_options``)."""
    from hwprof.perf.serve import options, search

    for kind in deployments:
        if kind not in (search.AGGREGATED, search.DISAGGREGATED):
            raise HwprofError(f"deployments are {search.AGGREGATED} or {search.DISAGGREGATED} (or both, comma-separated)",
                              subject="deployments", value=kind)  # fmt: skip
    if not deployments:
        raise HwprofError(f"name {search.AGGREGATED}, {search.DISAGGREGATED} or both", subject="deployments", value="")
    return search.plan_serve(work, candidates, current_registry().interconnects, rate, input_tokens, output_tokens,
                             ttft_slo, tpot_slo, budget, tuple(precisions), max_count, robust=robust,
                             published_chips=published_chips("serve"), serve_options=serve_options or options.NONE,
                             kinds=tuple(dict.fromkeys(deployments)))  # fmt: skip
