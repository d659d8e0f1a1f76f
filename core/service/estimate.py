"""One workload on one target: a training run or a serving deployment, with the published results
that back the chip's efficiency passed to the models (they decide how wide the range is)."""

from __future__ import annotations

from typing import Any

import attrs

from hwprof.data import records
from hwprof.errors import HwprofError
from hwprof.service.session import current_registry


def published_chips(kind: str) -> Any:
    """The chips with published results of this kind on file (``perf.ranges.own_chips``)."""
    from hwprof.perf import ranges

    return ranges.own_chips(current_registry().validation_cases.values(), kind)


def train(work: records.Workload, target: Any, tokens: float, *, precision: str = "bf16", layout: str | None = None,
          seq_len: int | None = None, full_run: bool = False, quote: Any = None,
          global_batch_seqs: int | None = None, cross_domain: bool = False, mfu: float | None = None) -> Any:  # fmt: skip
    """A training run's time, memory, cost and energy on ``target`` (``perf.train.training``)."""
    from hwprof.perf.train import training

    r = current_registry()
    return training.estimate_train(work, target, r.interconnects, tokens, precision, layout, seq_len, full_run, quote,
                                   global_batch_seqs, cross_domain=cross_domain, mfu=mfu,
                                   published_chips=published_chips("train"))  # fmt: skip


def serve_layout(work: records.Workload, target: Any, layout: str | None, precision: str, kv_precision: str,
                 chunk_tokens: int) -> Any:  # fmt: skip
    """The serving layout the user gave, or the default one (stated in the result's assumptions)."""
    from hwprof.perf.serve import layout as serve_layouts

    if chunk_tokens < 1:
        raise HwprofError(f"the chunked-prefill budget must be at least 1 token, got {chunk_tokens}")
    if layout:
        lay = serve_layouts.parse(layout, target.chips, precision, kv_precision)
    else:
        lay = serve_layouts.default_layout(target, precision, kv_precision, work.heads)
    return attrs.evolve(lay, chunk_tokens=chunk_tokens)


def serve(work: records.Workload, target: Any, lay: Any, traffic: Any, quote: Any = None) -> Any:
    """Latency, throughput, memory and cost of ``lay`` on ``target`` under ``traffic`` (``perf.serve.serving``)."""
    from hwprof.perf.serve import serving

    return serving.estimate_serve(work, target, lay, traffic, quote, published_chips=published_chips("serve"))


def peak(target: Any) -> dict[str, Any]:
    """Aggregate peaks (dense and sparse per precision), memory, bandwidth and power of ``target``."""
    from hwprof.perf.aggregate import aggregate_chips, aggregate_system

    if target.system is not None:
        return aggregate_system(target.system, target.chip, current_registry().interconnects,
                                target.chips // target.system.chips)  # fmt: skip
    return {"system": f"{target.chips} x {target.chip.id}", "systems": 1, **aggregate_chips(target.chip, target.chips),
            "tiers": [], "scale_up_domain_chips": 1, "claims": []}  # fmt: skip
