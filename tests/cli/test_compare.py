"""hwprof compare: like-for-like by default (each chip on its own stack, the evidence named per row),
one stack for every row with --stack."""

from __future__ import annotations

import json
import math
from typing import Any

from hwprof.perf import ranges
from tests.conftest import RunCli

TRAIN = ["compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--json"]
SERVE = ["compare", "serve", "--model", "llama3.1-8b", "--json"]


def rows(run_cli: RunCli, *args: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    result = run_cli(*args)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    return data, {r["system"]: r for r in data["rows"]}


def test_compare_train_runs_each_chip_on_its_own_stack_and_says_when_evidence_differs(run_cli: RunCli) -> None:
    data, by = rows(run_cli, *TRAIN, "--systems", "p5.48xlarge,trn2.48xlarge")
    assert (by["p5.48xlarge"]["stack"], by["p5.48xlarge"]["evidence"]) == ("nemo-megatron", "own")
    # Trainium2's one run (AXLearn) needed a chip factor of its own: measured, but corrected
    assert (by["trn2.48xlarge"]["stack"], by["trn2.48xlarge"]["evidence"]) == ("axlearn", "corrected")
    assert "p5.48xlarge own (nemo-megatron), trn2.48xlarge corrected (axlearn)" in data["evidence_note"]
    assert data["stack_rule"].startswith("each chip on its own default stack")
    same, _ = rows(run_cli, *TRAIN, "--systems", "p5.48xlarge,p5en.48xlarge")
    assert same["evidence_note"] is None  # the H200 counts the H100's runs: both own


def test_compare_train_with_a_stack_puts_every_row_on_it_and_widens_the_range(run_cli: RunCli) -> None:
    systems = ["--systems", "p5.48xlarge,trn2.48xlarge"]
    _, default = rows(run_cli, *TRAIN, *systems)
    data, borrowed = rows(run_cli, *TRAIN, *systems, "--stack", "torchtitan")
    other = ranges.shipped()["search", "other"]  # searched layouts, stacks no calibration run used
    for system, row in borrowed.items():
        assert (row["stack"], row["evidence"]) == ("torchtitan", "other")
        t, base = row["time_s"], default[system]["time_s"]
        assert t["expected"] == base["expected"]  # the chip's efficiency, borrowed
        assert t["high"] > base["high"]
        assert math.isclose(t["high"] / t["expected"], math.exp(other.high), rel_tol=1e-9)  # high = e^width
    assert data["evidence_note"] is None  # every row borrowed alike
    assert "every row on torchtitan" in data["stack_rule"]


def test_compare_train_table_names_the_stack_and_evidence_per_row(run_cli: RunCli) -> None:
    text = run_cli(*TRAIN[:-1], "--systems", "p5.48xlarge,trn2.48xlarge").out
    assert "stack (evidence)" in text and "nemo-megatron (own)" in text and "axlearn (corrected)" in text
    assert "rows rest on different evidence" in text


def test_compare_serve_with_a_stack_borrows_where_the_chip_has_no_run_on_it(run_cli: RunCli) -> None:
    systems = ["--systems", "p5.48xlarge,trn2.48xlarge"]
    data, default = rows(run_cli, *SERVE, *systems)
    assert (default["p5.48xlarge"]["stack"], default["p5.48xlarge"]["evidence"]) == ("tensorrt-llm", "own")
    assert default["trn2.48xlarge"]["stack"] == "neuronx-distributed"
    data, forced = rows(run_cli, *SERVE, *systems, "--stack", "tensorrt-llm")
    assert [r["stack"] for r in data["rows"]] == ["tensorrt-llm", "tensorrt-llm"]
    assert forced["p5.48xlarge"]["ttft_s"] == default["p5.48xlarge"]["ttft_s"]  # its own stack: unchanged
    trn2, base = forced["trn2.48xlarge"], default["trn2.48xlarge"]
    assert trn2["evidence"] == "other" and trn2["ttft_s"]["high"] > base["ttft_s"]["high"]
    assert trn2["ttft_s"]["expected"] == base["ttft_s"]["expected"]  # its default stack's fixed costs, borrowed
    assert "a measured stack is compared with a borrowed one" in data["evidence_note"]


def test_cost_per_million_tokens_says_which_tokens(run_cli: Any) -> None:
    result = run_cli("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge")
    assert result.code == 0, result.err
    assert "USD/M tokens" not in result.out and "output tokens" in result.out


def test_compare_train_takes_cost_model_like_every_other_command(run_cli: Any) -> None:
    args = ("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge,trn2.48xlarge")
    assert run_cli(*args, "--cost-model", "aws").code == 0
    assert run_cli(*args, "--cost-models", "aws").code == 0  # the old spelling still works


def test_compare_csv_carries_each_rows_evidence_and_range_ends(run_cli: RunCli) -> None:
    # A spreadsheet reader of the CSV needs what the table's "(range)" and "(evidence)" say: the same numbers as JSON.
    import csv
    import io

    for args, spans in (
        (
            ("train", "--model", "llama3.1-70b", "--tokens", "15e12", "--chips", "512"),
            (("time_days", "time_s", 86400),),
        ),
        (("serve", "--model", "llama3.1-8b"), (("ttft_s", "ttft_s", 1), ("tpot_s", "tpot_s", 1))),
    ):
        base = ["compare", *args, "--systems", "p5.48xlarge,trn2.48xlarge"]
        rows = list(csv.DictReader(io.StringIO(run_cli(*base, "--format", "csv").out)))
        data = json.loads(run_cli(*base, "--json").out)["rows"]
        assert [r["evidence"] for r in rows] == [d["evidence"] for d in data] and rows[1]["evidence"] != "own"
        for row, d in zip(rows, data, strict=True):
            for column, key, unit in spans:
                low, mid, high = (float(row[f"{column}{end}"]) for end in ("_low", "", "_high"))
                assert low < mid < high
                assert (low, high) == (d[key]["low"] / unit, d[key]["high"] / unit)
