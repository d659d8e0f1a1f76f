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

from .data.hookspecs import hookimpl
from .errors import HwprofError
from .version import __version__

if TYPE_CHECKING:
    from .data.records import Workload
    from .data.registry import Registry


__all__ = [
    "HwprofError", "__version__", "hookimpl", "compare_serve", "compare_train", "estimate_peak", "estimate_serve",
    "estimate_train", "plan_serve", "plan_train", "registry", "to_json", "workload",
]  # fmt: skip


def _number(name: str, value: Any, bound: Any = None, *, whole: bool = False) -> Any:
    """``value`` as a plain int or float after checking its type and ``bound`` (``hwprof.data.checks``);
    else ``HwprofError`` naming the argument. numpy numbers become Python ones, so results serialise."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "a whole number" if whole else "a number"
        raise HwprofError(f"must be {kind}, got {type(value).__name__} {value!r:.40}", subject=name)
    if whole:
        if not isinstance(value, numbers.Integral):
            raise HwprofError(f"must be a whole number (an int), got {value!r:.40}", subject=name)
        value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:
            raise HwprofError("must be a finite number, got a number too large for a float", subject=name) from None
    if bound is not None and (problem := bound.problem(value)) is not None:
        raise HwprofError(problem, subject=name)
    return value


def _text(name: str, value: Any, optional: bool = True) -> Any:
    if (value is None and optional) or isinstance(value, str):
        return value
    raise HwprofError(f"must be text (a str), got {type(value).__name__} {value!r:.40}", subject=name)


def _ids(name: str, value: Any) -> list[str]:
    if isinstance(value, str | Path) or not isinstance(value, Sequence | set | frozenset | tuple):
        raise HwprofError(f"must be a list of ids, got {type(value).__name__} {value!r:.40}: pass [{value!r:.40}]",
                          subject=name)  # fmt: skip
    ids = [_text(name, v, optional=False) for v in value]
    if twice := next((i for n, i in enumerate(ids) if i in ids[:n]), None):
        raise HwprofError(f"names {twice} twice: give each once", subject=name)
    return ids


def _hardware(system: Any, count: Any, chip: Any, chips: Any) -> tuple[Any, int, Any, Any]:
    from .data import checks

    return (_text("system", system), _number("count", count, checks.SYSTEMS, whole=True), _text("chip", chip),
            None if chips is None else _number("chips", chips, checks.CHIPS, whole=True))  # fmt: skip


def _train_options(options: dict[str, Any]) -> dict[str, Any]:
    """The estimator's keyword options, each of its type; an unknown one named."""
    from .data import checks

    kinds: dict[str, Any] = {
        "layout": lambda v: _text("layout", v),
        "mfu": lambda v: None if v is None else _number("mfu", v, checks.MFU),
        "full_run": lambda v: bool(v),
        "cross_domain": lambda v: bool(v),
        "stack": lambda v: _text("stack", v),
        "global_batch_seqs": lambda v: None if v is None else _number("global_batch_seqs", v, checks.BATCH, whole=True),
    }
    unknown = sorted(set(options) - set(kinds))
    if unknown:
        raise HwprofError(f"unknown option {unknown[0]!r}; the options are {', '.join(kinds)}")
    return {k: kinds[k](v) for k, v in options.items()}


def registry(*, profiles: Sequence[str | Path] = (), strict: bool = False) -> Registry:
    """The chips, interconnects, systems, cost models, workloads and published results hwprof knows:
    the built-in plugins, installed plugins and profile folders (as ``hwprof --profiles DIR``).

    Warnings about broken plugins or profiles are in ``.warnings``; ``strict=True`` raises instead.
    """
    from .service.session import Session, begin

    if isinstance(profiles, str | Path) or not isinstance(profiles, Sequence | tuple | list):
        raise HwprofError(f"must be a list of folders, got {type(profiles).__name__} {profiles!r:.60}: "
                          f"pass [{str(profiles)!r:.60}]", subject="profiles")  # fmt: skip
    folders = [Path(p) for p in profiles]
    for folder in folders:
        if not folder.is_dir():
            raise HwprofError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}; give folders "
                              "of profile files", subject="profiles")  # fmt: skip
    session = Session(strict=strict, profile_dirs=folders)
    built = session.registry()  # a failure leaves the previous session in place
    begin(session)
    return built


