"""hwprof from Python (notebooks, scripts): the registry and the estimates, returning the typed results
the command line renders.

    import hwprof

    reg = hwprof.registry()
    chip = next(iter(reg.chips.values()))
    chip.peak_dense_tflops["fp8"].value                            # a figure, with .source and .status
    run = hwprof.estimate_train("llama3.1-70b", tokens=15e12, system=system_id, count=64)
    hwprof.to_json(run)                                            # what `hwprof estimate train --json` prints

(docs/api.md has the same with the built-in systems named.)

Each function takes the command's options as keyword arguments (``--input-tokens`` is
``input_tokens``) and the model as a preset id, a path to a Hugging Face ``config.json``, or a
``Workload`` (``hwprof.workload(...)``). Bad input raises ``hwprof.HwprofError`` with the message the
command would print, naming inputs by their keyword (```chips` 12 ...``), not their flag.
This module is the installed package's ``__init__``: every ``hwprof`` command imports it, so it
imports nothing heavy until a function is called (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwprof.data.hookspecs import hookimpl
from hwprof.errors import HwprofError
from hwprof.version import __version__

if TYPE_CHECKING:
    from hwprof.data.records import Workload
    from hwprof.data.registry import Registry


__all__ = [
    "HwprofError", "__version__", "hookimpl", "compare_serve", "compare_train", "estimate_peak", "estimate_serve",
    "estimate_train", "plan_serve", "plan_train", "registry", "to_json", "workload",
]  # fmt: skip


def registry(*, profiles: Sequence[str | Path] = (), strict: bool = False) -> Registry:
    """The chips, interconnects, systems, cost models, workloads and published results hwprof knows:
    the built-in plugins, installed plugins and profile folders (as ``hwprof --profiles DIR``).

    Warnings about broken plugins or profiles are in ``.warnings``; ``strict=True`` raises instead.
    """
    from hwprof.cli.common import Session, begin

    session = Session(strict=strict, profile_dirs=[Path(p) for p in profiles])
    begin(session)  # the estimate functions below read the same registry
    return session.registry()


def workload(model: str | Path | Workload, seq_len: int | None = None) -> Workload:
    """A model's shape: a preset id (``hwprof models list``), a path to a ``config.json``, or a Workload."""
    from hwprof.cli.groups import ModelOptions
    from hwprof.data.records import Workload

    if isinstance(model, Workload):
        return model
    if isinstance(model, Path) or str(model).endswith(".json"):
        return ModelOptions(model_config=Path(model)).workload(seq_len)
    return ModelOptions(model=str(model)).workload(seq_len)


