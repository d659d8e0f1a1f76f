"""``hwprof prices list`` and ``prices show``: dates, ages, stale flags and price-performance,
checked against hand arithmetic from profiles/aws_pricing.toml, on a fixed clock (``--as-of``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests import FIXTURES

Run = Callable[..., tuple[int, str, str]]


def rows_of(out: str) -> list[dict]:
    return json.loads(out)["prices"]


def test_list_json_has_dates_ages_and_unit_prices(hwprof):
    code, out, err = hwprof("prices", "list", "--system", "p5.48xlarge", "--purchase", "on-demand",
                            "--as-of", "2026-11-25", "--json")  # fmt: skip
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["as_of"], data["stale_days"]) == ("2026-11-25", 180)
    rows = data["prices"]
    assert [r["region"] for r in rows] == ["us-east-1", "us-east-2", "us-west-2"]
    row = rows[0]
    assert row["usd_per_hour"] == 55.04 and row["observed"] == "2026-01-21"
    assert row["age_days"] == 308  # 2026-01-21 -> 2026-11-25: 10 + 28 + 31 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 25
    assert row["stale"] is True and "may be stale" in row["warnings"][0]
    assert row["usd_per_chip_hour"] == pytest.approx(55.04 / 8)
    assert row["usd_per_dense_pflops_hour"]["fp8"] == pytest.approx(55.04 / 15.832)
    assert row["source"]["title"].startswith("instances.vantage.sh")
    assert row["status"] == "reported"


def test_list_table_shows_article_arithmetic(hwprof):
    code, out, _ = hwprof("prices", "list", "--purchase", "on-demand", "--region", "us-east-2", "--as-of", "2026-11-25")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("p5", "trn2"))}
    # trn2: 35.76 / 16 = 2.235 per chip-hour, 35.76 / 20.784 = 1.72 per FP8 PF-hour, 35.76 / 10.672 = 3.35 BF16
    assert lines["trn2.48xlarge"].split()[3:8] == ["35.76", "(r)", "2.23", "1.72", "3.35"]
    # p5: 55.04 / 8 = 6.88; 55.04 / 15.832 = 3.48; 55.04 / 7.916 = 6.95
    assert lines["p5.48xlarge"].split()[3:8] == ["55.04", "(r)", "6.88", "3.48", "6.95"]
    # p5en: 63.296 / 8 = 7.912; 63.296 / 15.832 = 4.00; 63.296 / 7.916 = 8.00
    assert lines["p5en.48xlarge"].split()[3:8] == ["63.296", "(r)", "7.91", "4", "8"]  # as published
    assert "stale: observed more than 180 days before 2026-11-25" in out
    assert "p5e.48xlarge on-demand: AWS lists no on-demand price" in out


def test_stale_flag_follows_clock_flag_and_environment(hwprof, monkeypatch):
    def trn2(*extra: str) -> dict:
        code, out, _ = hwprof("prices", "list", "--system", "trn2.48xlarge", "--purchase", "on-demand", "--json",
                              *extra)  # fmt: skip
        assert code == 0
        return rows_of(out)[0]

    # observed 2025-11-30; 2026-05-29 is day 180, 2026-05-30 day 181
    assert (trn2("--as-of", "2026-05-29")["age_days"], trn2("--as-of", "2026-05-29")["stale"]) == (180, False)
    assert (trn2("--as-of", "2026-05-30")["age_days"], trn2("--as-of", "2026-05-30")["stale"]) == (181, True)
    assert trn2("--as-of", "2026-05-29", "--stale-days", "179")["stale"] is True
    monkeypatch.setenv("HWPROF_PRICE_STALE_DAYS", "400")
    assert trn2("--as-of", "2026-11-25")["stale"] is False  # 360 days old, under 400
    assert trn2("--as-of", "2026-11-25", "--stale-days", "90")["stale"] is True  # the flag wins


def test_show_gives_every_precision_and_the_gaps(hwprof):
    code, out, err = hwprof("prices", "show", "trn2.48xlarge", "--as-of", "2026-11-25", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["chips"] == 16
    assert data["peak_dense_pflops"]["fp8"] == pytest.approx(20.784)
    (price,) = data["prices"]
    assert price["usd_per_dense_pflops_hour"] == pytest.approx({
        "fp8": 35.76 / 20.784, "bf16": 35.76 / 10.672, "fp16": 35.76 / 10.672, "tf32": 35.76 / 10.672,
        "fp32": 35.76 / 2.896,  # 16 x 181 TFLOPS
    })  # fmt: skip
    assert price["age_days"] == 360 and price["stale"] is True
    gaps = {(g["purchase"], g["region"]) for g in data["missing"]}
    assert {("capacity-block", "*"), ("on-demand", "us-east-1"), ("savings-plan-1yr", "*")} <= gaps


def test_show_table(hwprof):
    code, out, _ = hwprof("prices", "show", "p5en.48xlarge", "--as-of", "2026-11-25")
    assert code == 0
    assert out.startswith("p5en.48xlarge: 8 x h200-sxm\n")
    assert "USD per dense PFLOPS-hour" in out
    spot = [line for line in out.splitlines() if line.startswith("spot ") and "us-east-2" in line]
    assert spot[0].split()[2:6] == ["26.57", "(r)", "3.32", "2026-08-06"]  # 26.57 / 8 = 3.32
    assert "volatile" in spot[0]
    assert "p5en.48xlarge savings-plan-1yr: no P5en Savings Plans rate found" in out


def test_show_system_without_any_price(hwprof):
    code, out, _ = hwprof("prices", "show", "trn3-ultraserver-144")
    assert code == 0
    assert "no price known for trn3-ultraserver-144" in out
    assert "no Trn3 instance names or prices published" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--region", "eu-west-9"), "error: --region eu-west-9: the cost models have no prices there"),
        (("--purchase", "reserved"), "error: --purchase reserved: unknown purchase option (did you mean"),
        (("--system", "p5.48xlarg"), "error: --system p5.48xlarg: unknown system (did you mean 'p5.48xlarge'"),
        (("--stale-days", "-1"), "error: --stale-days -1: must be a whole number of days, 0 or more"),
        (("--as-of", "yesterday"), "error: --as-of yesterday: expected a date like 2026-01-31"),
        (("--cost-model", "gcp"), "error: unknown cost model 'gcp'"),
    ],
)
def test_list_bad_input_is_one_line(hwprof, args, expected):
    code, out, err = hwprof("prices", "list", *args)
    assert code == 1 and out == ""
    assert err.startswith(expected) and err.count("\n") == 1


def test_unknown_region_and_purchase_list_the_known_ones(hwprof):
    _, _, err = hwprof("prices", "list", "--region", "eu-west-9")
    assert err.rstrip().endswith("known regions: us-east-1, us-east-2, us-west-2")
    _, _, err = hwprof("prices", "list", "--purchase", "reserved")
    assert "known: on-demand, capacity-block, spot, savings-plan-1yr, savings-plan-3yr, reserved-1yr" in err


def test_known_purchase_without_prices_shows_the_gaps(hwprof):
    code, out, _ = hwprof("prices", "list", "--purchase", "savings-plan-3yr", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["prices"] == []
    assert sorted(g["system"] for g in data["missing"]) == ["p5.48xlarge", "p5en.48xlarge", "trn2.48xlarge"]


NEGOTIATED = (FIXTURES / "negotiated_prices.toml").read_text(encoding="utf-8")


def test_user_cost_model_is_listed_beside_aws(hwprof, tmp_path):
    (tmp_path / "mine.toml").write_text(NEGOTIATED, encoding="utf-8")
    code, out, err = hwprof("--profiles", tmp_path, "prices", "list", "--system", "p5.48xlarge", "--region",
                            "us-east-1", "--json")  # fmt: skip
    assert (code, err) == (0, "")
    by_model = {(r["cost_model"], r["purchase"]): r["usd_per_hour"] for r in rows_of(out)}
    assert by_model == {("acme-negotiated", "negotiated"): 41.28, ("aws", "on-demand"): 55.04,
                        ("aws", "capacity-block"): 39.33}  # fmt: skip


def test_prices_keep_their_published_digits(run_cli: Any) -> None:
    out = run_cli("prices", "list", "--system", "p5en.48xlarge", "--purchase", "on-demand").out
    assert "63.296" in out
