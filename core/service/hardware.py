"""The target of an estimate: a system and how many (``count``), or a chip and how many (``chips``)."""

from __future__ import annotations

from typing import Any

from ..errors import HwprofError
from .session import current_registry, warn


def cluster_from(system_id: str | None, count: int, chip_id: str | None, chips: int | None) -> Any:
    """The ``perf.cluster.Cluster`` named: ``system_id`` x ``count`` (or ``chips`` of it, in whole
    systems), or ``chips`` x ``chip_id`` with no system around them."""
    from ..perf import cluster

    r = current_registry()
    if (system_id is None) == (chip_id is None):
        raise HwprofError("give the hardware once: `system` ID [`count` K] or `chip` ID `chips` N")
    if count < 1 or (chips is not None and chips < 1):
        raise HwprofError(f"`count` and `chips` must be at least 1, got {chips if chips is not None else count}")
    if system_id is not None:
        system = r.system(system_id)
        total = system.chips * count
        if chips:
            if chips > system.chips and chips % system.chips:
                low, high = chips // system.chips * system.chips, cluster.whole_systems(chips, system)
                raise HwprofError(f"`chips` {chips} is not a whole number of {system.id} ({system.chips} chips each): "
                                  f"use {low} or {high}, or `count`")  # fmt: skip
            if chips < system.chips:
                warn(f"--chips {chips}: {chips} of the {system.chips} chips of one {system.id}")
            total = chips
        return cluster.cluster_for(r.chip(system.chip), total, system, r.interconnects)
    if chips is None:
        raise HwprofError("`chip` needs `chips` N (how many)")
    return cluster.cluster_for(r.chip(chip_id), chips, None, r.interconnects)  # type: ignore[arg-type]
