"""Pricing a system under a cost model: which price applies, how old it is, what is missing.

Pure functions: the caller passes today's date, so staleness is testable with a fixed clock.
"""

from __future__ import annotations

import datetime as dt

import attrs
from hwprof.core import model
from hwprof.core.errors import HwprofError, did_you_mean

DEFAULT_STALE_DAYS = 180


@attrs.frozen
class Quote:
    """The price an estimate uses, with what a reader must know about it."""

    price: model.Price
    cost_model: str
    age_days: int
    stale: bool

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour

    def warnings(self) -> list[str]:
        out = []
        if self.stale:
            out.append(
                f"price of {self.price.system} ({self.price.purchase}, {self.price.region}) was "
                f"observed {self.price.observed.isoformat()}, {self.age_days} days ago: it may be stale"
            )
        if self.price.volatile:
            out.append(f"{self.price.purchase} price of {self.price.system} is a dated observation and changes often")
        return out

    def as_json(self) -> dict[str, object]:
        from hwprof.core.aggregate import source_json

        return {"cost_model": self.cost_model, "system": self.price.system, "region": self.price.region,
                "purchase": self.price.purchase, "usd_per_hour": self.price.usd_per_hour,
                "observed": self.price.observed.isoformat(), "age_days": self.age_days, "stale": self.stale,
                "status": self.price.status, "volatile": self.price.volatile,
                "source": source_json(self.price.source)}  # fmt: skip


def quote(
    cost_model: model.CostModel,
    system_id: str,
    purchase: str = "on-demand",
    region: str | None = None,
    today: dt.date | None = None,
    stale_days: int = DEFAULT_STALE_DAYS,
) -> Quote:
    """The price of ``system_id`` under ``cost_model``; without a region, the cheapest region.

    Raises HwprofError naming what is known instead: the published-price gap, or the
    regions and purchase options that do have a price.
    """
    if purchase not in model.PURCHASE_OPTIONS:
        raise HwprofError(
            f"--purchase {purchase}: unknown purchase option{did_you_mean(purchase, list(model.PURCHASE_OPTIONS))}; "
            f"known: {', '.join(model.PURCHASE_OPTIONS)}"
        )
    regions = cost_model.regions
    if region is not None and region not in regions:
        raise HwprofError(
            f"--region {region}: cost model {cost_model.id!r} has no prices there"
            f"{did_you_mean(region, regions)}; known regions: {', '.join(regions)}"
        )
    candidates = [p for p in cost_model.prices if p.system == system_id and p.purchase == purchase
                  and (region is None or p.region == region)]  # fmt: skip
    if not candidates:
        raise HwprofError(_no_price(cost_model, system_id, purchase, region))
    price = min(candidates, key=lambda p: (p.usd_per_hour, p.region))
    today = today or dt.date.today()
    age = (today - price.observed).days
    return Quote(price=price, cost_model=cost_model.id, age_days=age, stale=age > stale_days)


def _no_price(cost_model: model.CostModel, system_id: str, purchase: str, region: str | None) -> str:
    where = f" in {region}" if region else ""
    head = f"cost model {cost_model.id!r} has no {purchase} price for {system_id}{where}"
    gap = [m for m in cost_model.missing if m.system == system_id and m.purchase == purchase
           and m.region in ("*", region or "*")]  # fmt: skip
    known = sorted(f"{p.purchase} in {p.region}" for p in cost_model.prices if p.system == system_id)
    reason = f": {gap[0].reason}" if gap else ""
    options = f"; it has {', '.join(known)}" if known else "; it prices no option for this system"
    return f"{head}{reason}{options} (choose with --purchase/--region, or pass --cost-model none)"
