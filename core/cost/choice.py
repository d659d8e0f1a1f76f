"""Several cost models at once: which loaded price lists (or computed models) price a system, and
which of their quotes an estimate uses.

Every cost model gives a system at most one quote: its price under the first purchase option, in
the user's order of preference, it has one for (in the cheapest region unless one is named). The
best quote is the one under the most preferred option, and among those the cheapest per hour;
the others are named beside it. A cost model with no price for the system gives no quote and no
row, only the reason, for a note.

    priced = choice.prices([list_prices, negotiated, onprem], system, ["on-demand"], today=today)
    priced.best        # Quote or None
    priced.others      # the other cost models' quotes, best first
    priced.gaps        # {"onprem": "quotes owned hardware only (purchase 'ownership')", ...}

Naming one cost model (``only``) filters; with the purchase left at its default, a cost model named
on its own that prices the system some other way (an ownership model, say) uses that way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

from ..data import records
from ..errors import HwprofError, did_you_mean
from . import pricing

Quote = records.Quote


@attrs.frozen
class Priced:
    """The quotes the loaded cost models give one system, best first, and why the rest give none."""

    quotes: tuple[Quote, ...]
    gaps: dict[str, str]  # cost model id -> why it has no price for this system

    @property
    def best(self) -> Quote | None:
        return self.quotes[0] if self.quotes else None

    @property
    def others(self) -> tuple[Quote, ...]:
        return self.quotes[1:]

    def named(self) -> str:
        """The other cost models' figures in one clause, e.g. 'also gcp 88.49 USD/h (on-demand, us-central1)'."""
        if not self.others:
            return ""
        parts = [
            f"{q.cost_model} {q.usd_per_hour:,.4g} USD/h ({q.price.purchase}, {q.price.region})" for q in self.others
        ]
        return "also " + "; ".join(parts)


def preference(purchases: Sequence[str]) -> list[str]:
    """The purchase options to try, in order: a negotiated rate stands in for the on-demand list
    price (it is what the contract holder pays instead), unless the user orders it themselves."""
    options = list(purchases)
    if "on-demand" in options and "negotiated" not in options:
        options.insert(options.index("on-demand") + 1, "negotiated")
    return options


def rank(quote: Quote, purchases: Sequence[str]) -> tuple[int, float, str]:
    """How good a quote is: its purchase option's place in the user's order (a stand-in negotiated
    rate ranks with on-demand), then price per hour."""
    purchase = quote.price.purchase
    if purchase == "negotiated" and "negotiated" not in purchases and "on-demand" in purchases:
        purchase = "on-demand"
    place = purchases.index(purchase) if purchase in purchases else len(purchases)
    return place, quote.usd_per_hour, quote.cost_model


def select(cost_models: dict[str, records.QuotesCost], only: Sequence[str] | None) -> list[records.QuotesCost]:
    """The cost models to price with: all loaded (by id), or those ``only`` names (an unknown id is an error)."""
    if not only:
        return [cost_models[k] for k in sorted(cost_models)]
    unknown = [m for m in only if m not in cost_models]
    if unknown:
        known = sorted(cost_models)
        raise HwprofError(f"unknown cost model{did_you_mean(unknown[0], known)}; known: {', '.join(known) or 'none'} "
                          "(see `hwprof prices list`)",
                          subject="cost_model", value=unknown[0])  # fmt: skip
    return [cost_models[m] for m in dict.fromkeys(only)]


def prices(
    cost_models: Sequence[records.QuotesCost],
    system: records.System,
    purchases: Sequence[str] = ("on-demand",),
    region: str | None = None,
    today: dt.date | None = None,
    stale_days: int | None = None,
    any_purchase: bool = False,
) -> Priced:
    """Each cost model's quote for ``system`` under the first of ``purchases`` it prices (``region``
    when given, else its cheapest), best first. ``any_purchase``: a model that prices none of
    ``purchases`` may use its own first option (in ``records.PURCHASE_OPTIONS`` order)."""
    for option in purchases:
        pricing.check_purchase(option)
    found: list[Quote] = []
    gaps: dict[str, str] = {}
    for model in cost_models:
        if region is not None and region not in model.regions:
            gaps[model.id] = f"no prices in {region}"
            continue
        wanted = preference(purchases)
        options = wanted + ([o for o in records.PURCHASE_OPTIONS if o not in wanted] if any_purchase else [])
        why = ""
        for option in options:
            try:
                found.append(pricing.quote(model, system, option, region, today, stale_days))
                break
            except HwprofError as exc:
                why = why or exc.detail
        else:
            gaps[model.id] = why or "no price"
    found.sort(key=lambda q: rank(q, purchases))
    return Priced(tuple(found), gaps)
