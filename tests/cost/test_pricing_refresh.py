"""``hwprof prices refresh`` against botocore's Stubber, with GetProducts responses shaped as the
real API returns them: FormatVersion aws_v1, PriceList items as JSON strings, NextToken pages.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hwprof.cost import pricing
from hwprof.data import registry
from hwprof.data.schema import load_file
from hwprof.errors import HwprofError
from hwprof.plugins import aws_price_list
from tests.facts import error_line

boto3 = pytest.importorskip("boto3")
from botocore.stub import Stubber  # noqa: E402

TODAY = dt.date.today()
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A real ``pricing`` client whose calls are answered by the Stubber, never the network."""
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
    monkeypatch.setattr(aws_price_list, "make_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def price_item(instance_type: str, region: str, usd: str, sku: str, **extra: str) -> str:
    """One GetProducts PriceList entry: a JSON *string*, as the API sends it."""
    term, rate = f"{sku}.JRTCKXETXF", f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    return json.dumps({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
                "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
                "licenseModel": "No License required", "operation": "RunInstances", "servicecode": "AmazonEC2",
                "usagetype": f"USE2-BoxUsage:{instance_type}", "vcpu": "192", **extra,
            },
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {term: {
                "priceDimensions": {rate: {
                    "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [], "rateCode": rate,
                    "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                    "pricePerUnit": {"USD": usd},
                }},
                "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "JRTCKXETXF",
                "termAttributes": {},
            }},
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    })  # fmt: skip


def expect(stubber: Stubber, instance_type: str, region: str, items: list[str], token: str | None = None,
           next_token: str | None = None) -> None:  # fmt: skip
    params: dict[str, Any] = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1",
                              "Filters": aws_price_list.product_filters(instance_type, region)}  # fmt: skip
    if token:
        params["NextToken"] = token
    response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": items}
    if next_token:
        response["NextToken"] = next_token
    stubber.add_response("get_products", response, params)


def first_refresh(stubber: Stubber) -> None:
    # p5 in us-east-1 comes in two pages (two SKUs listing the same rate); trn2 has no price anywhere.
    expect(stubber, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.1200000000", "AAA")],
           next_token="page-2")  # fmt: skip
    expect(stubber, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.1200000000", "BBB")],
           token="page-2")  # fmt: skip
    expect(stubber, "p5.48xlarge", "us-east-2", [price_item("p5.48xlarge", "us-east-2", "55.0400000000", "CCC")])
    expect(stubber, "trn2.48xlarge", "us-east-1", [])
    expect(stubber, "trn2.48xlarge", "us-east-2", [])


REFRESH = ("prices", "refresh", "--system", "p5.48xlarge", "--system", "trn2.48xlarge",
           "--region", "us-east-1", "--region", "us-east-2")  # fmt: skip


