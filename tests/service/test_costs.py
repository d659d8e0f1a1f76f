"""Several cost models at once, in the service layer both the CLI and the API call: every loaded
price list prices the systems it prices, one row per system and price list, none for a pair with
no price, a baseline chosen by a stated rule; the API takes the same cost models (ownership too)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hwprof
from hwprof.data import plugin_loading
from tests import FIXTURES, ROOT, find

OWNERSHIP = 8 * (35000 / (4 * 8760) + 1.275 * 1.3 * 0.10 + 1500 / 8760)  # the example's 8-GPU hour: 10.6867 USD


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The second cloud (packages/hwprof-gcp) and the ownership example, as if pip-installed."""
    monkeypatch.syspath_prepend(str(ROOT / "packages" / "hwprof-gcp"))
    monkeypatch.syspath_prepend(str(FIXTURES / "hwprof-onprem-ownership"))
    before = plugin_loading.entry_points
    extra = [("hwprof-gcp", "hwprof_gcp:plugin", "hwprof-gcp"),
             ("hwprof-onprem-ownership", "hwprof_onprem_ownership", "hwprof-onprem-ownership")]  # fmt: skip
    monkeypatch.setattr(plugin_loading, "entry_points", lambda: [*before(), *extra])
    yield
    for name in ("hwprof_gcp", "hwprof_onprem_ownership"):
        sys.modules.pop(name, None)


def test_compare_rows_per_system_and_price_list(installed: None, run_cli: Any) -> None:
    systems = "trn2.48xlarge,p5.48xlarge,a3-highgpu-8g,a3-ultragpu-8g"
    result = run_cli("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chips", "64",
                     "--systems", systems, "--json")  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    rows = [(r["system"], r["cost_model"]) for r in data["rows"]]
    # Trainium2 and H100 on AWS's list, the A3s on Google Cloud's; no row for a pair with no price,
    # and the ownership model (on-demand asked) prices nothing here.
    assert rows == [("trn2.48xlarge", "aws"), ("p5.48xlarge", "aws"), ("a3-highgpu-8g", "gcp"),
                    ("a3-ultragpu-8g", "gcp")]  # fmt: skip
    assert [r["price"]["usd_per_hour"] for r in data["rows"]] == [35.76, 55.04, 88.49, 83.492]
    assert data["baseline"] == "trn2.48xlarge [aws]" and data["baseline_rule"].startswith("the first of the systems")
    # Ratios read one way: speed = the baseline's time / this time; price-performance = its cost / this cost.
    for row in data["rows"]:
        assert row["speed_ratio"] == pytest.approx(1 / row["time_ratio"])
        base = data["rows"][0]
        assert row["price_performance"] == pytest.approx(base["cost_usd"]["expected"] / row["cost_usd"]["expected"])
    table = run_cli("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chips", "64",
                    "--systems", systems).out  # fmt: skip
    assert "a3-ultragpu-8g [gcp]" in table and "gcp 83.492/h on-demand us-central1" in table
    assert "speed vs base" in table and "MFU" in table and " to " in table  # ranges, as estimate shows them


def test_our_own_hardware_beside_two_clouds(installed: None, run_cli: Any) -> None:
    """'AWS Trainium2, another cloud's H200 or our own H100s: which is cheapest?' in one command."""
    result = run_cli("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chips", "64",
                     "--systems", "trn2.48xlarge,a3-ultragpu-8g,hgx-h100-8", "--purchase", "on-demand,ownership",
                     "--baseline", "hgx-h100-8:onprem", "--json")  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    rows = {(r["system"], r["cost_model"]): r for r in data["rows"]}
    # The ownership example prices any system of a chip it has costs for: the H200 instance too.
    assert set(rows) == {("trn2.48xlarge", "aws"), ("a3-ultragpu-8g", "gcp"), ("a3-ultragpu-8g", "onprem"),
                         ("hgx-h100-8", "onprem")}  # fmt: skip
    assert [r["cost_model"] for r in data["rows"] if r["system"] == "a3-ultragpu-8g"] == [
        "gcp",
        "onprem",
    ]  # on-demand first
    assert rows[("hgx-h100-8", "onprem")]["price"]["usd_per_hour"] == pytest.approx(OWNERSHIP)
    assert data["baseline"] == "hgx-h100-8 [onprem]" and rows[("hgx-h100-8", "onprem")]["baseline"]


