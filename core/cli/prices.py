"""``hwprof prices``: what each system costs, when that was seen, and what it buys.

The price-performance arithmetic of the source article as a command: USD per instance-hour, per
chip-hour and per dense PFLOPS-hour of each precision, each price with its date, age and source,
and the prices known to be unpublished, with why. Plugins may add commands to this group (a
cloud's plugin adds ``refresh``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import attrs
import typer

from ..cost import pricing
from ..data import records
from ..data.hookspecs import hookimpl
from ..errors import HwprofError, did_you_mean
from .common import FormatOpt, JsonFlag, complete_cost_models, complete_systems
from .groups import OptionGroup, grouped
from .render import LEGEND, Cell, Pairs, Table, emit, exact, number, output_format, warn

prices_app = typer.Typer(
    help="Prices from the cost models, each dated: per hour, per chip-hour and per PFLOPS-hour.",
    no_args_is_help=True,
)

StaleDays = Annotated[
    int | None,
    typer.Option(
        "--stale-days",
        help=f"Flag prices observed more than this many days ago "
        f"(default {pricing.DEFAULT_STALE_DAYS}, or {pricing.STALE_DAYS_ENV}).",
    ),
]
AsOf = Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="Age prices as of this date, not today.")]
CostModelOption = Annotated[
    str | None, typer.Option("--cost-model", autocompletion=complete_cost_models, help="Only this cost model.")
]
HEADLINE = ("fp8", "bf16")  # the precisions the list shows price-performance for


def _registry() -> Any:
    from ..service.session import current_registry as reg

    return reg()


@attrs.frozen
class PriceOptions(OptionGroup):
    """Which prices, aged as of when: --cost-model, --stale-days, --as-of."""

    cost_model: CostModelOption = None
    stale_days: StaleDays = None
    as_of: AsOf = None

    def clock(self) -> tuple[dt.date, int]:
        """(the day prices are aged as of, the age in days past which a price is stale)."""
        today = pricing.parse_date(self.as_of, "as_of") if self.as_of else dt.date.today()
        return today, pricing.stale_days_setting(self.stale_days)

    def models(self, r: Any) -> list[records.CostModel]:
        """The cost model --cost-model names, or every one loaded."""
        return (
            [r.cost_model(self.cost_model)] if self.cost_model else sorted(r.cost_models.values(), key=lambda m: m.id)
        )


def price_json(r: Any, q: pricing.Quote) -> dict[str, Any]:
    """One price with its age and what it buys per chip-hour and per dense PFLOPS-hour."""
    system = r.systems.get(q.price.system)
    chip = r.chips.get(system.chip) if system else None
    out = q.as_json()
    out["usd_per_chip_hour"] = q.usd_per_chip_hour(system.chips) if system else None
    out["usd_per_dense_pflops_hour"] = (
        pricing.usd_per_dense_pflops_hour(q.usd_per_hour, system, chip) if system and chip else {}
    )
    out["note"] = q.price.note
    return out


def missing_json(cost_model: str, gap: records.MissingPrice) -> dict[str, Any]:
    from ..jsonable import source_json

    return {"cost_model": cost_model, "system": gap.system, "purchase": gap.purchase, "region": gap.region,
            "reason": gap.reason, "source": source_json(gap.source)}  # fmt: skip


def _age(row: dict[str, Any]) -> object:
    """Days since observed; '?' for an undated source (its recorded date is not its age)."""
    return "?" if row.get("undated") else row["age_days"]


def _flags(row: dict[str, Any]) -> str:
    flags = (("stale", row["stale"]), ("volatile", row["volatile"]), ("undated", row.get("undated")))
    return ", ".join(f for f, on in flags if on) or "-"


def _missing_lines(missing: list[dict[str, Any]]) -> list[str]:
    if not missing:
        return []
    lines = ["", "no published price:"]
    for g in missing:
        where = "" if g["region"] == "*" else f" in {g['region']}"
        lines.append(f"  {g['system']} {g['purchase']}{where}: {g['reason']} [{g['cost_model']}]")
    return lines


def _footer(today: dt.date, stale_days: int) -> str:
    return (f"USD/PF-h: per PFLOPS-hour of dense peak; stale: observed more than {stale_days} days "
            f"before {today.isoformat()}\n{LEGEND}")  # fmt: skip


@prices_app.command("list")
@grouped
def prices_list(
    system: Annotated[
        str | None, typer.Option("--system", autocompletion=complete_systems, help="Only this system id.")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="Only this region, e.g. us-east-1.")] = None,
    purchase: Annotated[str | None, typer.Option("--purchase", help="on-demand, capacity-block, spot, ...")] = None,
    prices: PriceOptions = PriceOptions(),
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Known prices, each with the date it was observed, its age and its source."""
    r = _registry()
    (today, days), models, cost_model = prices.clock(), prices.models(r), prices.cost_model
    if purchase is not None:
        pricing.check_purchase(purchase)
    if region is not None:
        whose = f"cost model {cost_model!r} has" if cost_model else "the cost models have"
        pricing.check_region(region, sorted({p.region for m in models for p in getattr(m, "prices", ())}), whose)
    if system is not None:
        known = set(r.systems) | {p.system for m in models for p in getattr(m, "prices", ())}
        if system not in known:
            raise HwprofError(f"--system {system}: unknown system{did_you_mean(system, known)}; "
                              f"known: {', '.join(sorted(known))}")  # fmt: skip
    for m in models:
        for name in sorted({p.system for p in getattr(m, "prices", ())} - set(r.systems)):
            warn(f"cost model {m.id!r} prices {name!r}, which no plugin or profile registers"
                 f"{did_you_mean(name, list(r.systems))}")  # fmt: skip
    quotes = [pricing.assess(p, m.id, today, days) for m in models for p in getattr(m, "prices", ())
              if (system is None or p.system == system) and (region is None or p.region == region)
              and (purchase is None or p.purchase == purchase)]  # fmt: skip
    quotes.sort(key=lambda q: (q.price.system, q.price.purchase, q.price.region, q.cost_model))
    rows = [price_json(r, q) for q in quotes]
    missing = [missing_json(m.id, g) for m in models for g in pricing.missing_for(m, system, purchase, region)]
    data = {"as_of": today.isoformat(), "stale_days": days, "prices": rows, "missing": missing}
    cells = [[
        row["system"], row["region"], row["purchase"], _price(row), row["usd_per_chip_hour"],
        *(row["usd_per_dense_pflops_hour"].get(p) for p in HEADLINE),
        row["observed"], _age(row), _flags(row), row["cost_model"],
    ] for row in rows]  # fmt: skip
    headers = ["system", "region", "purchase", "USD/h", "USD/chip-h", *(f"USD/PF-h {p}" for p in HEADLINE),
               "observed", "age d", "flags", "model"]  # fmt: skip
    footer = "\n".join([_footer(today, days), *_missing_lines(missing)])
    fmt = output_format(fmt, as_json)
    if not cells and fmt == "table":
        emit(fmt, data, lambda: [Pairs([], title="no prices match", footer=footer)])
        return
    emit(fmt, data, lambda: [Table(headers, cells, footer=footer)])