def test_refresh_filters_match_the_query_api():
    assert aws_price_list.product_filters("p5.48xlarge", "us-east-1") == [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "p5.48xlarge"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
        {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
        {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
        {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
        {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
    ]


def test_on_demand_usd_reads_only_hourly_on_demand_prices():
    items = [
        price_item("p5.48xlarge", "us-east-1", "55.0400000000", "AAA"),
        price_item("p5.48xlarge", "us-east-1", "0.0000000000", "ZERO"),
        price_item("p5.48xlarge", "us-east-1", "31.4640000000", "CB", marketoption="CapacityBlock"),
    ]
    assert aws_price_list.on_demand_usd(items) == {55.04}


def test_refresh_writes_a_user_price_file_that_overrides_the_snapshot(stub, hwprof, tmp_path):
    first_refresh(stub)
    code, out, err = hwprof(*REFRESH, "--output-dir", tmp_path)
    assert (code, err) == (0, "")
    path = tmp_path / "aws-prices.toml"
    assert f"wrote {path}" in out and ".bak" not in out
    assert f"load it with --profiles {tmp_path} or HWPROF_PROFILE_PATH" in out  # not the default folder
    lines = {tuple(line.split()[:2]): line for line in out.splitlines() if line.startswith(("p5", "trn2"))}
    assert lines[("p5.48xlarge", "us-east-1")].split()[2:6] == ["55.04", "2026-01-21", "54.12", "fetched"]
    assert "AWS lists no on-demand price; kept 35.76 observed 2025-11-30" in lines[("trn2.48xlarge", "us-east-2")]

    (aws,) = load_file(path).cost_model
    assert aws.id == "aws" and aws.override is True
    prices = {(p.system, p.region, p.purchase): p for p in aws.prices}
    fresh = prices[("p5.48xlarge", "us-east-1", "on-demand")]
    assert (fresh.usd_per_hour, fresh.observed, fresh.status) == (54.12, TODAY, "official")
    assert fresh.source.title.startswith("AWS Price List Query API") and fresh.source.date == TODAY
    assert prices[("p5.48xlarge", "us-east-2", "on-demand")].observed == TODAY
    # Not refreshed: kept with its own date and source, so staleness still applies to it.
    west = prices[("p5.48xlarge", "us-west-2", "on-demand")]
    assert (west.usd_per_hour, west.observed) == (55.04, dt.date(2026, 1, 21))
    trn2 = prices[("trn2.48xlarge", "us-east-2", "on-demand")]
    assert (trn2.usd_per_hour, trn2.observed) == (35.76, dt.date(2025, 11, 30))
    # Everything the API does not give is carried over from the built-in snapshot.
    snapshot = registry.build(registry.Settings()).cost_model("aws")
    for p in snapshot.prices:
        if p.purchase != "on-demand":
            assert prices[(p.system, p.region, p.purchase)] == p
    assert len(aws.prices) == len(snapshot.prices)
    assert set(aws.missing) == set(snapshot.missing)

    # Loaded from a profile folder, the file replaces the built-in model without a clash warning.
    reg = registry.build(registry.Settings(profile_dirs=(tmp_path,)))
    assert reg.warnings == []
    assert reg.provider("cost_models", "aws") == f"profile {path}"
    q = pricing.quote(reg.cost_model("aws"), "p5.48xlarge", "on-demand", "us-east-1", today=TODAY)
    assert (q.usd_per_hour, q.age_days, q.stale) == (54.12, 0, False)
    assert q.usd_per_chip_hour(8) == pytest.approx(54.12 / 8)
    cb = pricing.quote(reg.cost_model("aws"), "p5en.48xlarge", "capacity-block", today=TODAY)
    assert cb.usd_per_hour == 41.61


def test_second_refresh_keeps_a_backup_and_earlier_regions(stub, hwprof, tmp_path):
    first_refresh(stub)
    assert hwprof(*REFRESH, "--output-dir", tmp_path)[0] == 0
    path = tmp_path / "aws-prices.toml"
    first = path.read_text(encoding="utf-8")
    expect(stub, "p5.48xlarge", "us-east-2", [price_item("p5.48xlarge", "us-east-2", "56.0000000000", "CCC")])
    code, out, _ = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-2",
                          "--output-dir", tmp_path)  # fmt: skip
    assert code == 0
    [backup] = tmp_path.glob("aws-prices.toml.*.bak")
    assert f"previous file kept as {backup}" in out
    assert backup.read_text(encoding="utf-8") == first
    prices = {(p.system, p.region): p.usd_per_hour for p in load_file(path).cost_model[0].prices
              if p.purchase == "on-demand"}  # fmt: skip
    assert prices[("p5.48xlarge", "us-east-2")] == 56.0
    assert prices[("p5.48xlarge", "us-east-1")] == 54.12  # from the first refresh, not re-fetched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aws-prices.toml", backup.name]


def test_price_appearing_for_a_known_gap_drops_the_gap(stub, hwprof, tmp_path):
    expect(stub, "p5e.48xlarge", "us-east-2", [price_item("p5e.48xlarge", "us-east-2", "60.0000000000", "EEE")])
    code, _, _ = hwprof("prices", "refresh", "--system", "p5e.48xlarge", "--region", "us-east-2",
                        "--output-dir", tmp_path)  # fmt: skip
    assert code == 0
    (aws,) = load_file(tmp_path / "aws-prices.toml").cost_model
    assert not [m for m in aws.missing if m.system == "p5e.48xlarge" and m.purchase == "on-demand"]
    assert [m.purchase for m in aws.missing if m.system == "trn2.48xlarge"].count("savings-plan-1yr") == 1


def test_throttling_is_one_line_and_writes_nothing(stub, hwprof, tmp_path):
    path = tmp_path / "aws-prices.toml"
    path.write_text("# an earlier file\n", encoding="utf-8")
    expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.12", "AAA")])
    stub.add_client_error("get_products", service_error_code="ThrottlingException", service_message="Rate exceeded",
                          http_status_code=400)  # fmt: skip
    code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1", "--region",
                            "us-west-2", "--output-dir", tmp_path)  # fmt: skip
    assert (code, out) == (1, "")
    error_line(err, "throttled", "ThrottlingException", "nothing was written")
    assert path.read_text(encoding="utf-8") == "# an earlier file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aws-prices.toml"]


def test_access_denied_is_one_line(stub, hwprof, tmp_path):
    stub.add_client_error("get_products", service_error_code="AccessDeniedException",
                          service_message="User is not authorized to perform: pricing:GetProducts")  # fmt: skip
    code, _, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                          "--output-dir", tmp_path)  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert "refused the request (AccessDeniedException: User is not authorized" in err
    assert not (tmp_path / "aws-prices.toml").exists()


