"""Which cost models price a system: every one loaded (or those named) gives its quote, the best under
the purchase preference prices an estimate and the others are named (hwprof.cost.choice)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import HwprofError, did_you_mean
from .session import current_registry, note, warn

COST_MODEL_ENV = "HWPROF_COST_MODEL"


def model_names(cost_model: str | Sequence[str] | None) -> list[str] | None:
    """The cost models a command may price with: None for every one loaded, [] for none.

    ``cost_model`` (the --cost-model flag: one id, ids separated by commas, or 'none') filters;
    without it, HWPROF_COST_MODEL does; without either, every loaded cost model applies."""
    if cost_model is None:
        cost_model = os.environ.get(COST_MODEL_ENV) or None
        if cost_model is None:
            return None
        known = current_registry().cost_models
        for name in (n.strip() for n in cost_model.split(",")):
            if name != "none" and name not in known:
                raise HwprofError(f"{COST_MODEL_ENV}={cost_model}: unknown cost model{did_you_mean(name, list(known))}; "
                                  f"known: {', '.join(sorted(known)) or 'none'}")  # fmt: skip
    names = [cost_model] if isinstance(cost_model, str) else list(cost_model)
    names = [n.strip() for text in names for n in text.split(",") if n.strip()]
    return [] if names == ["none"] else names


def cost_models(cost_model: str | Sequence[str] | None) -> tuple[list[Any], bool]:
    """(the cost models to price with, whether they were named): every one loaded unless filtered."""
    from ..cost import choice

    names = model_names(cost_model)
    if names == []:
        return [], True
    return choice.select(current_registry().cost_models, names), names is not None


def prices(system: Any, cost_model: str | Sequence[str] | None, purchase: str, region: str | None) -> Any:
    """Every applicable cost model's quote for ``system``, best first (``cost.choice.Priced``).

    A cost model named on its own, with the purchase left at on-demand, prices its own way when it
    has no on-demand price (an ownership model quotes 'ownership')."""
    from ..cost import choice

    models, named = cost_models(cost_model)
    options = purchase_options(purchase, region, models)
    return choice.prices(models, system, options, region, any_purchase=named and options == ["on-demand"])


def quote_for(cost_model: str | Sequence[str] | None, target: Any, purchase: str, region: str | None) -> Any:
    """The best quote for ``target`` among the cost models that price it (None without a system or a
    price); the others' figures are named in a note."""
    parse_purchase(purchase)  # refused alike whether or not anything is priced
    if target.system is None or model_names(cost_model) == []:
        return None
    priced = prices(target.system, cost_model, purchase, region)
    best = priced.best
    if best is None:
        why = "; ".join(f"{m}: {w}" for m, w in priced.gaps.items()) or "no cost model is loaded"
        where = f" in {region}" if region else ""
        if region is None and purchase == "on-demand":
            warn(f"no cost model has an on-demand price for {target.system.id} ({why}); no cost shown")
            return None
        raise HwprofError(f"no {purchase} price for {target.system.id}{where} ({why}); choose with `purchase`/`region`, "
                          "or pass `cost_model` none")  # fmt: skip
    if priced.others:
        note(f"priced with {best.cost_model} at {best.usd_per_hour:,.4g} USD/h ({best.price.purchase}, "
             f"{best.price.region}), the best under `purchase` {purchase}; {priced.named()} "
             "(`cost_model` ID to choose one)")  # fmt: skip
    return best


def purchase_options(purchase: str, region: str | None, cost_models: list[Any]) -> list[str]:
    """The purchase options in order of preference, after checking them and ``region``."""
    from ..cost import pricing

    options = parse_purchase(purchase)
    if region is not None:
        pricing.check_region(region, sorted({r for m in cost_models for r in m.regions}), "the cost models have")
    return options


def parse_purchase(purchase: str) -> list[str]:
    """``purchase`` ("on-demand", or "spot,on-demand" in order of preference) as checked options: the one
    reading of the option for every command; nothing given is refused, not read as "no price"."""
    from ..cost import pricing

    if not isinstance(purchase, str):
        raise HwprofError(f"must be text such as 'on-demand' or 'spot,on-demand', got {type(purchase).__name__}",
                          subject="purchase")  # fmt: skip
    options = list(dict.fromkeys(p.strip() for p in purchase.split(",") if p.strip()))
    if not options:
        raise HwprofError("give at least one purchase option, e.g. on-demand or spot,on-demand",
                          subject="purchase", value=purchase or "''")  # fmt: skip
    for option in options:
        pricing.check_purchase(option)
    return options


def calibration_evidence(chip_id: str, kind: str) -> list[str]:
    """The published results on this chip that back its efficiency; a warning when there are none. A chip
    an override replaced has none: the runs were measured on the chip it replaced."""
    r = current_registry()
    replaced = ("chips", chip_id) in r.overridden
    cases = [c.id for c in r.validation_cases.values() if c.chip == chip_id and c.kind == kind and not replaced]
    if not cases:
        warn(f"no published {kind} results for {chip_id} are on file: its efficiency comes from other chips' runs "
             "(see `hwprof validate`); treat the range as optimistic")  # fmt: skip
    return cases
