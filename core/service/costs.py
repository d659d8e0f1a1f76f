"""Which cost model prices a system, and the quote it gives under the purchase options asked for."""

from __future__ import annotations

import os
from typing import Any

from hwprof.data import registry
from hwprof.errors import HwprofError, did_you_mean
from hwprof.service.session import current_registry, note, warn

COST_MODEL_ENV = "HWPROF_COST_MODEL"


def chosen_cost_model(name: str | None) -> Any:
    """The cost model to price with: ``name``, else HWPROF_COST_MODEL, else the only one loaded,
    else the only built-in one (so a profile the user adds never breaks a command that worked).
    None for 'none' or when none is loaded."""
    r = current_registry()
    if name is None and os.environ.get(COST_MODEL_ENV):
        name = os.environ[COST_MODEL_ENV]
        if name != "none" and name not in r.cost_models:
            raise HwprofError(f"{COST_MODEL_ENV}={name}: unknown cost model{did_you_mean(name, list(r.cost_models))}; "
                              f"known: {', '.join(sorted(r.cost_models)) or 'none'}")  # fmt: skip
    if name == "none":
        return None
    if name is not None:
        return r.cost_model(name)
    models = sorted(r.cost_models)
    if len(models) <= 1:
        return r.cost_models[models[0]] if models else None
    builtin = [m for m in models if _builtin(r, m)]
    if len(builtin) != 1:
        raise HwprofError(f"several cost models are loaded ({', '.join(models)}); choose one with `cost_model`, "
                          f"or set {COST_MODEL_ENV} to make one your default")  # fmt: skip
    others = ", ".join(m for m in models if m != builtin[0])
    note(f"priced with the built-in cost model {builtin[0]!r}; also loaded: {others} "
         f"(choose with --cost-model, or make one your default with {COST_MODEL_ENV}=ID)")  # fmt: skip
    return r.cost_models[builtin[0]]


def _builtin(r: registry.Registry, cost_model: str) -> bool:
    provider = r.provider("cost_models", cost_model)
    return any(p.builtin and provider == f"plugin {p.name!r}" for p in r.plugins)


def quote_for(cost_model: str | None, target: Any, purchase: str, region: str | None) -> Any:
    """The quote for ``target`` (None without a system, a cost model or, for the defaults, a price)."""
    from hwprof.cost import pricing

    chosen = chosen_cost_model(cost_model) if target.system is not None else None
    if chosen is None:
        return None
    try:
        return pricing.quote(chosen, target.system, purchase, region)
    except HwprofError as exc:
        if target and region is None and purchase == "on-demand":
            warn(f"{exc.for_cli()}; no cost shown")
            return None
        raise HwprofError(
            f"{exc.detail} (choose with `purchase`/`region`, or pass `cost_model` none)",
            subject=exc.subject,
            value=exc.value,
        ) from None


def purchase_options(purchase: str, region: str | None, cost_models: list[Any]) -> list[str]:
    """The purchase options in order of preference, after checking them and ``region``."""
    from hwprof.cost import pricing

    options = [p.strip() for p in purchase.split(",") if p.strip()]
    for option in options:
        pricing.check_purchase(option)
    if region is not None:
        pricing.check_region(region, sorted({r for m in cost_models for r in m.regions}), "the cost models have")
    return options


def first_quote(cost_model: Any, system_id: str, options: list[str], region: str | None) -> tuple[Any, str]:
    """The first purchase option (in the order given) with a price, or why there is none."""
    from hwprof.cost import pricing

    why = ""
    for option in options:
        if region is None or region in cost_model.regions:
            try:
                return pricing.quote(cost_model, current_registry().system(system_id), option, region), ""
            except HwprofError as exc:
                why = why or exc.for_cli()
                continue  # no price under this option: try the next
    gaps = [g.reason for option in options for g in pricing.missing_for(cost_model, system_id, option, region)]
    if not gaps and why and not hasattr(cost_model, "prices"):
        return None, why  # a cost model that computes its quotes says best why it has none
    where = f" in {region}" if region else ""
    return None, f"no {'/'.join(options)} price{where}" + (f": {gaps[0]}" if gaps else "")


def calibration_evidence(chip_id: str, kind: str) -> list[str]:
    """The published results on this chip that back its efficiency; a warning when there are none."""
    cases = [c.id for c in current_registry().validation_cases.values() if c.chip == chip_id and c.kind == kind]
    if not cases:
        warn(f"no published {kind} results for {chip_id} are on file: its efficiency comes from other chips' runs "
             "(see `hwprof validate`); treat the range as optimistic")  # fmt: skip
    return cases
