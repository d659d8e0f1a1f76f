"""hwprof plan: every option names the software stack it assumes and its evidence class."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import RunCli

TRAIN = ["plan", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--deadline-days", "30", "--top", "4",
         "--systems", "p5.48xlarge,trn2.48xlarge", "--json"]  # fmt: skip
SERVE = ["plan", "serve", "--model", "llama3.1-8b", "--rate", "5", "--ttft-slo", "0.5", "--tpot-slo", "0.05",
         "--systems", "p5.48xlarge,trn2.48xlarge", "--deployments", "aggregated", "--json"]  # fmt: skip


def test_plan_train_rows_name_their_stack_and_a_given_one_widens_every_range(run_cli: RunCli) -> None:
    default = json.loads(run_cli(*TRAIN).out)
    assert {(r["system"], r["stack"], r["evidence"]) for r in default["options"]} == {
        ("p5.48xlarge", "nemo-megatron", "own"), ("trn2.48xlarge", "axlearn", "corrected")}  # fmt: skip
    result = run_cli(*TRAIN, "--stack", "torchtitan")
    assert result.code == 0, result.err
    borrowed = json.loads(result.out)
    assert {(r["stack"], r["evidence"]) for r in borrowed["options"]} == {("torchtitan", "other")}
    before = {(r["system"], r["count"]): r["time_s"] for r in default["options"]}
    for row in borrowed["options"]:
        if (row["system"], row["count"]) in before:
            was = before[row["system"], row["count"]]
            assert row["time_s"]["expected"] == was["expected"] and row["time_s"]["high"] > was["high"]
    assert borrowed["reproduce"].endswith("--stack torchtitan --layout " + borrowed["cheapest"]["layout"])


def test_plan_serve_systems_name_their_stack_and_evidence(run_cli: RunCli) -> None:
    default = json.loads(run_cli(*SERVE).out)
    assert {(s["system"], s["stack"], s["evidence"]) for s in default["systems"]} == {
        ("p5.48xlarge", "tensorrt-llm", "own"), ("trn2.48xlarge", "neuronx-distributed", "corrected")}  # fmt: skip
    forced = json.loads(run_cli(*SERVE, "--stack", "tensorrt-llm").out)
    assert {(s["system"], s["stack"], s["evidence"]) for s in forced["systems"]} == {
        ("p5.48xlarge", "tensorrt-llm", "own"), ("trn2.48xlarge", "tensorrt-llm", "other")}  # fmt: skip
    text = run_cli(*SERVE[:-1], "--stack", "tensorrt-llm").out
    assert "tensorrt-llm (other)" in text and "tensorrt-llm (own)" in text


def test_plan_serve_disaggregated_picks_run_on_the_given_stack(run_cli: RunCli) -> None:
    args = [*SERVE[:-5], "--systems", "trn2.48xlarge", "--deployments", "disaggregated", "--json"]
    default = json.loads(run_cli(*args).out)["systems"][0]["best"]
    given = json.loads(run_cli(*args, "--stack", "optimum-neuron-vllm").out)["systems"][0]["best"]
    assert default["kind"] == given["kind"] == "disaggregated"
    # Optimum Neuron's vLLM on Trainium2 pays 6,299 us of host time every decode step (its profile):
    # no output token comes faster; the default stack (NxD Inference) has no such floor
    assert given["tpot_mean_s"] - default["tpot_mean_s"] >= 6_299e-6


# Both H200 systems: p5e has no on-demand price, so it uses its 724-day-old capacity-block price.
H200_PLAN = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30",
             "--purchase", "on-demand,capacity-block", "--systems", "p5e.48xlarge,p5en.48xlarge")  # fmt: skip


def test_plan_rows_name_the_purchase_region_and_price_they_used(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN)
    assert result.code == 0, result.err
    header = result.out.splitlines()[1]
    for column in ("purchase", "region", "USD/h", "observed"):
        assert column in header, f"no {column!r} column in: {header}"
    p5e = next(line for line in result.out.splitlines() if line.startswith("p5e.48xlarge"))
    assert "capacity-block" in p5e and "us-east-2" in p5e
    assert re.search(r"\b43\.26\s+2024-12-01 STALE\b", p5e)  # the price, then its date in its own column


def test_plan_json_carries_the_stale_price_warning(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN, "--json")
    assert result.code == 0, result.err
    warnings = result.json()["warnings"]
    assert any("p5e.48xlarge (capacity-block" in w and "stale" in w for w in warnings), warnings
    assert "warning: price of p5e.48xlarge (capacity-block" in result.err


def test_plan_marks_every_option_tied_for_fastest(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN, "--top", "100", "--json")  # every option, so each tie is in view
    assert result.code == 0, result.err
    options = [o for o in result.json()["options"] if o["meets_deadline"]]
    best = min(o["time_s"]["expected"] for o in options)
    tied = {(o["system"], o["count"], o["purchase"]) for o in options if o["time_s"]["expected"] <= best * 1.005}
    assert {(o["system"], o["count"], o["purchase"]) for o in options if "fastest" in o["marks"]} == tied
    assert len(tied) > 1  # p5e and p5en: the same H200s, the same layout, the same time


def test_a_plan_over_chips_unequally_measured_says_so_once(run_cli: RunCli) -> None:
    # Trainium2 rests on AXLearn's runs (corrected by a chip factor), the H100 on its own: read the ranges.
    base = ["plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30"]
    mixed = run_cli(*base, "--systems", "p5.48xlarge,trn2.48xlarge").out
    line = next(x for x in mixed.splitlines() if x.startswith("rows rest on different evidence"))
    assert "p5.48xlarge own (nemo-megatron)" in line and "trn2.48xlarge corrected (axlearn)" in line
    assert line.count("p5.48xlarge own") == 1  # one entry per system, however many of its options are shown
    assert "different evidence" not in run_cli(*base, "--systems", "p5.48xlarge").out


def test_a_serving_plan_over_chips_unequally_measured_says_so(run_cli: RunCli) -> None:
    base = ["plan", "serve", "--model", "llama3.1-8b", "--rate", "5", "--ttft-slo", "1", "--tpot-slo", "0.05"]
    out = run_cli(*base, "--systems", "p5.48xlarge,trn2.48xlarge").out
    line = next(x for x in out.splitlines() if x.startswith("rows rest on different evidence"))
    assert "p5.48xlarge own (tensorrt-llm)" in line and "trn2.48xlarge" in line
    assert "different evidence" not in run_cli(*base, "--systems", "p5.48xlarge").out