def test_dry_run_writes_nothing(stub, hwprof, tmp_path):
    expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.12", "AAA")])
    code, out, _ = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1", "--dry-run",
                          "--json", "--output-dir", tmp_path)  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["written"] is False and data["observed"] == TODAY.isoformat()
    assert data["changes"] == [{"system": "p5.48xlarge", "region": "us-east-1", "usd_per_hour": 54.12,
                                "fetched": True, "note": "",
                                "before": {"usd_per_hour": 55.04, "observed": "2026-01-21"}}]  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_output_dir_from_environment(stub, hwprof, tmp_path, monkeypatch):
    monkeypatch.setenv("HWPROF_PRICE_DIR", str(tmp_path / "prices"))
    expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.12", "AAA")])
    assert hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1")[0] == 0
    assert (tmp_path / "prices" / "aws-prices.toml").is_file()


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "aws-prices.toml"
    path.write_text("old\n", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    from hwprof.data import files

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(HwprofError, match="disk full"):
        files.write_atomic(path, "new\n", force=True, backup=True)
    assert path.read_text(encoding="utf-8") == "old\n"
    [backup] = tmp_path.glob("aws-prices.toml.*.bak")
    assert backup.read_text(encoding="utf-8") == "old\n"


def test_without_boto3_says_what_to_install(hwprof, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    code, out, err = hwprof("prices", "refresh", "--output-dir", tmp_path)
    assert (code, out) == (1, "")
    error_line(err, "`hwprof prices refresh`", "boto3", "pip install 'hwprof[aws]'")


def test_without_credentials_says_what_to_configure(hwprof, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = hwprof("prices", "refresh", "--output-dir", tmp_path / "out")
    assert code == 1
    error_line(err, "`hwprof prices refresh`", "no AWS credentials", "configure them")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--region", "useast1"), ("--region useast1", "AWS region code", "us-east-1")),
        (("--system", "p5.48xlarg"), ("--system p5.48xlarg", "AWS instance type", "did you mean 'p5.48xlarge'")),
        (("--system", "trn2-ultraserver"), ("--system trn2-ultraserver", "AWS instance type")),
    ],
)  # fmt: skip
def test_bad_refresh_options_are_one_line(hwprof, tmp_path, args, expected):
    code, _, err = hwprof("prices", "refresh", *args, "--output-dir", tmp_path)
    assert code == 1
    error_line(err, *expected)
    assert (
        "known: p5.48xlarge, p5e.48xlarge, p5en.48xlarge, trn1.32xlarge, trn2.48xlarge, trn2u.48xlarge" in err
        or "region" in err
    )


# Issue 24, item 2: the refresh owns only its own entries.
HAND_EDITED = """
[sources.my-quote]
title = "Our negotiated rate, 2026 contract"
date = 2026-06-01

[[cost_model]]
id = "our-cloud"
name = "Our private cloud"

[[cost_model.prices]]
system = "p5.48xlarge"
region = "on-prem"
purchase = "negotiated"
usd_per_hour = 30.0
observed = 2026-06-01
source = "my-quote"
status = "reported"
"""

MY_PRICE = """
[[cost_model.prices]]
system = "p5.48xlarge"
region = "eu-north-1"
purchase = "on-demand"
usd_per_hour = 40.0
observed = 2026-06-01
source = "my-quote"
status = "reported"
"""


def _insert_after_first_aws_price(text: str, extra: str) -> str:
    """The user's own price, inside the aws cost model's table of the file refresh wrote."""
    head, sep, tail = text.partition("[[cost_model.prices]]")
    return head + extra.strip() + "\n\n" + sep + tail


def test_refresh_keeps_hand_edits_and_other_cost_models_and_dates_each_backup(stub, hwprof, tmp_path):
    expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", "54.12", "AAA")])
    assert hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                  "--output-dir", tmp_path)[0] == 0  # fmt: skip
    path = tmp_path / "aws-prices.toml"
    text = path.read_text(encoding="utf-8")
    text = _insert_after_first_aws_price(text.replace("[sources.", HAND_EDITED.split("[[cost_model]]")[0] + "[sources.", 1),
                                         MY_PRICE)  # fmt: skip
    text += "\n" + "[[cost_model]]" + HAND_EDITED.split("[[cost_model]]")[1]
    path.write_text(text, encoding="utf-8")
    code, out, _ = hwprof("profiles", "check", path)
    assert code == 0, out
    for usd in ("55.00", "56.00"):  # twice: the second run must not lose what the first kept
        expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", usd, "AAA")])
        expect(stub, "p5.48xlarge", "eu-north-1", [price_item("p5.48xlarge", "eu-north-1", "41.50", "EEE")])
        code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                                "--region", "eu-north-1", "--output-dir", tmp_path)  # fmt: skip
        assert (code, err) == (0, ""), err
        assert "kept your price 40.0 (my-quote); fetched 41.5" in out
    profile = load_file(path)
    models = {m.id: m for m in profile.cost_model}
    assert set(models) == {"aws", "our-cloud"}
    ours = models["our-cloud"].prices[0]
    assert (ours.region, ours.usd_per_hour, ours.source.title) == (
        "on-prem",
        30.0,
        "Our negotiated rate, 2026 contract",
    )
    aws = {(p.system, p.region, p.purchase): p for p in models["aws"].prices}
    mine = aws[("p5.48xlarge", "eu-north-1", "on-demand")]
    assert (mine.usd_per_hour, mine.source.key, mine.status) == (40.0, "my-quote", "reported")
    assert aws[("p5.48xlarge", "us-east-1", "on-demand")].usd_per_hour == 56.0  # the refresh's own: replaced
    backups = sorted(tmp_path.glob("aws-prices.toml.*.bak"))
    assert len(backups) == 2  # one per refresh that replaced a file, neither overwritten
    kept = set()
    for backup in backups:
        models = {m.id: m for m in load_file(backup).cost_model}
        assert "our-cloud" in models  # each backup is the whole file as it was
        kept |= {
            p.usd_per_hour
            for p in models["aws"].prices
            if (p.system, p.region, p.purchase) == ("p5.48xlarge", "us-east-1", "on-demand")
        }
    assert kept == {54.12, 55.0}


