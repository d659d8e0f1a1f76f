"""Property tests: the CLI driven with generated arguments and generated profile files.

Whatever comes in, hwprof answers with exit 0 and finite output, or one error line and exit 1 or
2: never an internal error (exit 70), a traceback or a hang (an alarm fails the example). Runs
in-process, so a few hundred examples take seconds; benchmarks/fuzz_profiles.py goes wider.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwprof.cli.app import main
from hwprof.data import registry
from tests.hostile import PROFILE, non_finite

LIMIT_S = 120  # a hang guard, never a speed check: far above any one command on a busy machine
# CI runs a few seconds' worth; HWPROF_PROPERTY_EXAMPLES=2000 for a longer hunt.
EXAMPLES = int(os.environ.get("HWPROF_PROPERTY_EXAMPLES", "80"))


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "0",
            "-1",
            "1e400",
            "1e-400",
            "abc",
            "",
            " ",
            "1e12",
            "0.5",
            "8",
            "64",
            "1e-320",
            "5e-324",
            "1e-300",
            "1e-9",
            "1e18",
            "2.2250738585072014e-308",
        ]
    ),  # denormals too
)
PURCHASES = st.sampled_from(["", ",", " , ", "spot", "on-demand,spot", "spto", "on-demand"])
IDS = st.sampled_from(["llama3.1-8b", "llama3.1-70b", "h100-sxm", "trainium2", "p5.48xlarge", "trn2.48xlarge",
                       "nosuch", "", "../x", "hx-chip"])  # fmt: skip
DATES = st.one_of(st.dates().map(str), st.sampled_from(["0001-01-01", "9999-12-31", "yesterday", "2026-02-30"]))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    n, i, d = (lambda: draw(NUMBERS)), (lambda: draw(IDS)), (lambda: draw(DATES))
    templates = [
        lambda: ["estimate", "train", "--model", i(), "--tokens", n(), "--system", i(), "--count", n()],
        lambda: ["estimate", "train", "--params", n(), "--active-params", n(), "--layers", n(), "--hidden", n(),
                 "--heads", n(), "--kv-heads", n(), "--tokens", n(), "--chip", i(), "--chips", n(),
                 "--seq-len", n(), "--mfu", n(), "--global-batch-tokens", n()],
        lambda: ["estimate", "serve", "--model", i(), "--system", i(), "--concurrency", n(),
                 "--input-tokens", n(), "--output-tokens", n()],
        lambda: ["estimate", "serve", "--params", n(), "--layers", n(), "--hidden", n(), "--heads", n(),
                 "--chip", i(), "--chips", n(), "--rate", n()],
        lambda: ["plan", "train", "--model", i(), "--tokens", n(), "--deadline-days", n(), "--budget", n(),
                 "--purchase", draw(PURCHASES)],
        lambda: ["compare", "train", "--model", i(), "--tokens", n(), "--systems", f"{i()},{i()}", "--chips", n(),
                 "--purchase", draw(PURCHASES)],
        lambda: ["estimate", "train", "--model", i(), "--tokens", n(), "--system", i(), "--mfu", n(),
                 "--purchase", draw(PURCHASES)],
        lambda: ["systems", "show", i(), "--count", n()],
        lambda: ["prices", "list", "--as-of", d(), "--stale-days", n()],
        lambda: ["chips", "show", i()],
    ]  # fmt: skip
    args = draw(st.sampled_from(templates))()
    return args + (["--json"] if draw(st.booleans()) else [])


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise AssertionError(f"hwprof ran over {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(args: list[str]) -> tuple[int, str, str]:
    registry.reset()
    out, err = io.StringIO(), io.StringIO()
    with time_limit(LIMIT_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def assert_well_behaved(args: list[str], code: int, out: str, err: str) -> None:
    shown = f"hwprof {' '.join(args)}\nexit {code}\n{out[-1500:]}\n{err[-1500:]}"
    assert code in (0, 1, 2), shown
    assert "Traceback" not in err and "internal error" not in err, shown
    assert not RAW_CONTROL.search(out + err), shown  # escapes from a file never reach the terminal
    if code == 0:
        assert not non_finite(out), shown
    else:
        errors = [line for line in err.splitlines() if line.lower().startswith("error")]
        assert len(errors) == 1, shown


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_generated_command_lines(args: list[str]) -> None:
    code, out, err = run(args)
    assert_well_behaved(args, code, out, err)


RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Values a profile number may be replaced by: any TOML number form, text, booleans, dates, arrays.
TOML_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(['"12"', "true", "[]", "{}", "2025-01-01", "0", "-0.0", "1e-320", "9223372036854775807"]),
)
NUMBER_IN_PROFILE = re.compile(r"(?<== )-?\d[\d.e+]*(?=\s*[,}\n])")
PROFILE_COMMANDS = [
    ["chips", "list", "--json"], ["systems", "list"], ["systems", "show", "hx-box", "--json"], ["prices", "list", "--json"],
    ["estimate", "train", "--model", "hx-model", "--tokens", "1e12", "--system", "hx-box", "--cost-model", "hx-cloud",
     "--json"],
    ["estimate", "serve", "--model", "hx-model", "--system", "hx-box", "--cost-model", "none", "--json"],
    ["models", "list", "--json"],
]  # fmt: skip
# Not `validate`: it refits every constant once per document (~25 s of CPU a run), so a handful of examples
# took minutes and ran into the time guard on a busy machine. A fuzzed profile's validation case is driven by
# tests/cli/test_bad_input.py (validate on bad cases) and benchmarks/fuzz_profiles.py (10,000 profiles).


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), TOML_VALUES), min_size=1, max_size=3),
    st.sampled_from(PROFILE_COMMANDS),
    st.booleans(),
)
def test_generated_profiles(edits: list[tuple[int, str]], command: list[str], strict: bool) -> None:
    text = PROFILE
    for where, value in edits:
        spots = list(NUMBER_IN_PROFILE.finditer(text))
        spot = spots[where % len(spots)]
        text = text[: spot.start()] + value + text[spot.end() :]
    check_profile(text, command, strict)


# Terminal escapes and invisible characters, as TOML escapes, put into a profile's text values (names, titles).
ESCAPES = st.lists(st.sampled_from(["\\u001b[2J", "\\u001b]0;title\\u0007", "\\u001b]8;;https://x.example\\u0007",
                                    "\\n", "\\r", "\\u202e", "\\u009b", "\\u200b", "\\t", "ok"]),
                   min_size=1, max_size=4).map("".join)  # fmt: skip
TEXT_IN_PROFILE = re.compile(r'(?:(?<=name = ")|(?<=title = ")|(?<=vendor = "))[^"]*(?=")')


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), ESCAPES), min_size=1, max_size=3),
    st.sampled_from(PROFILE_COMMANDS),
    st.booleans(),
    st.booleans(),
)
def test_generated_escapes_and_folders(edits: list[tuple[int, str]], command: list[str], folder_named_toml: bool,
                                       strict: bool) -> None:  # fmt: skip
    """Escapes in names and titles are shown, never sent raw; a folder named *.toml beside the profile
    is one skipped file, never an internal error."""
    text = PROFILE
    for where, value in edits:
        spots = list(TEXT_IN_PROFILE.finditer(text))
        spot = spots[where % len(spots)]
        text = text[: spot.start()] + value + text[spot.end() :]
    check_profile(text, command, strict, folder_named_toml)


def check_profile(text: str, command: list[str], strict: bool, folder_named_toml: bool = False) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if folder_named_toml:
            (Path(folder) / "aa-old.toml").mkdir()
        path = Path(folder) / "hx.toml"
        path.write_text(text, encoding="utf-8")
        args = (["--strict-plugins"] if strict else []) + ["--profiles", folder, *command]
        code, out, err = run(args)
        assert_well_behaved(args, code, out, err)
        checked = ["profiles", "check", str(path)]
        code, out, err = run(checked)
        assert_well_behaved(checked, code, out, err)


# Non-str arguments to the Python API (issue 24, item 15): a result, or HwprofError naming the argument.
API_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.lists(st.integers(), max_size=2),
    st.sampled_from(["p5.48xlarge", "tp=8", "1e12", "2", 8, 2.5, 1e-320, 10**400]),
)  # fmt: skip
TRAIN_ARGUMENTS = ["tokens", "count", "chips", "system", "mfu", "layout", "seq_len", "precision", "purchase"]
SERVE_ARGUMENTS = ["batch", "rate", "input_tokens", "output_tokens", "count", "layout", "system", "precision"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.data())
def test_generated_api_arguments(train: bool, data: st.DataObject) -> None:
    import numpy as np

    import hwprof

    names = TRAIN_ARGUMENTS if train else SERVE_ARGUMENTS
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    given_ = {name: data.draw(API_VALUES) for name in chosen}
    if data.draw(st.booleans()) and "count" in given_ and isinstance(given_["count"], int) and 0 < given_["count"] < 9:
        given_["count"] = np.int64(given_["count"])  # numpy integers are numbers too
    call = {"system": "p5.48xlarge", "cost_model": "none", **given_}
    if "chips" in call and "system" not in given_:
        call["system"] = "p5.48xlarge"
    registry.reset()
    with time_limit(LIMIT_S), contextlib.redirect_stderr(io.StringIO()):
        try:
            if train:
                result = hwprof.estimate_train("llama3.1-8b", **{"tokens": 1e12, "layout": "tp=8", **call})
            else:
                result = hwprof.estimate_serve("llama3.1-8b", **call)
        except hwprof.HwprofError:
            return
    import json

    assert not non_finite(json.dumps(hwprof.to_json(result))), given_
