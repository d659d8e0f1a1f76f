"""Aggregate peaks of N chips: the arithmetic behind '64 x 1.3 PF = 83.2 PF'.

Pure functions over the data model. Each total keeps the status of the per-chip figure it rests
on, so a total built on a press estimate says so.
"""

from __future__ import annotations

from typing import Any

from ..data import records
from ..jsonable import source_json


def _total(figure: records.Figure | None, count: int, per_chip_unit: str, scale: float = 1.0) -> dict[str, Any] | None:
    """The total of ``count`` chips in the parent key's unit; the per-chip figure keeps its own unit
    in its name (``power_kw`` totals hold ``per_chip_w``: 700 W, not 700 kW)."""
    if figure is None:
        return None
    out: dict[str, Any] = {"value": figure.value * count * scale, f"per_chip_{per_chip_unit}": figure.value,
                           "status": figure.status, "source": source_json(figure.source)}  # fmt: skip
    if figure.alternatives:
        out["alternatives"] = [a.value * count * scale for a in figure.alternatives]
    return out


def aggregate_chips(chip: records.Chip, count: int) -> dict[str, Any]:
    """Peak compute (PFLOPS), memory, bandwidth and power of ``count`` chips."""
    memory_key = "memory_gib" if chip.memory_gib is not None else "memory_gb"
    result: dict[str, Any] = {
        "chip": chip.id,
        "chips": count,
        "peak_dense_pflops": {p: _total(f, count, "tflops", 1e-3) for p, f in chip.peak_dense_tflops.items()},
        "peak_sparse_pflops": {p: _total(f, count, "tflops", 1e-3) for p, f in chip.peak_sparse_tflops.items()},
        memory_key: _total(chip.memory, count, memory_key.removeprefix("memory_")),
        "memory_bandwidth_tbps": _total(chip.memory_bandwidth_tbps, count, "tbps"),
        "power_kw": _total(chip.tdp_w, count, "w", 1e-3),
    }
    if chip.sparsity_note:
        result["sparsity_note"] = chip.sparsity_note
    result["rests_on_non_official"] = non_official(chip)
    return result


def non_official(chip: records.Chip) -> list[str]:
    """Which per-chip figures behind an aggregate are not official, and what they are instead."""
    named: list[tuple[str, records.Figure | None]] = [
        *((f"peak_dense_tflops.{p}", f) for p, f in chip.peak_dense_tflops.items()),
        *((f"peak_sparse_tflops.{p}", f) for p, f in chip.peak_sparse_tflops.items()),
        ("memory", chip.memory),
        ("memory_bandwidth_tbps", chip.memory_bandwidth_tbps),
        ("tdp_w", chip.tdp_w),
    ]
    return [f"{name}: {f.status}" for name, f in named if f is not None and f.status != "official"]


def aggregate_system(
    system: records.System, chip: records.Chip, interconnects: dict[str, records.Interconnect], count: int = 1
) -> dict[str, Any]:
    """A system's (or ``count`` systems') aggregate peaks, its scale-up domain and its claims."""
    result: dict[str, Any] = {"system": system.id, "systems": count, **aggregate_chips(chip, system.chips * count)}
    tiers: list[dict[str, Any]] = []
    for tier in system.tiers:
        link = interconnects[tier.interconnect]
        tiers.append(
            {
                "interconnect": link.id,
                "tier": link.tier,
                "domain_chips": tier.domain_chips or system.chips * count,
                "bandwidth_per_chip_gb_s": link.bandwidth_per_chip_gb_s.value,
                "direction": link.direction,
                "per_direction_gb_s": link.per_direction_gb_s,
                "status": link.bandwidth_per_chip_gb_s.status,
            }
        )
    result["tiers"] = tiers
    scale_up: list[int] = [t["domain_chips"] for t in tiers if t["tier"] == "scale-up"]
    result["scale_up_domain_chips"] = max(scale_up) if scale_up else 1
    result["claims"] = [
        {"metric": c.metric, "value": c.value, "status": c.status, "source": source_json(c.source), "note": c.note}
        for c in system.claims
    ]
    return result