def _price(row: dict[str, Any]) -> Cell:
    """A price with every digit it was published with, its status and its source."""
    source = row["source"]["title"] + (f", {row['source']['url']}" if row["source"].get("url") else "")
    return Cell(exact(row["usd_per_hour"]), row["usd_per_hour"], row["status"], source)


@prices_app.command("show")
@grouped
def prices_show(
    system_id: Annotated[str, typer.Argument(metavar="SYSTEM", autocompletion=complete_systems, help="A system id.")],
    prices: PriceOptions = PriceOptions(),
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Every price of one system: per chip-hour and per dense PFLOPS-hour of each precision."""
    r = _registry()
    (today, days), models = prices.clock(), prices.models(r)
    system = r.system(system_id)
    chip = r.chip(system.chip)
    quotes = [
        pricing.assess(p, m.id, today, days) for m in models for p in getattr(m, "prices", ()) if p.system == system.id
    ]
    quotes.sort(key=lambda q: (q.price.purchase, q.price.region, q.cost_model))
    rows = [price_json(r, q) for q in quotes]
    missing = [missing_json(m.id, g) for m in models for g in pricing.missing_for(m, system.id)]
    peaks = chip.dense_pflops(system.chips)
    data = {"system": system.id, "name": system.name, "chip": chip.id, "chips": system.chips,
            "peak_dense_pflops": peaks, "as_of": today.isoformat(), "stale_days": days,
            "prices": rows, "missing": missing}  # fmt: skip
    footer = "\n".join([_footer(today, days), *_missing_lines(missing)])

    def blocks() -> list[Pairs | Table]:
        head = Pairs([("dense PFLOPS", ", ".join(f"{p} {number(v)}" for p, v in peaks.items()))],
                     title=f"{system.id}: {system.chips} x {chip.id}")  # fmt: skip
        if not rows:
            return [head, Pairs([], title=f"no price known for {system.id}", footer=footer)]
        cells = [[row["purchase"], row["region"], _price(row), row["usd_per_chip_hour"], row["observed"],
                  _age(row), _flags(row), row["source"]["title"], row["cost_model"]] for row in rows]  # fmt: skip
        headers = ["purchase", "region", "USD/h", "USD/chip-h", "observed", "age d", "flags", "source", "model"]
        perf = [[row["purchase"], row["region"], row["cost_model"],
                 *(row["usd_per_dense_pflops_hour"][p] for p in peaks)] for row in rows]  # fmt: skip
        return [head, Table(headers, cells),
                Table(["purchase", "region", "model", *peaks], perf, title="USD per dense PFLOPS-hour", footer=footer)]  # fmt: skip

    emit(output_format(fmt, as_json), data, blocks)


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(prices_app, name="prices")