def test_compare_without_chips_runs_the_job_estimate_would(run_cli: Any) -> None:
    """--params alone: one system each, priced, as `estimate train` does with the same flags (7B: 70B
    no longer fits one 8-GPU system once the optimizer state is counted for a bare parameter count)."""
    args = ["--params", "7e9", "--tokens", "2e12"]
    result = run_cli("compare", "train", *args, "--systems", "trn2.48xlarge,p5.48xlarge", "--json")
    assert result.code == 0, result.err
    rows = {r["system"]: r for r in json.loads(result.out)["rows"]}
    alone = json.loads(run_cli("estimate", "train", *args, "--system", "p5.48xlarge", "--json").out)
    assert rows["p5.48xlarge"]["chips"] == 8
    assert rows["p5.48xlarge"]["time_s"] == alone["time_s"]
    assert rows["p5.48xlarge"]["cost_usd"] == alone["cost_usd"]


def test_the_api_takes_every_cost_model_the_cli_does(installed: None) -> None:
    """hwprof.plan_train(..., cost_model="onprem") plans on owned hardware (the ownership example prices
    its own way when named); compare_train takes a list."""
    hwprof.registry()  # a fresh session over the installed plugins
    plan = hwprof.plan_train("llama3.1-8b", tokens=1e11, cost_model="onprem", systems=["hgx-h100-8"])
    best = plan.cheapest
    assert best is not None and best.purchase == "ownership"
    assert best.cost_usd.expected == pytest.approx(best.count * OWNERSHIP * best.time_s.expected / 3600)
    compared = hwprof.compare_train("llama3.1-8b", tokens=1e11, systems=["p5.48xlarge", "a3-highgpu-8g"],
                                    cost_model=["aws", "gcp"], chips=64)  # fmt: skip
    assert [(r["system"], r["cost_model"]) for r in compared.rows] == [("p5.48xlarge", "aws"), ("a3-highgpu-8g", "gcp")]


def test_compare_without_systems_takes_every_priced_one(installed: None, run_cli: Any) -> None:
    """No --systems: every system some loaded cost model prices (Trainium2 and H100/H200 on AWS, the
    A3s on Google Cloud), one row per system and price list."""
    result = run_cli("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chips", "64", "--json")
    assert result.code == 0, result.err
    rows = {(r["system"], r["cost_model"]) for r in json.loads(result.out)["rows"]}
    assert rows == {("trn2.48xlarge", "aws"), ("p5.48xlarge", "aws"), ("p5en.48xlarge", "aws"),
                    ("a3-highgpu-8g", "gcp"), ("a3-megagpu-8g", "gcp"), ("a3-ultragpu-8g", "gcp")}  # fmt: skip


@pytest.fixture
def second_cost_model(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the user did: `profiles new --from aws --id my-aws` into a folder hwprof loads."""
    folder = tmp_path / "mine"
    folder.mkdir()
    assert run_cli("profiles", "new", "--from", "aws", "--id", "my-aws", "-o", folder / "my-aws.toml").code == 0
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(folder))
    return folder


README_COMMANDS = [
    ("estimate", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--system", "trn2.48xlarge", "--count", "64"),
    ("estimate", "serve", "--model", "llama3.1-70b", "--system", "trn2.48xlarge", "--batch", "8"),
    ("plan", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--deadline-days", "30"),
]


@pytest.mark.parametrize("args", README_COMMANDS)
def test_a_second_cost_model_breaks_no_command_that_worked(
    second_cost_model: Path, run_cli: Any, args: tuple[str, ...]
) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.err
    # Both price lists apply (issue 23): an estimate's note names the other, a plan's rows name each.
    assert "my-aws" in (result.out if args[0] == "plan" else result.err)


def test_the_users_default_cost_model_is_used(
    second_cost_model: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HWPROF_COST_MODEL", "my-aws")
    result = run_cli(*README_COMMANDS[0], "--json")
    assert result.code == 0, result.err
    assert find(result.json(), "cost_model") == "my-aws"
    monkeypatch.setenv("HWPROF_COST_MODEL", "nosuch")
    result = run_cli(*README_COMMANDS[0])
    assert result.code == 1 and "HWPROF_COST_MODEL" in result.err
