"""Pricing a system under a cost model: which price applies, how old it is, what it buys, what is missing.

Pure functions: the caller passes today's date, so staleness is testable with a fixed clock. The
staleness threshold is the caller's, else ``HWPROF_PRICE_STALE_DAYS``, else 180 days: prices are
the figures that move most, so every estimate that uses an old one says so.
"""

from __future__ import annotations

import datetime as dt
import os

import attrs

from hwprof.core.data import records
from hwprof.core.errors import HwprofError, did_you_mean

DEFAULT_STALE_DAYS = 180
STALE_DAYS_ENV = "HWPROF_PRICE_STALE_DAYS"


def stale_days_setting(value: int | None = None) -> int:
    """The staleness threshold in days: ``value`` when given, else the environment, else 180."""
    if value is not None:
        if isinstance(value, bool) or value < 0:
            raise HwprofError(f"--stale-days {value}: must be a whole number of days, 0 or more")
        return value
    raw = os.environ.get(STALE_DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_STALE_DAYS
    days = int(raw) if raw.isdigit() else -1
    if days < 0:
        raise HwprofError(
            f"{STALE_DAYS_ENV}={raw!r}: expected a whole number of days, 0 or more "
            f"(unset it for the default of {DEFAULT_STALE_DAYS})"
        )
    return days


def parse_date(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HwprofError(f"{flag} {text}: expected a date like 2026-01-31") from None


@attrs.frozen
class Quote:
    """The price an estimate uses, with what a reader must know about it."""

    price: records.Price
    cost_model: str
    age_days: int
    stale: bool
    stale_days: int = DEFAULT_STALE_DAYS
    basis: str = ""  # how a computed quote was made (an ownership model's arithmetic); empty for a list price

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour

    def usd_per_chip_hour(self, chips: int) -> float:
        return self.price.usd_per_hour / chips

    def warnings(self) -> list[str]:
        out = []
        if self.stale:
            out.append(
                f"price of {self.price.system} ({self.price.purchase}, {self.price.region}) was "
                f"observed {self.price.observed.isoformat()}, {self.age_days} days ago "
                f"(older than {self.stale_days} days): it may be stale"
            )
        if self.price.volatile:
            out.append(
                f"{self.price.purchase} price of {self.price.system} is an observation of "
                f"{self.price.observed.isoformat()} and changes often"
            )
        return out

    def as_json(self) -> dict[str, object]:
        from hwprof.core.jsonable import source_json

        return {"cost_model": self.cost_model, "system": self.price.system, "region": self.price.region,
                "purchase": self.price.purchase, "usd_per_hour": self.price.usd_per_hour,
                "observed": self.price.observed.isoformat(), "age_days": self.age_days, "stale": self.stale,
                "stale_days": self.stale_days, "status": self.price.status, "volatile": self.price.volatile,
                "source": source_json(self.price.source), "basis": self.basis or None,
                "warnings": self.warnings()}  # fmt: skip


def check_purchase(purchase: str) -> None:
    if purchase not in records.PURCHASE_OPTIONS:
        raise HwprofError(
            f"--purchase {purchase}: unknown purchase option{did_you_mean(purchase, list(records.PURCHASE_OPTIONS))}; "
            f"known: {', '.join(records.PURCHASE_OPTIONS)}"
        )


def check_region(region: str, regions: list[str], whose: str) -> None:
    if region not in regions:
        known = ", ".join(regions) or "none"
        raise HwprofError(f"--region {region}: {whose} no prices there{did_you_mean(region, regions)}; "
                          f"known regions: {known}")  # fmt: skip


def assess(price: records.Price, cost_model: str, today: dt.date, stale_days: int | None = None) -> Quote:
    """A known price as a Quote: its age on ``today`` and whether that makes it stale."""
    days = stale_days_setting(stale_days)
    age = (today - price.observed).days
    return Quote(price=price, cost_model=cost_model, age_days=age, stale=age > days, stale_days=days)


def quote(
    cost_model: records.CostModel,
    system_id: str,
    purchase: str = "on-demand",
    region: str | None = None,
    today: dt.date | None = None,
    stale_days: int | None = None,
) -> Quote:
    """The price of ``system_id`` under ``cost_model``; without a region, the cheapest region.

    ``stale_days`` defaults to ``HWPROF_PRICE_STALE_DAYS`` or 180. Raises HwprofError naming what
    is known instead: the published-price gap, or the regions and purchase options that do have
    a price.
    """
    check_purchase(purchase)
    if region is not None:
        check_region(region, cost_model.regions, f"cost model {cost_model.id!r} has")
    candidates = [p for p in cost_model.prices if p.system == system_id and p.purchase == purchase
                  and (region is None or p.region == region)]  # fmt: skip
    if not candidates:
        raise HwprofError(_no_price(cost_model, system_id, purchase, region))
    price = min(candidates, key=lambda p: (p.usd_per_hour, p.region))
    return assess(price, cost_model.id, today or dt.date.today(), stale_days)


def missing_for(
    cost_model: records.QuotesCost, system_id: str | None = None, purchase: str | None = None, region: str | None = None
) -> list[records.MissingPrice]:
    """The prices ``cost_model`` records as unpublished, narrowed to a system, purchase and region.

    Only price lists record gaps; a cost model that computes its quotes has none.
    """
    return [m for m in getattr(cost_model, "missing", ())
            if (system_id is None or m.system == system_id) and (purchase is None or m.purchase == purchase)
            and (region is None or m.region in ("*", region))]  # fmt: skip


def usd_per_dense_pflops_hour(usd_per_hour: float, system: records.System, chip: records.Chip) -> dict[str, float]:
    """Price-performance per precision: what one PFLOPS of dense peak costs for an hour.

    E.g. 35.76 USD/h for 16 chips of 1,299 dense FP8 TFLOPS: 35.76 / 20.784 = 1.72 USD per PF-hour.
    """
    return {p: usd_per_hour / (system.chips * f.value / 1000) for p, f in chip.peak_dense_tflops.items()}


def _no_price(cost_model: records.CostModel, system_id: str, purchase: str, region: str | None) -> str:
    where = f" in {region}" if region else ""
    head = f"cost model {cost_model.id!r} has no {purchase} price for {system_id}{where}"
    gap = missing_for(cost_model, system_id, purchase, region or "*")
    known = sorted(f"{p.purchase} in {p.region}" for p in cost_model.prices if p.system == system_id)
    reason = f": {gap[0].reason}" if gap else ""
    options = f"; it has {', '.join(known)}" if known else "; it prices no option for this system"
    return f"{head}{reason}{options} (choose with --purchase/--region, or pass --cost-model none)"