def workload(model: str | Path | Workload, seq_len: int | None = None) -> Workload:
    """A model's shape: a preset id (``hwprof models list``), a path to a ``config.json``, or a Workload."""
    from .data import checks
    from .data.records import Workload as Shape
    from .service.workload import resolve

    if not isinstance(model, str | Path | Shape):
        raise HwprofError(f"must be a preset id, a path to a config.json or a Workload, got {type(model).__name__}",
                          subject="model")  # fmt: skip
    seq_len = None if seq_len is None else _number("seq_len", seq_len, checks.SEQ_LEN, whole=True)
    return resolve(model, seq_len=seq_len)


def estimate_peak(*, system: str | None = None, count: int = 1, chip: str | None = None,
                  chips: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Aggregate peaks (dense, sparse per precision), memory, bandwidth and power: ``hwprof estimate peak``."""
    from .service import estimate
    from .service.hardware import cluster_from

    return estimate.peak(cluster_from(*_hardware(system, count, chip, chips)))


def estimate_train(model: str | Path | Workload, *, tokens: float, system: str | None = None, count: int = 1,
                   chip: str | None = None, chips: int | None = None, precision: str = "bf16",
                   seq_len: int | None = None, cost_model: str | None = None, purchase: str = "on-demand",
                   region: str | None = None, **options: Any) -> Any:  # fmt: skip
    """A training run's FLOPs, time, memory, cost and energy with ranges: ``hwprof estimate train``.

    ``options`` are the estimator's other options: ``layout`` ("tp=8,pp=4,..."; default: searched),
    ``mfu``, ``full_run``, ``global_batch_seqs``, ``cross_domain``, ``stack`` (the training software stack;
    default: the chip's own, see ``result.stack`` and ``result.stack_basis``).
    """
    from .data import checks
    from .service import estimate
    from .service.costs import quote_for
    from .service.hardware import cluster_from

    tokens = _number("tokens", tokens, checks.TOKENS)
    seq_len = None if seq_len is None else _number("seq_len", seq_len, checks.SEQ_LEN, whole=True)
    precision, cost_model, region = (
        _text("precision", precision, False),
        _text("cost_model", cost_model),
        _text("region", region),
    )
    options = _train_options(options)
    target = cluster_from(*_hardware(system, count, chip, chips))
    quote = quote_for(cost_model, target, purchase, region)
    return estimate.train(workload(model, seq_len), target, tokens, precision=precision, seq_len=seq_len, quote=quote,
                          **options)  # fmt: skip


def estimate_serve(model: str | Path | Workload, *, system: str | None = None, count: int = 1, chip: str | None = None,
                   chips: int | None = None, layout: str | None = None, precision: str = "bf16",
                   kv_precision: str = "bf16", batch: int | None = None, rate: float | None = None,
                   input_tokens: int = 1000, output_tokens: int = 500, chunk_tokens: int = 8192,
                   cost_model: str | None = None, purchase: str = "on-demand", region: str | None = None,
                   prefill_layout: str | None = None, decode_system: str | None = None, spec_tokens: int = 0,
                   spec_accepted: float | None = None, prefix_cached: float = 0.0,
                   stack: str | None = None, arrivals: str = "poisson") -> Any:  # fmt: skip
    """Time to first token and per output token (mean, p50, p90), throughput and cost: ``hwprof
    estimate serve``. ``batch`` is the concurrency (users in a closed loop; default 1), ``rate`` a
    request rate instead (``arrivals`` "poisson" or "constant": evenly spaced); ``layout`` e.g. ``"tp=2,dp=4"``. ``prefill_layout`` (e.g. ``"tp=1,dp=6"``)
    runs prefill and decode pools apart (``layout`` the decode pool's, on ``decode_system`` if given);
    ``spec_tokens``/``spec_accepted`` speculative decoding, ``prefix_cached`` a cached prompt share;
    ``stack`` the serving software stack (default: the chip's own)."""
    from .data import checks
    from .perf.serve import serving
    from .service import estimate
    from .service.costs import quote_for
    from .service.hardware import cluster_from

    for name, value in (("layout", layout), ("precision", precision), ("kv_precision", kv_precision),
                        ("cost_model", cost_model), ("region", region), ("stack", stack)):  # fmt: skip
        _text(name, value)
    batch = None if batch is None else _number("batch", batch, checks.BATCH, whole=True)
    rate = None if rate is None else _number("rate", rate, checks.RATE)
    if arrivals not in ("poisson", "constant") or (arrivals != "poisson" and rate is None):
        raise HwprofError(f"arrivals={arrivals!r}: 'poisson' or 'constant' (evenly spaced), and only with a rate")
    input_tokens = _number("input_tokens", input_tokens, checks.REQUEST_TOKENS, whole=True)
    output_tokens = _number("output_tokens", output_tokens, checks.REQUEST_TOKENS, whole=True)
    chunk_tokens = _number("chunk_tokens", chunk_tokens, checks.REQUEST_TOKENS, whole=True)
    work = workload(model)
    target = cluster_from(*_hardware(system, count, chip, chips))
    load = serving.Traffic(input_tokens, output_tokens, arrivals=arrivals,
                           concurrency=None if rate is not None else (batch or 1),
                           rate_per_s=rate, options=estimate.serve_options(spec_tokens, spec_accepted, prefix_cached))  # fmt: skip
    if prefill_layout is not None or decode_system is not None:
        if prefill_layout is None:
            raise HwprofError("`decode_system` needs `prefill_layout` (the prefill pool's layout, e.g. tp=2,dp=3)")
        return estimate.serve_disaggregated(work, target, prefill_layout, layout, decode_system, load,
                                            precision=precision, kv_precision=kv_precision, chunk_tokens=chunk_tokens,
                                            cost_model=cost_model, purchase=purchase, region=region,
                                            stack=stack)  # fmt: skip
    quote = quote_for(cost_model, target, purchase, region)
    lay = estimate.serve_layout(work, target, layout, precision, kv_precision, chunk_tokens)
    return estimate.serve(work, target, lay, load, quote, stack=stack)


def compare_train(model: str | Path | Workload, *, tokens: float, systems: Sequence[str],
                  cost_model: str | Sequence[str] | None = None, **options: Any) -> Any:  # fmt: skip
    """One training run on several systems (and cost models, side by side) with ratios to a baseline:
    ``hwprof compare train``. ``options``: baseline, chips, precision, seq_len, region, purchase, stack
    (default: each chip on its own stack; every row names its ``stack`` and ``evidence``)."""
    from .data import checks
    from .service import compare

    tokens = _number("tokens", tokens, checks.TOKENS)
    models = [cost_model] if isinstance(cost_model, str) else _ids("cost_model", cost_model) if cost_model else None
    return compare.compare_train_result(workload(model, options.get("seq_len")), tokens, _ids("systems", systems),
                                        cost_models=models, **options)  # fmt: skip


def compare_serve(model: str | Path | Workload, *, systems: Sequence[str], **options: Any) -> Any:
    """One serving setup on several systems with ratios to a baseline: ``hwprof compare serve``.
    ``options``: baseline, precision, kv_precision, batch, input_tokens, output_tokens, cost_model, stack
    (default: each chip on its own stack; every row names its ``stack`` and ``evidence``), ..."""
    from .service import compare

    return compare.compare_serve_result(workload(model), _ids("systems", systems), **options)


def plan_train(model: str | Path | Workload, *, tokens: float, deadline_days: float | None = None,
               budget: float | None = None, systems: Sequence[str] | None = None, precision: str = "bf16",
               seq_len: int | None = None, cost_model: str | None = None, region: str | None = None,
               purchase: str = "on-demand", top: int = 10, robust: bool = False,
               memory_headroom_gib: float | None = None, stack: str | None = None) -> Any:  # fmt: skip
    """Systems x counts x layouts x purchase options: the time-cost frontier, the cheapest meeting a
    deadline, the fastest within a budget, each system's reasons: ``hwprof plan train``. ``robust``:
    goals met at the slow end of each range; ``memory_headroom_gib``: GiB every chip keeps free
    (default ``hwprof.perf.plan.HEADROOM_GIB``); ``stack``: the training stack every option assumes
    (default: each chip's own; each row names its ``stack`` and ``evidence``)."""
    from .data import checks
    from .service import plan

    tokens = _number("tokens", tokens, checks.TOKENS)
    deadline_days = None if deadline_days is None else _number("deadline_days", deadline_days, checks.DAYS)
    budget = None if budget is None else _number("budget", budget, checks.USD)
    top = _number("top", top, checks.count("options shown", 1, 1000), whole=True)
    systems = None if systems is None else _ids("systems", systems)
    work = workload(model, seq_len)
    candidates = plan.train_candidates(systems, cost_model, purchase, region)
    return plan.plan_train(work, candidates, tokens, precision=precision, seq_len=seq_len,
                           deadline_s=deadline_days * 86400 if deadline_days is not None else None, budget=budget,
                           top=top, robust=robust, headroom_gib=memory_headroom_gib,
                           stack=_text("stack", stack))  # fmt: skip


def plan_serve(model: str | Path | Workload, *, rate: float, ttft_slo: float, tpot_slo: float, input_tokens: int = 1000,
               output_tokens: int = 500, systems: Sequence[str] | None = None, budget: float | None = None,
               precisions: Sequence[str] = ("bf16", "fp8", "int4", "fp4"), max_count: int = 64,
               cost_model: str | None = None, region: str | None = None, purchase: str = "on-demand",
               deployments: Sequence[str] = ("aggregated", "disaggregated"), spec_tokens: int = 0,
               spec_accepted: float | None = None, prefix_cached: float = 0.0,
               stack: str | None = None) -> Any:  # fmt: skip
    """The cheapest deployment per system meeting p90 TTFT and TPOT targets (seconds) at a request
    rate, aggregated or with prefill and decode apart (``deployments``), and each kind's tokens/s per
    chip against tokens/s per user frontier: ``hwprof plan serve``. ``stack``: the serving stack every
    system assumes (default: each chip's own; each system's result names its ``stack`` and ``evidence``)."""
    from .data import checks
    from .service import estimate, plan

    rate = _number("rate", rate, checks.RATE)
    ttft_slo, tpot_slo = _number("ttft_slo", ttft_slo, checks.SECONDS), _number("tpot_slo", tpot_slo, checks.SECONDS)
    budget = None if budget is None else _number("budget", budget, checks.USD)
    max_count = _number("max_count", max_count, checks.SYSTEMS, whole=True)
    systems = None if systems is None else _ids("systems", systems)
    precisions = _ids("precisions", precisions)
    work = workload(model)
    candidates = plan.serve_candidates(systems, cost_model, purchase, region)
    return plan.plan_serve(
        work,
        candidates,
        rate,
        input_tokens,
        output_tokens,
        ttft_slo,
        tpot_slo,
        budget=budget,
        precisions=precisions,
        max_count=max_count,
        serve_options=estimate.serve_options(spec_tokens, spec_accepted, prefix_cached),
        deployments=deployments,
        stack=_text("stack", stack),
    )


def to_json(value: Any) -> Any:
    """Any record or result as plain JSON data: what ``--json`` prints."""
    from .jsonable import to_json as convert

    return convert(value)