def test_an_unreadable_price_file_is_not_overwritten(stub, hwprof, tmp_path):
    path = tmp_path / "aws-prices.toml"
    path.write_text('[[cost_model]]\nid = "aws"\nprices = 3\n', encoding="utf-8")
    code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                            "--output-dir", tmp_path)  # fmt: skip
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "does not read" in err and "nothing was written" in err
    assert path.read_text(encoding="utf-8") == '[[cost_model]]\nid = "aws"\nprices = 3\n'


@pytest.mark.parametrize("usd", ["abc", "Infinity", "1e400", "NaN"])
def test_a_price_that_is_not_a_finite_number_is_one_line(stub, hwprof, tmp_path, usd):
    """Issue 24, item 14: exit 1 with one line, nothing written (was: internal error, exit 70)."""
    expect(stub, "p5.48xlarge", "us-east-1", [price_item("p5.48xlarge", "us-east-1", usd, "AAA")])
    code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                            "--output-dir", tmp_path)  # fmt: skip
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert "answered with an item hwprof cannot read" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_malformed_json_from_the_api_is_one_line(stub, hwprof, tmp_path):
    expect(stub, "p5.48xlarge", "us-east-1", ['{"product": {"attributes": '])
    code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                            "--output-dir", tmp_path)  # fmt: skip
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert "JSONDecodeError" in err and list(tmp_path.iterdir()) == []


def test_a_dropped_connection_is_one_line(hwprof, tmp_path, monkeypatch):
    from botocore.exceptions import ConnectionClosedError

    class Dropping:
        def get_paginator(self, name: str) -> Any:
            class Pages:
                def paginate(self, **kwargs: Any) -> Any:
                    raise ConnectionClosedError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com")

            return Pages()

    monkeypatch.setattr(aws_price_list, "make_client", lambda: Dropping())
    code, out, err = hwprof("prices", "refresh", "--system", "p5.48xlarge", "--region", "us-east-1",
                            "--output-dir", tmp_path)  # fmt: skip
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert "could not query the AWS Price List API (ConnectionClosedError" in err and "nothing was written" in err
