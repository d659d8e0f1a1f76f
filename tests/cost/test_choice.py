"""Several cost models at once: each prices a system under the first purchase option it has, the
best quote is the most preferred option's cheapest, a model with no price gives no quote but a
reason, and a model named on its own may price its own way (ownership)."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hwprof.cost import choice
from hwprof.data import registry
from hwprof.data.schema import load_file
from hwprof.errors import HwprofError
from tests import FIXTURES
from tests.facts import facts

TODAY = dt.date(2026, 12, 7)


@pytest.fixture
def onprem(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(FIXTURES / "hwprof-onprem-ownership"))
    yield importlib.import_module("hwprof_onprem_ownership")
    sys.modules.pop("hwprof_onprem_ownership", None)


@pytest.fixture
def models(onprem: ModuleType, reg: registry.Registry) -> dict[str, object]:
    negotiated = load_file(Path(FIXTURES / "negotiated_prices.toml")).cost_model[0]
    return {"aws": reg.cost_model("aws"), "acme-negotiated": negotiated, "onprem": onprem.ownership_model()}


def test_the_negotiated_rate_beats_the_list_price_and_the_list_is_named(
    models: dict[str, object], reg: registry.Registry
) -> None:
    p5 = reg.system("p5.48xlarge")
    priced = choice.prices(choice.select(models, None), p5, ["on-demand", "negotiated"], today=TODAY)  # type: ignore[arg-type]
    # on-demand first in the user's order: aws's 55.04 list price is the best on-demand quote; the
    # negotiated 41.28 (25% off) comes second because negotiated is the second preference.
    assert [(q.cost_model, q.price.purchase, q.usd_per_hour) for q in priced.quotes] == [
        ("aws", "on-demand", 55.04), ("acme-negotiated", "negotiated", 41.28)]  # fmt: skip
    # Preferring the negotiated rate puts it first.
    first = choice.prices(choice.select(models, None), p5, ["negotiated", "on-demand"], today=TODAY)  # type: ignore[arg-type]
    assert first.best is not None and (first.best.cost_model, first.best.usd_per_hour) == ("acme-negotiated", 41.28)
    facts(first.named(), "aws", "55.04 USD/h", "on-demand", "us-east-1")
    # The ownership model prices only owned hardware: no quote, a reason.
    assert first.gaps == {"onprem": "cost model 'onprem' quotes owned hardware only (purchase 'ownership')"}


def test_among_equals_the_cheapest_wins(models: dict[str, object], reg: registry.Registry) -> None:
    p5 = reg.system("p5.48xlarge")
    priced = choice.prices(choice.select(models, None), p5, ["negotiated", "on-demand", "ownership"], today=TODAY)  # type: ignore[arg-type]
    # 41.28 negotiated first (most preferred), then 55.04 on-demand, then 10.6867 ownership: the
    # order of preference decides before the price does.
    assert [q.cost_model for q in priced.quotes] == ["acme-negotiated", "aws", "onprem"]
    assert priced.quotes[2].usd_per_hour == pytest.approx(8 * (35000 / 35040 + 1.275 * 1.3 * 0.1 + 1500 / 8760))


def test_a_model_named_alone_prices_its_own_way(models: dict[str, object], reg: registry.Registry) -> None:
    board = reg.system("hgx-h100-8")
    only = choice.select(models, ["onprem"])  # type: ignore[arg-type]
    assert choice.prices(only, board, ["on-demand"], today=TODAY).best is None
    own = choice.prices(only, board, ["on-demand"], today=TODAY, any_purchase=True).best
    assert (
        own is not None and own.price.purchase == "ownership" and own.usd_per_hour == pytest.approx(10.6867, abs=1e-4)
    )


def test_no_price_no_quote(models: dict[str, object], reg: registry.Registry) -> None:
    trn2 = reg.system("trn2.48xlarge")
    priced = choice.prices(choice.select(models, None), trn2, ["on-demand"], today=TODAY)  # type: ignore[arg-type]
    assert [q.cost_model for q in priced.quotes] == ["aws"]
    assert set(priced.gaps) == {"acme-negotiated", "onprem"}
    assert choice.prices(choice.select(models, None), trn2, ["on-demand"], region="eu-west-1", today=TODAY).quotes == ()  # type: ignore[arg-type]


def test_an_unknown_cost_model_is_refused_with_the_known_ones(models: dict[str, object]) -> None:
    with pytest.raises(HwprofError, match=r"did you mean 'onprem'.*known: acme-negotiated, aws, onprem"):
        choice.select(models, ["onprm"])  # type: ignore[arg-type]
