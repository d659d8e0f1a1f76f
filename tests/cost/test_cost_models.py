"""Cost models are behaviour: a price list looks a price up, the example ownership package
(tests/fixtures/hwprof-onprem-ownership) computes one. Both go through the same ``quote``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from hwprof.data import records, registry
from hwprof.errors import HwprofError
from tests import FIXTURES

OWNERSHIP = FIXTURES / "hwprof-onprem-ownership"


@pytest.fixture
def ownership(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(OWNERSHIP))
    yield importlib.import_module("hwprof_onprem_ownership")
    sys.modules.pop("hwprof_onprem_ownership", None)


def test_the_price_list_quotes_through_the_same_method(builtin_registry: registry.Registry) -> None:
    aws = builtin_registry.cost_model("aws")
    assert isinstance(aws, records.QuotesCost)
    quote = aws.quote(builtin_registry.system("trn2.48xlarge"), "on-demand", "us-east-2", today=dt.date(2026, 1, 1))
    assert quote.usd_per_hour == pytest.approx(35.76)  # the listed price, looked up
    assert quote.basis == ""


def test_an_ownership_model_computes_its_quote(ownership: ModuleType, builtin_registry: registry.Registry) -> None:
    model = ownership.ownership_model()
    built = registry.build(registry.Settings(), extra_plugins=[("onprem", ownership)])
    assert built.cost_model("onprem") == model  # a plugin may register any object that quotes
    quote = model.quote(builtin_registry.system("p5.48xlarge"), "ownership", today=dt.date(2026, 11, 25))
    # 8 x (35,000 / (4 x 8,760) + 1.275 kW x 1.3 x 0.10 + 1,500 / 8,760) = 8 x 1.335841 = 10.6867 USD/h
    assert quote.usd_per_hour == pytest.approx(8 * (35000 / 35040 + 1.275 * 1.3 * 0.1 + 1500 / 8760))
    assert quote.usd_per_hour == pytest.approx(10.6867, abs=1e-4)
    assert quote.price.purchase == "ownership" and quote.price.status == "estimated"
    assert "8 chips x (35,000 USD / (4 y x 8,760 h)" in quote.basis
    assert quote.as_json()["basis"] == quote.basis


def test_an_ownership_model_says_why_it_cannot_quote(
    ownership: ModuleType, builtin_registry: registry.Registry
) -> None:
    model = ownership.ownership_model()
    with pytest.raises(HwprofError, match="no ownership costs for chip 'trainium2'"):
        model.quote(builtin_registry.system("trn2.48xlarge"), "ownership")
    with pytest.raises(HwprofError, match="owned hardware only"):
        model.quote(builtin_registry.system("p5.48xlarge"), "on-demand")


class Misbehaving:
    """A plugin's cost model whose quote prints, or raises what it should not (issue 24, items 9 and 10)."""

    id, name, regions = "odd", "Odd", ["here"]

    def __init__(self, failure: BaseException | None = None, answer: object = None) -> None:
        self.failure, self.answer = failure, answer

    def priced_systems(self) -> set[str]:
        return {"p5.48xlarge"}

    def quote(self, system: object, purchase: str = "on-demand", region: object = None, hours: object = None,
              today: object = None) -> object:  # fmt: skip
        print("quoting now")
        if self.failure is not None:
            raise self.failure
        return self.answer


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Misbehaving(KeyboardInterrupt()), "cost model 'odd' failed in its quote: KeyboardInterrupt"),
        (Misbehaving(SystemExit(3)), "cost model 'odd' failed in its quote: SystemExit: 3"),
        (Misbehaving(ZeroDivisionError("oops")), "cost model 'odd' failed in its quote: ZeroDivisionError: oops"),
        (Misbehaving(answer=12.5), "cost model 'odd' answered float, not a Quote"),
    ],
)
def test_a_plugin_cost_model_failing_is_one_error(model: Misbehaving, message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from hwprof.cost import pricing

    with pytest.raises(HwprofError) as caught:
        pricing.quote(model, "p5.48xlarge", "on-demand")  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    out, err = capsys.readouterr()
    assert out == "" and "printed to stdout during its quote" in err


def test_a_plugin_cost_model_saying_no_price_passes_through() -> None:
    from hwprof.cost import pricing

    with pytest.raises(HwprofError, match="^no such price here$"):
        pricing.quote(Misbehaving(LookupError("no such price here")), "p5.48xlarge")  # type: ignore[arg-type]
