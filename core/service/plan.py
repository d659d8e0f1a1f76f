"""Plans: the candidates (each system with the quotes its cost model gives under each purchase
option) built once here, for ``hwprof plan`` and ``hwprof.plan_train`` / ``hwprof.plan_serve`` alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..data import records
from ..errors import HwprofError
from . import stacks
from .costs import cost_models, prices
from .session import current_registry
from .stacks import published_chips


def _priced(systems: Sequence[str] | None, cost_model: str | Sequence[str] | None, purchase: str,
            region: str | None) -> list[tuple[Any, Any]]:  # fmt: skip
    """(system, its Priced quotes) for the systems asked for, else for every system some cost model
    prices (every system when no cost model applies)."""
    r = current_registry()
    models, _ = cost_models(cost_model)
    out = []
    for system_id in systems or sorted(r.systems):
        priced = prices(r.system(system_id), cost_model, purchase, region)
        if systems or not models or priced.quotes:  # a system no list prices is not a plan option
            out.append((r.system(system_id), priced))
    return out


def train_candidates(systems: Sequence[str] | None, cost_model: str | Sequence[str] | None, purchase: str,
                     region: str | None) -> list[tuple[Any, Any, list[Any]]]:  # fmt: skip
    """(system, chip, quotes) per system: every cost model's quote under each purchase option it prices,
    so the plan searches across all of them ([None]: unpriced)."""
    r = current_registry()
    options = [p.strip() for p in purchase.split(",") if p.strip()]
    out = []
    for system, priced in _priced(systems, cost_model, purchase, region):
        quotes = list(priced.quotes)
        for option in options:  # each model's other preferred options too: the plan compares them
            for q in prices(system, cost_model, option, region).quotes:
                if all((q.cost_model, q.price.purchase) != (k.cost_model, k.price.purchase) for k in quotes):
                    quotes.append(q)
        out.append((system, r.chip(system.chip), quotes or [None]))
    return out


def serve_candidates(systems: Sequence[str] | None, cost_model: str | Sequence[str] | None, purchase: str,
                     region: str | None) -> list[tuple[Any, Any, Any]]:  # fmt: skip
    """(system, chip, quote) per system: the best quote of the cost models that price it."""
    r = current_registry()
    return [
        (system, r.chip(system.chip), priced.best) for system, priced in _priced(systems, cost_model, purchase, region)
    ]


def plan_train(work: records.Workload, candidates: list[tuple[Any, Any, list[Any]]], tokens: float, *,
               precision: str = "bf16", seq_len: int | None = None, deadline_s: float | None = None,
               budget: float | None = None, top: int = 10, global_batch_seqs: int | None = None,
               robust: bool = False, headroom_gib: float | None = None, progress: Any = None,
               stack: str | None = None) -> Any:  # fmt: skip
    """Systems x counts x layouts x quotes: the frontier, the cheapest meeting the deadline, the fastest
    within the budget (``perf.plan``); ``robust`` judges the goals at the slow end of each range,
    ``headroom_gib`` (default ``perf.plan.HEADROOM_GIB``) is memory every chip keeps free; each option
    on its chip's default training stack, or every one on ``stack`` (``service.stacks``)."""
    from ..perf import plan, ranges
    from ..perf.train import training

    r = current_registry()
    request = plan.TrainPlanRequest(
        work, tokens, precision, seq_len=seq_len, batch_seqs=global_batch_seqs, deadline_s=deadline_s,
        budget_usd=budget, top=top, robust=robust, stack=stacks.checked(stack, "train"),
        headroom_gib=plan.HEADROOM_GIB if headroom_gib is None else headroom_gib,
    )  # fmt: skip
    evidence = training.Evidence(published_chips("train"), ranges.own_stacks(r.validation_cases.values(), "train"))
    return plan.plan_train(request, candidates, r.interconnects, evidence, progress)


def plan_serve(work: records.Workload, candidates: list[tuple[Any, Any, Any]], rate: float, input_tokens: int,
               output_tokens: int, ttft_slo: float, tpot_slo: float, *, budget: float | None = None,
               precisions: Sequence[str] = ("bf16", "fp8", "int4", "fp4"), max_count: int = 64,
               robust: bool = False, serve_options: Any = None,
               deployments: Sequence[str] = ("aggregated", "disaggregated"), stack: str | None = None
               ) -> Any:  # fmt: skip
    """The cheapest deployment per system meeting the targets at the rate, and the frontier (``perf.serve.search``):
    aggregated and disaggregated ``deployments``, with speculative decoding and prefix caching
    (``serve_options``, ``estimate.serve_options``); each system on its chip's default serving stack, or
    every one on ``stack`` (``service.stacks``: its fixed costs, else the default's, and its range)."""
    from ..perf.serve import options, search

    for kind in deployments:
        if kind not in (search.AGGREGATED, search.DISAGGREGATED):
            raise HwprofError(f"deployments are {search.AGGREGATED} or {search.DISAGGREGATED} (or both, comma-separated)",
                              subject="deployments", value=kind)  # fmt: skip
    if not deployments:
        raise HwprofError(f"name {search.AGGREGATED}, {search.DISAGGREGATED} or both", subject="deployments", value="")
    for name in precisions:
        if name not in records.BYTES_PER_ELEMENT:
            raise HwprofError(f"not a precision; known: {', '.join(records.BYTES_PER_ELEMENT)}", subject="precisions",
                              value=name)  # fmt: skip
    stack = stacks.checked(stack, "serve")
    on_stack = {chip.id: (stacks.serving(chip, stack), stacks.evidence(chip, "serve", stack))
                for _, chip, _ in candidates} if stack is not None else None  # fmt: skip
    request = search.ServeRequest(work, rate, input_tokens, output_tokens, ttft_slo, tpot_slo, budget, tuple(precisions),
                                  max_count, robust, serve_options or options.NONE, tuple(dict.fromkeys(deployments)))  # fmt: skip
    return search.plan_serve(request, candidates, current_registry().interconnects, stacks.serve_constants(),
                             published_chips=published_chips("serve"), stacks=on_stack)  # fmt: skip
