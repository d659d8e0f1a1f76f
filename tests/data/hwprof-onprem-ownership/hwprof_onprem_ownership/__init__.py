"""hwprof plugin hwprof-onprem-ownership: a cost model that computes, rather than looks up, what an
hour of a system costs when you own it. Assumptions are in ownership.toml.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib.resources import files

import attrs

from hwprof.core import hookimpl
from hwprof.core.cost import pricing
from hwprof.core.data import records
from hwprof.core.errors import HwprofError

HOURS_PER_YEAR = 8760.0


@attrs.frozen
class ChipCosts:
    purchase_usd: float
    power_kw: float
    hosting_usd_per_year: float
    statuses: tuple[str, ...]


@attrs.frozen
class Ownership:
    """Purchase price amortised over the years, plus power x PUE x price of energy, plus hosting."""

    id: str
    name: str
    as_of: dt.date
    years: float
    pue: float
    usd_per_kwh: float
    region: str
    chips: dict[str, ChipCosts]
    source: records.Source

    @property
    def regions(self) -> list[str]:
        return [self.region]

    def priced_systems(self) -> set[str]:
        return set()  # any system whose chip has costs; plan needs explicit --systems

    def quote(
        self,
        system: records.System,
        purchase: str = "on-demand",
        region: str | None = None,
        hours: float | None = None,
        today: dt.date | None = None,
    ) -> pricing.Quote:
        if purchase != "ownership":
            raise HwprofError(f"cost model {self.id!r} quotes owned hardware only (purchase 'ownership')")
        if region not in (None, self.region):
            raise HwprofError(f"cost model {self.id!r} quotes only region {self.region!r}")
        costs = self.chips.get(system.chip)
        if costs is None:
            raise HwprofError(f"cost model {self.id!r} has no ownership costs for chip {system.chip!r}; "
                              f"it knows {', '.join(sorted(self.chips))}")
        capital = costs.purchase_usd / (self.years * HOURS_PER_YEAR)
        energy = costs.power_kw * self.pue * self.usd_per_kwh
        hosting = costs.hosting_usd_per_year / HOURS_PER_YEAR
        usd_per_hour = system.chips * (capital + energy + hosting)
        status = "estimated" if "estimated" in costs.statuses else "derived"
        price = records.Price(system=system.id, region=self.region, purchase="ownership", usd_per_hour=usd_per_hour,
                              observed=self.as_of, source=self.source, status=status)
        basis = (f"{system.chips} chips x ({costs.purchase_usd:,.0f} USD / ({self.years:g} y x 8,760 h) + "
                 f"{costs.power_kw:g} kW x PUE {self.pue:g} x {self.usd_per_kwh:g} USD/kWh + "
                 f"{costs.hosting_usd_per_year:,.0f} USD/y / 8,760 h)")
        quote = pricing.assess(price, self.id, today or dt.date.today())
        return attrs.evolve(quote, basis=basis)


def ownership_model() -> Ownership:
    data = tomllib.loads(files(__name__).joinpath("ownership.toml").read_text(encoding="utf-8"))
    chips = {}
    for chip_id, figures in data["chips"].items():
        chips[chip_id] = ChipCosts(
            purchase_usd=figures["purchase_usd_per_chip"]["value"],
            power_kw=figures["power_kw_per_chip"]["value"],
            hosting_usd_per_year=figures["hosting_usd_per_chip_year"]["value"],
            statuses=tuple(f["status"] for f in figures.values()),
        )
    source = records.Source(key="ownership", title=f"{data['name']}: ownership.toml of hwprof-onprem-ownership",
                            date=data["as_of"])
    return Ownership(id=data["id"], name=data["name"], as_of=data["as_of"], years=data["amortisation_years"],
                     pue=data["pue"], usd_per_kwh=data["usd_per_kwh"], region=data["region"], chips=chips,
                     source=source)


@hookimpl
def hwprof_register_cost_models() -> list[Ownership]:
    return [ownership_model()]
