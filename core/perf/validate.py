"""Run the estimators on published results and measure the error: ``hwprof validate``."""

from __future__ import annotations

import statistics
from typing import Any

from hwprof.core.data import records
from hwprof.core.data.registry import Registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, shape, training
from hwprof.core.perf import efficiency as eff


def predict(case: records.ValidationCase, reg: Registry) -> dict[str, float]:
    """The estimate (low, expected, high) of the metric a case published."""
    workload = shape.from_workload(reg.workload(case.model))
    system = reg.system(case.system) if case.system else None
    target = cluster.cluster_for(reg.chip(case.chip), case.chips, system, reg.interconnects)
    if case.kind == "train":
        if case.metric == "mfu":
            factor = target.chip.training_efficiency
            e = eff.training_mfu(case.precision, case.chips, case.full_run, moe=workload.is_moe,
                                 chip_factor=(factor.value, factor.how) if factor else None)  # fmt: skip
            return {"low": e.low, "expected": e.expected, "high": e.high}
        tokens = case.tokens or 1e12
        result = training.estimate_train(workload, target, tokens, case.precision, case.seq_len,
                                         full_run=case.full_run)  # fmt: skip
        if case.metric == "chip_hours":
            return dict(result["chip_hours"])
        seconds = result["time_s"]
        # Faster time is more tokens per second: the range flips.
        return {k: tokens / seconds[flip] / case.chips
                for k, flip in (("low", "high"), ("expected", "expected"), ("high", "low"))}  # fmt: skip

    from hwprof.core.perf import serve_cases

    return serve_cases.predict(case, reg)


def run(reg: Registry, role: str | None = None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    unusable: list[dict[str, str]] = []  # cases the estimators refuse: reported, the rest still run
    for case in sorted(reg.validation_cases.values(), key=lambda c: (c.role, c.kind, c.id)):
        if role and case.role != role:
            continue
        try:
            got = predict(case, reg)
        except HwprofError as exc:
            unusable.append({"id": case.id, "origin": case.origin, "reason": str(exc)})
            continue
        low, high = min(got["low"], got["high"]), max(got["low"], got["high"])
        rows.append({
            "id": case.id, "kind": case.kind, "role": case.role, "metric": case.metric,
            "published": case.published, "estimate": got, "error": got["expected"] / case.published - 1,
            "in_range": low <= case.published <= high, "source": case.source.title, "note": case.note,
            "calibrates": list(case.calibrates),
        })  # fmt: skip
    summary: dict[str, dict[str, float]] = {}
    for group in ("calibration", "validation"):
        chosen = [r for r in rows if r["role"] == group]
        if not chosen:
            continue
        summary[group] = {
            "cases": len(chosen),
            "train_cases": sum(r["kind"] == "train" for r in chosen),
            "serve_cases": sum(r["kind"] == "serve" for r in chosen),
            "median_abs_error": statistics.median(abs(r["error"]) for r in chosen),
            "in_range_share": sum(r["in_range"] for r in chosen) / len(chosen),
        }
    return {"cases": rows, "summary": summary, "unusable": unusable}
