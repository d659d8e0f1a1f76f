"""The report pages of a plan, gathered: the pick chosen, its launch text, it re-estimated alone, and
the hardware records behind it from the session's registry (``hwprof.service``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..emit import picks
from ..service.session import current_registry
from .plans import serve_page, train_page


def _links(registry: Any, system: Any) -> list[Any]:
    return [registry.interconnects[t.interconnect] for t in system.tiers if t.interconnect in registry.interconnects]


def train_plan_page(plan: Any, work: Any, precision: str, tokens: float, question: Sequence[str],
                    deadline_days: float | None, emitted: Any | None) -> str:  # fmt: skip
    """The page of a training plan: its pick (the cheapest meeting the goal, else the fastest)."""
    registry = current_registry()
    chosen = plan.cheapest or plan.fastest
    row = chosen or (plan.options[0] if plan.options else None)
    system = registry.system(row.system) if row else None
    chip = registry.chip(system.chip) if system else None
    estimate = picks.reestimate(work, chosen, precision, tokens) if chosen else None
    return train_page(question, plan, chosen, estimate, emitted, chip, system,
                      _links(registry, system) if system else [], work, deadline_days)  # fmt: skip


def serve_plan_page(plan: Any, work: Any, question: Sequence[str], chosen: Any | None, estimate: Any | None,
                    emitted: Any | None) -> str:  # fmt: skip
    """The page of a serving plan: ``chosen`` its cheapest deployment, ``estimate`` it re-estimated."""
    registry = current_registry()
    system = registry.system(chosen.system) if chosen else None
    chip = registry.chip(system.chip) if system else None
    return serve_page(question, plan, chosen, estimate, emitted, chip, system,
                      _links(registry, system) if system else [], work)  # fmt: skip
