"""One shape check for every way a model arrives (issue 24, item 12): counts on the command line, a
profile's workload, a config.json. A shape that cannot be built is refused in one line naming the
numbers that disagree and how to fix them, exit 1, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwprof.data import registry, shape
from tests.conftest import SOURCES, Result, RunCli, WriteProfile
from tests.facts import facts

TRAIN = ("estimate", "train", "--tokens", "1e12", "--system", "p5.48xlarge", "--seq-len", "4096")


def one_line_error(result: Result) -> str:
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    return result.err


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        # 4097 / 32 is not whole: each head's width would not be; 4096 = 32 x 128 and 4128 = 32 x 129 are
        (
            ["--params", "7e9", "--layers", "32", "--hidden", "4097", "--heads", "32"],
            "--hidden 4097 is not a multiple of --heads 32: each head takes --hidden / --heads of the width; "
            "use --hidden 4096 or 4128",
        ),
        # 32 query heads cannot share 5 key/value heads evenly; 4 and 8 divide 32
        (
            ["--params", "7e9", "--layers", "32", "--hidden", "4096", "--heads", "32", "--kv-heads", "5"],
            "--heads 32 is not a multiple of --kv-heads 5: each key/value head serves a whole group of attention "
            "heads; use --kv-heads 4 or 8",
        ),
        (["--params", "7e9", "--heads", "32", "--kv-heads", "64"], "--kv-heads 64 is more than --heads 32"),
        (["--params", "7e9", "--hidden", "16", "--heads", "32"], "--heads 32 is more than --hidden 16"),
        # 1000 layers x 65536 x 65536 = 4.29e12 weights in the attention output projections alone
        (
            ["--params", "7e9", "--layers", "1000", "--hidden", "65536"],
            "--params 7e+09 is fewer than the 4.29e+12 weights --layers 1000 and --hidden 65536 need",
        ),
        # a mixture of experts: the bound is on what a token uses, 80 x 8192 x 8192 = 5.37e9
        (
            ["--params", "70e9", "--active-params", "1e9", "--layers", "80", "--hidden", "8192"],
            "--active-params 1e+09 is fewer than the 5.37e+09 weights --layers 80 and --hidden 8192 need",
        ),
        (["--params", "7e9", "--active-params", "8e9"], "--active-params 8e+09 is more than --params 7e+09"),
    ],
)
def test_command_line_counts_that_cannot_make_a_model_are_refused(
    run_cli: RunCli, counts: list[str], said: str
) -> None:
    assert said in one_line_error(run_cli(*TRAIN, *counts))


def test_counts_that_make_a_model_are_estimated(run_cli: RunCli) -> None:
    # 80 x 8192 x 8192 = 5.37e9 <= 13e9 used per token; 64 heads of 128 share 8 key/value heads
    counts = ("--params", "70e9", "--active-params", "13e9", "--layers", "80", "--hidden", "8192", "--heads", "64",
              "--kv-heads", "8")  # fmt: skip
    result = run_cli(*TRAIN, *counts, "--count", "16")
    assert result.code == 0, result.err


def test_a_profile_workload_with_31_heads_is_refused(
    run_cli: RunCli, write_profile: WriteProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = """
[[workload]]
id = "odd"
name = "Odd"
params = 7e9
layers = 32
hidden = 4096
heads = 31
source = "s1"
status = "estimated"
"""
    path = write_profile(SOURCES + workload)
    result = run_cli("profiles", "check", path)
    # 4096 / 31 is not whole; 4092 = 31 x 132 and 4123 = 31 x 133 are, and 32 or 16 heads divide 4096
    assert result.code == 1 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if "workload[0].hidden" in line]
    facts(line, f"{path}:13: workload[0].hidden:", "hidden 4096", "heads 31", "hidden 4092 or 4123", "heads 16 or 32")
    # in use, the file is skipped saying why, and the workload is unknown
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(path.parent))
    used = run_cli(*TRAIN[:2], "--model", "odd", *TRAIN[2:])
    assert used.code == 1 and "hidden 4096 is not a multiple of heads 31" in used.err and "Traceback" not in used.err


def test_a_config_json_with_31_heads_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    config = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 31,
              "num_key_value_heads": 31, "intermediate_size": 11008, "vocab_size": 32000}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    err = one_line_error(run_cli(*TRAIN, "--model-config", path))
    assert "hidden_size 4096 is not a multiple of num_attention_heads 31" in err and str(path) in err


def test_every_shipped_workload_fits(reg: registry.Registry) -> None:
    for work in reg.workloads.values():
        counts = {field: getattr(work, field) for field in shape.FIELDS}
        assert shape.problems(**counts) == [], work.id


COUNTS = st.integers(min_value=1, max_value=100_000)


@settings(max_examples=300, deadline=None)
@given(layers=COUNTS, hidden=COUNTS, heads=COUNTS, kv_heads=COUNTS, params=st.floats(1e3, 1e15))
def test_the_rules_hold_exactly_when_no_problem_is_found(
    layers: int, hidden: int, heads: int, kv_heads: int, params: float
) -> None:
    found = shape.problems(params=params, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads)
    buildable = (kv_heads <= heads and heads % kv_heads == 0 and heads <= hidden and hidden % heads == 0
                 and params >= layers * hidden * hidden)  # fmt: skip
    assert (found == []) == buildable, found
    for field, message in found:
        assert field in shape.FIELDS and "\n" not in message and len(message) < 400


def test_counts_out_of_their_fields_range_are_left_to_those_bounds() -> None:
    # A profile's hidden = 2**63 - 1 is refused by its own bound (1 to 10,000,000); searching its divisors
    # here too ran for hours and hung every command reading that folder.
    huge = 2**63 - 1
    assert shape.problems(hidden=huge, heads=3, kv_heads=huge, layers=huge, params=1e20) == []
    assert [field for field, _ in shape.problems(hidden=4097, heads=32, kv_heads=5)] == ["kv_heads", "hidden"]
