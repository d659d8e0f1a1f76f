"""Pricing a system under a cost model: which price applies, how old it is, what it buys, what is missing.

Pure functions: the caller passes today's date, so staleness is testable with a fixed clock. The
staleness threshold is the caller's, else ``HWPROF_PRICE_STALE_DAYS``, else 180 days: prices are
the figures that move most, so every estimate that uses an old one says so.
"""

from __future__ import annotations

import datetime as dt
import os

import attrs

from ..data import checks, records
from ..errors import HwprofError, did_you_mean

DEFAULT_STALE_DAYS = records.DEFAULT_STALE_DAYS
STALE_DAYS_ENV = "HWPROF_PRICE_STALE_DAYS"


def stale_days_setting(value: int | None = None) -> int:
    """The staleness threshold in days: ``value`` when given, else the environment, else 180."""
    if value is not None:
        if isinstance(value, bool) or checks.STALE_DAYS.problem(value) is not None:
            raise HwprofError(
                f"must be a whole number of days, 0 or more (at most {checks.STALE_DAYS.high:,.0f})",
                subject="stale_days",
                value=checks.shown(value),
            )
        return value
    raw = os.environ.get(STALE_DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_STALE_DAYS
    days = int(raw) if raw.isdigit() and len(raw) < 10 else -1
    if checks.STALE_DAYS.problem(days) is not None:
        raise HwprofError(
            f"{STALE_DAYS_ENV}={checks.shown(raw)}: expected a whole number of days, 0 or more "
            f"(unset it for the default of {DEFAULT_STALE_DAYS})"
        )
    return days


def parse_date(text: str, subject: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise HwprofError("expected a date like 2026-01-31", subject=subject, value=text[:40]) from None
    if (problem := checks.date_problem("the date", day)) is not None:
        raise HwprofError(problem.removeprefix("the date "), subject=subject, value=text)
    return day


Quote = records.Quote


def check_purchase(purchase: str) -> None:
    if purchase not in records.PURCHASE_OPTIONS:
        known = list(records.PURCHASE_OPTIONS)
        raise HwprofError(f"unknown purchase option{did_you_mean(purchase, known)}; known: {', '.join(known)}",
                          subject="purchase", value=purchase)  # fmt: skip


def check_region(region: str, regions: list[str], whose: str) -> None:
    if region not in regions:
        known = ", ".join(regions) or "none"
        raise HwprofError(f"{whose} no prices there{did_you_mean(region, regions)}; known regions: {known}",
                          subject="region", value=region)  # fmt: skip


def assess(price: records.Price, cost_model: str, today: dt.date, stale_days: int | None = None) -> Quote:
    """A known price as a Quote: its age on ``today`` and whether that makes it stale."""
    return Quote.of(price, cost_model, today, stale_days_setting(stale_days))


def quote(
    cost_model: records.QuotesCost,
    system: records.System | str,
    purchase: str = "on-demand",
    region: str | None = None,
    today: dt.date | None = None,
    stale_days: int | None = None,
    hours: float | None = None,
) -> Quote:
    """What ``system`` costs per hour under ``cost_model``, its staleness judged by the user's threshold.

    ``stale_days`` defaults to ``HWPROF_PRICE_STALE_DAYS`` or 180. Raises HwprofError naming what
    is known instead: the published-price gap, or the regions and purchase options that do have
    a price.
    """
    check_purchase(purchase)
    if region is not None:
        check_region(region, cost_model.regions, f"cost model {cost_model.id!r} has")
    if isinstance(system, str):  # a price list needs only the id
        system = records.System(id=system, name=system, kind="", chip="", chips=1,
                                source=records.Source(key="", title=""), status="official")  # fmt: skip

    def ask() -> records.Quote:
        return cost_model.quote(system, purchase, region, hours, today)

    try:
        if type(cost_model) is records.CostModel:
            found = ask()
        else:  # a plugin's object: what it prints or raises is contained like any plugin call
            from ..data.plugin_calls import call_plugin

            found = call_plugin(f"cost model {cost_model.id!r}", "its quote", ask)
    except LookupError as exc:
        raise HwprofError(str(exc)) from None
    if not isinstance(found, records.Quote):
        raise HwprofError(f"cost model {cost_model.id!r} answered {type(found).__name__}, not a Quote; "
                          "choose another with `cost_model`")  # fmt: skip
    days = stale_days_setting(stale_days)
    return attrs.evolve(found, stale=found.age_days > days, stale_days=days)


def missing_for(
    cost_model: records.QuotesCost, system_id: str | None = None, purchase: str | None = None, region: str | None = None
) -> list[records.MissingPrice]:
    """The prices ``cost_model`` records as unpublished; a cost model that computes its quotes has none."""
    if isinstance(cost_model, records.CostModel):
        return cost_model.gaps(system_id, purchase, region)
    return []


def usd_per_dense_pflops_hour(usd_per_hour: float, system: records.System, chip: records.Chip) -> dict[str, float]:
    """Price-performance per precision: what one PFLOPS of dense peak costs for an hour.

    E.g. 35.76 USD/h for 16 chips of 1,299 dense FP8 TFLOPS: 35.76 / 20.784 = 1.72 USD per PF-hour.
    """
    return {p: usd_per_hour / pflops for p, pflops in chip.dense_pflops(system.chips).items()}
