"""Quotes from the AWS cost model: unit prices by hand arithmetic from the TOML, staleness on a
fixed clock, the known gaps, a user's own cost model beside AWS, and bad price input.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hwprof.cli import app as cli
from hwprof.cost import pricing
from hwprof.data import registry
from hwprof.data.schema import load_text
from hwprof.errors import HwprofError, ProfileError
from tests import FIXTURES
from tests.facts import facts


@pytest.fixture
def aws(reg: registry.Registry) -> object:
    return reg.cost_model("aws")


DAY = dt.date(2026, 11, 25)


# ----------------------------------------------------------------------------- unit prices


@pytest.mark.parametrize(
    ("system", "region", "usd", "chips", "per_chip"),
    [
        ("p5.48xlarge", "us-east-1", 55.04, 8, 6.88),  # 55.04 / 8
        ("p5en.48xlarge", "us-west-2", 63.296, 8, 7.912),  # 63.296 / 8
        ("trn2.48xlarge", "us-east-2", 35.76, 16, 2.235),  # 35.76 / 16
    ],
)
def test_on_demand_per_chip_hour(reg, aws, system, region, usd, chips, per_chip):
    q = pricing.quote(aws, system, "on-demand", region, today=DAY)
    assert q.usd_per_hour == usd
    assert reg.system(system).chips == chips
    assert q.usd_per_chip_hour(chips) == pytest.approx(per_chip)


def test_price_performance_per_dense_pflops_hour(reg, aws):
    # The article's arithmetic: 16 x 1,299 = 20,784 TFLOPS = 20.784 PF; 8 x 1,979 = 15.832 PF.
    trn2, p5 = reg.system("trn2.48xlarge"), reg.system("p5.48xlarge")
    trn2_unit = pricing.usd_per_dense_pflops_hour(35.76, trn2, reg.chip("trainium2"))
    p5_unit = pricing.usd_per_dense_pflops_hour(55.04, p5, reg.chip("h100-sxm"))
    assert trn2_unit["fp8"] == pytest.approx(35.76 / 20.784) == pytest.approx(1.7206, abs=1e-4)
    assert p5_unit["fp8"] == pytest.approx(55.04 / 15.832) == pytest.approx(3.4765, abs=1e-4)
    assert trn2_unit["bf16"] == pytest.approx(35.76 / (16 * 0.667))  # 667 dense BF16 TFLOPS per chip
    assert p5_unit["bf16"] == pytest.approx(55.04 / (8 * 0.9895))  # 989.5
    # Trn2 at list price costs about 0.43x P5en per FP8 PF-hour (fact sheet, section 4).
    p5en_fp8 = pricing.usd_per_dense_pflops_hour(63.296, reg.system("p5en.48xlarge"), reg.chip("h200-sxm"))["fp8"]
    assert trn2_unit["fp8"] / p5en_fp8 == pytest.approx(0.43, abs=0.005)


def test_without_region_the_cheapest_region_is_chosen(aws):
    q = pricing.quote(aws, "p5en.48xlarge", "spot", today=DAY)
    assert (q.price.region, q.usd_per_hour) == ("us-east-2", 26.57)  # 27.20, 26.57, 26.94
    assert q.price.volatile
    assert any("changes often" in w for w in q.warnings())


def test_capacity_block_is_its_own_purchase_option(aws):
    q = pricing.quote(aws, "p5.48xlarge", "capacity-block", "us-east-1", today=DAY)
    assert q.usd_per_hour == 39.33
    assert q.usd_per_chip_hour(8) == pytest.approx(4.916, abs=1e-3)  # the A3 page's per-GPU figure


# ----------------------------------------------------------------------------- staleness


def test_staleness_on_a_fixed_clock(aws):
    # trn2.48xlarge was observed 2025-11-30: 180 days later it is fresh, 181 days later stale.
    observed = dt.date(2025, 11, 30)
    fresh = pricing.quote(aws, "trn2.48xlarge", today=observed + dt.timedelta(days=180))
    stale = pricing.quote(aws, "trn2.48xlarge", today=observed + dt.timedelta(days=181))
    assert (fresh.age_days, fresh.stale, fresh.warnings()) == (180, False, [])
    assert (stale.age_days, stale.stale) == (181, True)
    assert stale.warnings() == [
        "price of trn2.48xlarge (on-demand, us-east-2) was observed 2025-11-30, 181 days ago "
        "(older than 180 days): it may be stale"
    ]
    assert stale.as_json()["stale"] is True and stale.as_json()["warnings"] == stale.warnings()


def test_a_price_dated_after_today_says_so(aws):
    # trn2.48xlarge observed 2025-11-30, read on 2025-11-20: ten days in the future (a typo, or announced ahead)
    early = pricing.quote(aws, "trn2.48xlarge", today=dt.date(2025, 11, 20))
    assert (early.age_days, early.stale) == (-10, False)
    [warning] = early.warnings()
    facts(warning, "trn2.48xlarge", "2025-11-30", "10 days after today", "check its observed date")
    assert pricing.quote(aws, "trn2.48xlarge", today=dt.date(2025, 11, 30)).warnings() == []  # the same day


def test_stale_days_from_argument_and_environment(aws, monkeypatch):
    today = dt.date(2026, 2, 20)  # p5 on-demand observed 2026-01-21: 30 days
    assert pricing.quote(aws, "p5.48xlarge", today=today).stale is False
    assert pricing.quote(aws, "p5.48xlarge", today=today, stale_days=29).stale is True
    monkeypatch.setenv("HWPROF_PRICE_STALE_DAYS", "29")
    assert pricing.quote(aws, "p5.48xlarge", today=today).stale is True
    assert pricing.quote(aws, "p5.48xlarge", today=today, stale_days=30).stale is False  # argument wins


@pytest.mark.parametrize("raw", ["soon", "-3", "1.5"])
def test_bad_stale_days_environment_is_one_line(aws, monkeypatch, raw):
    monkeypatch.setenv("HWPROF_PRICE_STALE_DAYS", raw)
    with pytest.raises(HwprofError) as err:
        pricing.quote(aws, "p5.48xlarge", today=DAY)
    assert str(err.value).startswith(f"HWPROF_PRICE_STALE_DAYS={raw!r}: expected a whole number of days")
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- gaps and bad choices


def test_p5e_on_demand_is_named_missing_not_invented(aws):
    with pytest.raises(HwprofError) as err:
        pricing.quote(aws, "p5e.48xlarge", "on-demand", today=DAY)
    message = str(err.value)
    assert "no on-demand price for p5e.48xlarge" in message and "Capacity Blocks" in message
    assert "it has capacity-block in us-east-2" in message


@pytest.mark.parametrize("system", ["p5.48xlarge", "p5en.48xlarge", "trn2.48xlarge"])
def test_savings_plans_are_recorded_missing(aws, system):
    for purchase in ("savings-plan-1yr", "savings-plan-3yr"):
        gaps = pricing.missing_for(aws, system, purchase)
        assert len(gaps) == 1 and "Savings Plans rate" in gaps[0].reason
        with pytest.raises(HwprofError, match="Savings Plans rate"):
            pricing.quote(aws, system, purchase, today=DAY)


def test_trn2_region_gap_names_the_only_region(aws):
    with pytest.raises(HwprofError, match="the only listing is us-east-2"):
        pricing.quote(aws, "trn2.48xlarge", "on-demand", "us-east-1", today=DAY)


def test_unknown_region_lists_the_known_ones(aws):
    with pytest.raises(HwprofError) as err:
        pricing.quote(aws, "p5.48xlarge", region="us-east-3", today=DAY)
    assert str(err.value).startswith("region us-east-3") and "--region" not in str(err.value)  # domain words
    message = err.value.for_cli()  # what the command line prints
    assert message.startswith("--region us-east-3")
    facts(message, "cost model 'aws'", "no prices", "did you mean 'us-east-2'", "us-east-1, us-east-2, us-west-2")


def test_unknown_purchase_lists_the_known_ones(aws):
    with pytest.raises(HwprofError) as err:
        pricing.quote(aws, "p5.48xlarge", purchase="ondemand", today=DAY)
    assert str(err.value).startswith("purchase ondemand") and "unknown purchase option" in str(err.value)
    facts(err.value.for_cli(), "--purchase ondemand", "unknown purchase option", "did you mean 'on-demand'")
    assert "known: on-demand, capacity-block, spot, savings-plan-1yr" in str(err.value)


# ----------------------------------------------------------------------------- a user's own prices

NEGOTIATED = (FIXTURES / "negotiated_prices.toml").read_text(encoding="utf-8")


def test_two_cost_models_quote_the_same_system(tmp_path):
    (tmp_path / "mine.toml").write_text(NEGOTIATED, encoding="utf-8")
    reg = registry.build(registry.Settings(profile_dirs=(tmp_path,)))
    assert set(reg.cost_models) == {"aws", "acme-negotiated"}
    list_price = pricing.quote(reg.cost_model("aws"), "p5.48xlarge", "on-demand", "us-east-1", today=DAY)
    ours = pricing.quote(reg.cost_model("acme-negotiated"), "p5.48xlarge", "negotiated", today=DAY)
    assert ours.usd_per_hour == pytest.approx(55.04 * 0.75)
    assert ours.usd_per_chip_hour(8) == pytest.approx(41.28 / 8) == pytest.approx(5.16)
    assert ours.age_days == 55 and not ours.stale  # 2026-10-01 -> 2026-11-25
    assert ours.usd_per_hour / list_price.usd_per_hour == pytest.approx(0.75)
    assert reg.provider("cost_models", "acme-negotiated") == f"profile {tmp_path / 'mine.toml'}"


def test_negotiated_model_has_no_on_demand_and_says_so():
    model = load_text(NEGOTIATED, "mine.toml").cost_model[0]
    with pytest.raises(HwprofError, match="it has negotiated in us-east-1"):
        pricing.quote(model, "p5.48xlarge", "on-demand", today=DAY)


# ----------------------------------------------------------------------------- bad price profiles


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("usd_per_hour = 41.28", "usd_per_hour = -41.28",
         "mine.toml:15: cost_model[0].prices[0].usd_per_hour: expected a positive number, got a number -41.28"),
        ("usd_per_hour = 41.28", 'usd_per_hour = "41.28"',
         "mine.toml:15: cost_model[0].prices[0].usd_per_hour: expected a positive number, got text '41.28'"),
        ("observed = 2026-10-01\n", "",
         "mine.toml:11: cost_model[0].prices[0].observed: missing required key (when the price was seen or "
         "published)"),
        ('source = "contract"\n', "",
         "mine.toml:11: cost_model[0].prices[0].source: missing required key (key of a [sources] entry)"),
        ('purchase = "negotiated"', 'purchase = "reserved"',
         "mine.toml:14: cost_model[0].prices[0].purchase: unknown purchase option (did you mean 'reserved-"),
    ],
)  # fmt: skip
def test_bad_price_is_one_line_with_file_line_and_key(old, new, expected):
    with pytest.raises(ProfileError) as err:
        load_text(NEGOTIATED.replace(old, new, 1), "mine.toml")
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(expected)


def test_bad_price_file_fails_the_cli_in_strict_mode(tmp_path: Path, capsys):
    (tmp_path / "mine.toml").write_text(NEGOTIATED.replace("usd_per_hour = 41.28", "usd_per_hour = -1"), "utf-8")
    code = cli.main(["--strict-plugins", "--profiles", str(tmp_path), "prices", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "strict mode" in err
    assert "mine.toml:15: cost_model[0].prices[0].usd_per_hour: expected a positive number" in err


def test_bad_price_file_is_skipped_with_a_warning_otherwise(tmp_path: Path, capsys):
    (tmp_path / "mine.toml").write_text(NEGOTIATED.replace('source = "contract"\n', ""), "utf-8")
    code = cli.main(["--profiles", str(tmp_path), "prices", "list", "--cost-model", "aws"])
    captured = capsys.readouterr()
    assert code == 0
    assert "the file is skipped" in captured.err and ".source: missing required key" in captured.err
    assert "acme-negotiated" not in captured.out


def test_an_undated_source_has_no_age_only_a_recorded_date(reg: registry.Registry) -> None:
    import attrs

    from hwprof.data import records

    price = next(p for m in reg.cost_models.values() for p in getattr(m, "prices", ())
                 if p.system == "p5en.48xlarge" and p.purchase == "capacity-block")  # fmt: skip
    assert price.undated and price.usd_per_hour == 41.61
    years_later = price.observed + dt.timedelta(days=3000)
    quote = records.Quote.of(price, "aws", years_later, stale_days=180)
    assert not quote.stale and quote.as_json()["undated"] is True
    assert any("undated source" in w and "its age is unknown" in w for w in quote.warnings())
    dated = records.Quote.of(attrs.evolve(price, undated=False), "aws", years_later, stale_days=180)
    assert dated.stale and not any("undated" in w for w in dated.warnings())
