"""hwprof plan: every option names the software stack it assumes and its evidence class."""

from __future__ import annotations

import json

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
    # Optimum Neuron's vLLM on Trainium2 pays 14,360 us of host time every decode step (its profile):
    # no output token comes faster; the default stack (NxD Inference) has no such floor
    assert given["tpot_mean_s"] >= 14_360e-6 > default["tpot_mean_s"]
