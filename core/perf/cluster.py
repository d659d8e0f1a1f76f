"""What an estimate runs on (a ``Cluster``: chips of one kind joined by interconnect tiers) and the
helpers every estimate shares: ranges, peaks, cost and energy over a duration, provenance.

Every figure with uncertainty is a range ``{"low", "expected", "high"}``; ``low`` is the
optimistic end for times and costs (fastest, cheapest).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ..cost.pricing import Quote
from ..data import records
from ..errors import HwprofError

USABLE_MEMORY_FRACTION = 0.9  # runtime, fragmentation and buffers take the rest


@attrs.frozen
class Cluster:
    """What an estimate runs on: ``chips`` chips of ``chip``, joined by ``scale_up`` (if any)."""

    chip: records.Chip
    chips: int
    system: records.System | None = None
    scale_up: records.Interconnect | None = None
    scale_up_domain: int = 1
    scale_out: records.Interconnect | None = None
    # Every network level, innermost first, as collectives see it (``comm.tiers_of``); a bare chip
    # gets its native scale-up link.
    tiers: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        if self.system and self.chips < self.system.chips:
            return f"{self.chips} of the {self.system.chips} chips of one {self.system.id}"
        if self.system:
            count = self.chips // self.system.chips
            return f"{count} x {self.system.id}" if count != 1 else self.system.id
        return f"{self.chips} x {self.chip.id}"


def cluster_for(
    chip: records.Chip, chips: int, system: records.System | None, interconnects: dict[str, records.Interconnect]
) -> Cluster:
    from . import comm

    up = out = None
    domain = 1
    for tier in system.tiers if system else ():
        link = interconnects[tier.interconnect]
        if link.tier == "scale-up" and up is None:
            up, domain = link, tier.domain_chips or system.chips  # type: ignore[union-attr]
        elif link.tier == "scale-out" and out is None:
            out = link
    if system is None and chip.scale_up and chip.scale_up in interconnects:
        up = interconnects[chip.scale_up]
        domain = min(chips, up.max_domain_chips or chips)
    tiers = comm.tiers_of(system, interconnects, chips, chip)
    return Cluster(chip=chip, chips=chips, system=system, scale_up=up, scale_up_domain=domain, scale_out=out,
                   tiers=tiers)  # fmt: skip


def whole_systems(chips: int, system: records.System) -> int:
    """``chips`` rounded up to whole systems, in chips (10 chips of 8-chip systems: 16)."""
    return -(-chips // system.chips) * system.chips


def span(expected: float, low: float, high: float) -> dict[str, float]:
    return {"low": low, "expected": expected, "high": high}


def peak_tflops(chip: records.Chip, precision: str) -> records.Figure:
    figure = chip.peak_dense_tflops.get(precision)
    if figure is None:
        known = ", ".join(chip.peak_dense_tflops)
        raise HwprofError(f"{chip.id} has no {precision} peak; it has {known}", subject="precision", value=precision)
    return figure


def check_positive(name: str, value: float) -> None:
    """``name`` is the input's domain name (``tokens``); the CLI shows it as its flag."""
    if not value > 0 or not math.isfinite(value):
        subject = name.lstrip("-").replace("-", "_")
        raise HwprofError(f"must be a positive number, got {value:g}", subject=subject)


def cost_over(quote: Quote | None, target: Cluster, hours: dict[str, float]) -> dict[str, Any] | None:
    if quote is None or target.system is None:
        return None
    # One rule for training and serving: the user rents whole systems, so 2 GPUs of an 8-GPU
    # instance pay for the instance (and are told so).
    systems = -(-target.chips // target.system.chips)
    usd_per_hour = quote.usd_per_hour * systems
    idle = systems * target.system.chips - target.chips
    said = [f"{target.chips} chips use part of {systems} {target.system.id}; the whole "
            f"{'system is' if systems == 1 else 'systems are'} billed ({idle} chips idle)"] if idle else []  # fmt: skip
    return {
        "cost_usd": {k: v * usd_per_hour for k, v in hours.items()},
        "usd_per_hour": usd_per_hour,
        "systems_billed": systems,
        "price": quote.as_json(),
        "warnings": [*quote.warnings(), *said],
    }


def energy_over(target: Cluster, hours: dict[str, float]) -> dict[str, Any] | None:
    tdp = target.chip.tdp_w
    if tdp is None:
        return None
    kw = target.chips * tdp.value / 1000
    return {"energy_kwh": {k: v * kw for k, v in hours.items()}, "power_kw": kw, "power_status": tdp.status,
            "note": "chips x rated power x time: an upper bound on chip energy, host and cooling not included"}  # fmt: skip


def rests_on(target: Cluster, peak: records.Figure, training: bool = False) -> list[str]:
    chip = target.chip
    used = [("peak", peak), ("memory_bandwidth_tbps", chip.memory_bandwidth_tbps), ("memory", chip.memory),
            ("tdp_w", chip.tdp_w)]  # fmt: skip
    if training:
        used.append(("training_efficiency", chip.training_efficiency))
    if target.scale_up:
        used.append((target.scale_up.id, target.scale_up.bandwidth_per_chip_gb_s))
    return [f"{name}: {f.status}" for name, f in used if f is not None]