def estimate_peak(*, system: str | None = None, count: int = 1, chip: str | None = None,
                  chips: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Aggregate peaks (dense, sparse per precision), memory, bandwidth and power: ``hwprof estimate peak``."""
    from hwprof.cli.common import cluster_from, current_registry
    from hwprof.perf.aggregate import aggregate_chips, aggregate_system

    target = cluster_from(system, count, chip, chips)
    if target.system is not None:
        return aggregate_system(target.system, target.chip, current_registry().interconnects,
                                target.chips // target.system.chips)  # fmt: skip
    return {"system": f"{target.chips} x {target.chip.id}", "systems": 1, **aggregate_chips(target.chip, target.chips),
            "tiers": [], "scale_up_domain_chips": 1, "claims": []}  # fmt: skip


def estimate_train(model: str | Path | Workload, *, tokens: float, system: str | None = None, count: int = 1,
                   chip: str | None = None, chips: int | None = None, precision: str = "bf16",
                   seq_len: int | None = None, cost_model: str | None = None, purchase: str = "on-demand",
                   region: str | None = None, **options: Any) -> Any:  # fmt: skip
    """A training run's FLOPs, time, memory, cost and energy with ranges: ``hwprof estimate train``.

    ``options`` are the estimator's other options: ``layout`` ("tp=8,pp=4,..."; default: searched),
    ``mfu``, ``full_run``, ``global_batch_seqs``, ``cross_domain``.
    """
    from hwprof.cli.common import cluster_from, current_registry, quote_for
    from hwprof.perf.train import training

    target = cluster_from(system, count, chip, chips)
    quote = quote_for(cost_model, target, purchase, region)
    reg = current_registry()
    from hwprof.perf import ranges

    published = ranges.own_chips(reg.validation_cases.values(), "train")
    return training.estimate_train(workload(model, seq_len), target, reg.interconnects, tokens, precision,
                                   seq_len=seq_len, quote=quote, published_chips=published, **options)  # fmt: skip


def estimate_serve(model: str | Path | Workload, *, system: str | None = None, count: int = 1, chip: str | None = None,
                   chips: int | None = None, layout: str | None = None, precision: str = "bf16",
                   kv_precision: str = "bf16", batch: int | None = None, rate: float | None = None,
                   input_tokens: int = 1000, output_tokens: int = 500, chunk_tokens: int = 8192,
                   cost_model: str | None = None, purchase: str = "on-demand", region: str | None = None) -> Any:  # fmt: skip
    """Time to first token and per output token (mean, p50, p90), throughput and cost: ``hwprof
    estimate serve``. ``batch`` is the concurrency (users in a closed loop; default 1), ``rate`` a
    request rate instead; ``layout`` e.g. ``"tp=2,dp=4"``."""
    from hwprof.cli.common import cluster_from, current_registry, quote_for
    from hwprof.cli.estimate import serve_setup
    from hwprof.perf import ranges
    from hwprof.perf.serve import serving

    work = workload(model)
    target = cluster_from(system, count, chip, chips)
    quote = quote_for(cost_model, target, purchase, region)
    lay = serve_setup(work, target, layout, precision, kv_precision, chunk_tokens)
    load = serving.Traffic(input_tokens, output_tokens, concurrency=None if rate is not None else (batch or 1),
                           rate_per_s=rate)  # fmt: skip
    own = ranges.own_chips(current_registry().validation_cases.values(), "serve")
    return serving.estimate_serve(work, target, lay, load, quote, published_chips=own)


def compare_train(model: str | Path | Workload, *, tokens: float, systems: Sequence[str],
                  cost_model: str | Sequence[str] | None = None, **options: Any) -> Any:  # fmt: skip
    """One training run on several systems (and cost models, side by side) with ratios to a baseline:
    ``hwprof compare train``. ``options``: baseline, chips, precision, seq_len, region, purchase."""
    from hwprof.cli import compare

    models = [cost_model] if isinstance(cost_model, str) else list(cost_model) if cost_model else None
    return compare.compare_train_result(workload(model, options.get("seq_len")), tokens, list(systems),
                                        cost_models=models, **options)  # fmt: skip


def compare_serve(model: str | Path | Workload, *, systems: Sequence[str], **options: Any) -> Any:
    """One serving setup on several systems with ratios to a baseline: ``hwprof compare serve``.
    ``options``: baseline, precision, kv_precision, batch, input_tokens, output_tokens, cost_model, ..."""
    from hwprof.cli import compare

    return compare.compare_serve_result(workload(model), list(systems), **options)


def plan_train(model: str | Path | Workload, *, tokens: float, deadline_days: float | None = None,
               budget: float | None = None, systems: Sequence[str] | None = None, precision: str = "bf16",
               seq_len: int | None = None, cost_model: str | None = None, region: str | None = None,
               purchase: str = "on-demand", top: int = 10) -> Any:  # fmt: skip
    """Systems x counts x layouts x purchase options: the time-cost frontier, the cheapest meeting a
    deadline, the fastest within a budget, each system's reasons: ``hwprof plan train``."""
    from hwprof.cli.common import chosen_cost_model, current_registry, first_quote, purchase_options
    from hwprof.cost import pricing
    from hwprof.perf import plan

    r = current_registry()
    chosen = chosen_cost_model(cost_model)
    ids = (
        list(systems)
        if systems
        else sorted({p.system for p in chosen.prices} & set(r.systems))
        if chosen
        else sorted(r.systems)
    )
    options = purchase_options(pricing, purchase, region, [chosen] if chosen else [])
    candidates: list[tuple[Any, Any, list[Any]]] = []
    for i in ids:
        quotes = [q for q in (first_quote(pricing, chosen, i, [o], region)[0] for o in options) if q] if chosen else []
        candidates.append((r.system(i), r.chip(r.system(i).chip), quotes or [None]))
    from hwprof.perf import ranges

    published = ranges.own_chips(r.validation_cases.values(), "train")
    return plan.plan_train(workload(model, seq_len), candidates, r.interconnects, tokens, precision, seq_len,
                           deadline_days * 86400 if deadline_days is not None else None, budget, top,
                           published_chips=published)  # fmt: skip


def plan_serve(model: str | Path | Workload, *, rate: float, ttft_slo: float, tpot_slo: float, input_tokens: int = 1000,
               output_tokens: int = 500, systems: Sequence[str] | None = None, budget: float | None = None,
               precisions: Sequence[str] = ("bf16", "fp8", "int4", "fp4"), max_count: int = 64,
               cost_model: str | None = None, region: str | None = None, purchase: str = "on-demand") -> Any:  # fmt: skip
    """The cheapest deployment per system meeting p90 TTFT and TPOT targets (seconds) at a request
    rate, and the tokens/s per chip against tokens/s per user frontier: ``hwprof plan serve``."""
    from hwprof.cli.common import chosen_cost_model, current_registry, first_quote, purchase_options
    from hwprof.cost import pricing
    from hwprof.perf.serve import search as serve_search

    r = current_registry()
    chosen = chosen_cost_model(cost_model)
    ids = (
        list(systems) if systems else sorted(chosen.priced_systems() & set(r.systems)) if chosen else sorted(r.systems)
    )
    options = purchase_options(pricing, purchase, region, [chosen] if chosen else [])
    candidates = [(r.system(i), r.chip(r.system(i).chip),
                   first_quote(pricing, chosen, i, options, region)[0] if chosen else None) for i in ids]  # fmt: skip
    from hwprof.perf import ranges

    return serve_search.plan_serve(workload(model), candidates, r.interconnects, rate, input_tokens, output_tokens,
                                   ttft_slo, tpot_slo, budget, tuple(precisions), max_count,
                                   published_chips=ranges.own_chips(r.validation_cases.values(), "serve"))  # fmt: skip


def to_json(value: Any) -> Any:
    """Any record or result as plain JSON data: what ``--json`` prints."""
    from hwprof.jsonable import to_json as convert

    return convert(value)
