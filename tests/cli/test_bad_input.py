"""Bad input gets one clear line: what is wrong, where (file, line, key path) and how to fix it,
a non-zero exit under --strict-plugins, and never a traceback.

Each case breaks one key of a small valid profile; the expected line number is found in the test's
own text, not asked of hwprof.

Every case of issue 11, run as a hostile user would (tests/hostile.py: the console script's ``main`` in
this process, under a clean environment; the installed command where only a real process shows it):
each ends in one clear error (exit 1 or 2) or a warning naming the culprit, never an internal error
(exit 70), a hang (a time limit fails the test) or a silent exit.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from hwprof.errors import HwprofError
from tests.conftest import CHIP, SOURCES, RunCli, WriteProfile, chip_profile
from tests.facts import facts
from tests.hostile import PROFILE, RECORDS_IMPORT, Ran, clean_env, fake_plugin, is_clean_error, run, spawn

FP8 = 'fp8 = { value = 100, source = "s1", status = "official" }'
BANDWIDTH = 'memory_bandwidth_tbps = { value = 1.5, source = "s1", status = "official" }'


def replace(old: str, new: str) -> str:
    text = chip_profile()
    assert old in text
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first line holding ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# name -> (profile text, the line it should point at, the key path, a fragment of the message)
CASES: dict[str, tuple[str, str, str, str]] = {
    "malformed TOML": (
        SOURCES + CHIP.replace('name = "Test Chip"', 'name = "Test Chip'),
        'name = "Test Chip',
        "",
        "malformed TOML",
    ),
    "missing required field": (
        replace(BANDWIDTH + "\n", ""),
        "[[chip]]",
        "chip[0].memory_bandwidth_tbps",
        "missing required key",
    ),
    "negative figure": (
        replace(FP8, FP8.replace("100", "-100")),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.value",
        "expected a positive number",
    ),
    "non-numeric figure": (
        replace(FP8, FP8.replace("100", '"fast"')),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.value",
        "got text 'fast'",
    ),
    "NaN": (
        replace(FP8, FP8.replace("100", "nan")),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.value",
        "finite",
    ),
    "infinity": (
        replace(BANDWIDTH, BANDWIDTH.replace("1.5", "inf")),
        "memory_bandwidth_tbps =",
        "chip[0].memory_bandwidth_tbps.value",
        "finite",
    ),
    "extra key in the wrong unit": (
        replace('vendor = "Test Vendor"\n', 'vendor = "Test Vendor"\nmemory_tb = 0.032\n'),
        "memory_tb",
        "chip[0].memory_tb",
        "unknown key (did you mean 'memory_gb' or 'memory_gib'",
    ),
    "key renamed to the wrong unit": (
        replace("memory_bandwidth_tbps =", "memory_bandwidth_gbps ="),
        "memory_bandwidth_gbps",
        "chip[0].memory_bandwidth_gbps",
        "did you mean 'memory_bandwidth_tbps'",
    ),
    "memory renamed to the wrong unit": (
        replace("memory_gib =", "memory_tib ="),
        "memory_tib",
        "chip[0].memory_tib",
        "did you mean 'memory_gib'",
    ),
    "derived figure without how": (
        replace(FP8, FP8.replace("official", "derived")),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.how",
        "must say how",
    ),
    "unknown source key": (
        replace(FP8, FP8.replace('"s1"', '"s12"')),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.source",
        "unknown source 's12' (did you mean 's1'?); declare it as [sources.s12]",
    ),
    "unknown precision": (
        replace(FP8, FP8.replace("fp8", "fp9")),
        "fp9 =",
        "chip[0].peak_dense_tflops.fp9",
        "unknown precision (did you mean 'fp8'",
    ),
    "unknown status": (
        replace(FP8, FP8.replace("official", "offical")),
        "fp8 =",
        "chip[0].peak_dense_tflops.fp8.status",
        "did you mean 'official'",
    ),
}


def one_line(text: str, prefix: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def check_line(line: str, path: Path, text: str, marker: str, key_path: str, fragment: str) -> None:
    assert f"{path}:{line_of(text, marker)}: " in line
    assert key_path in line
    assert fragment in line


@pytest.mark.parametrize("case", list(CASES))
def test_bad_profile_is_an_error_in_strict_mode(
    case: str, run_cli: RunCli, write_profile: WriteProfile, tmp_path: Path
) -> None:
    text, marker, key_path, fragment = CASES[case]
    path = write_profile(text)
    result = run_cli("--strict-plugins", "--profiles", path.parent, "chips", "list")
    assert result.code != 0
    assert result.out == ""
    assert "Traceback" not in result.output
    check_line(one_line(result.err, "error: "), path, text, marker, key_path, fragment)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_profile_is_a_warning_and_the_rest_works(case: str, run_cli: RunCli, write_profile: WriteProfile) -> None:
    text, marker, key_path, fragment = CASES[case]
    path = write_profile(text)
    result = run_cli("--profiles", path.parent, "chips", "list")
    assert result.code == 0
    assert "Traceback" not in result.output
    check_line(one_line(result.err, "warning: "), path, text, marker, key_path, fragment)
    ids = [line.split()[0] for line in result.out.splitlines()[2:] if line.strip()]
    assert "trainium2" in ids and "h100-sxm" in ids
    assert "testchip" not in ids  # the broken profile is skipped whole


def test_the_unbroken_profile_loads(run_cli: RunCli, write_profile: WriteProfile) -> None:
    """The cases above fail because of what they break, not because the base profile is bad."""
    path = write_profile(chip_profile())
    result = run_cli("--strict-plugins", "--profiles", path.parent, "chips", "show", "testchip", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    data = result.json()
    assert isinstance(data, dict)
    assert data["peak_dense_tflops"]["fp8"]["value"] == 100
    assert data["origin"] == str(path)


def test_non_utf8_bytes_name_file_and_line(run_cli: RunCli, write_profile: WriteProfile) -> None:
    raw = chip_profile().encode().replace(b"Test Vendor", b"Test Vend\xe9r")  # Latin-1, not UTF-8
    path = write_profile(raw)
    result = run_cli("--strict-plugins", "--profiles", path.parent, "chips", "list")
    assert result.code != 0
    assert "Traceback" not in result.output
    line = one_line(result.err, "error: ")
    assert f"{path}:{line_of(chip_profile(), 'Test Vendor')}: " in line
    assert "UTF-8" in line


def test_one_bad_file_does_not_hide_a_good_one(run_cli: RunCli, write_profile: WriteProfile) -> None:
    write_profile(chip_profile("goodchip"), "a_good.toml")
    bad = write_profile(replace(FP8, FP8.replace("100", "-1")), "b_bad.toml")
    result = run_cli("--profiles", bad.parent, "chips", "list")
    assert result.code == 0
    assert str(bad) in one_line(result.err, "warning: ")
    assert "goodchip" in result.out


def test_unknown_id_suggests_close_matches(run_cli: RunCli) -> None:
    result = run_cli("chips", "show", "trainium")
    assert result.code == 1
    assert result.out == ""
    line = one_line(result.err, "error: ")
    assert "unknown chip 'trainium'" in line
    assert "'trainium2'" in line and "'trainium3'" in line
    assert "hwprof chips list" in line


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["systems", "show", "trn2-ultrasever"], "'trn2-ultraserver'"),
        (["interconnects", "show", "nvlink"], "'nvlink4'"),
    ],
)
def test_unknown_system_and_interconnect_suggest_close_matches(run_cli: RunCli, args: list[str], word: str) -> None:
    result = run_cli(*args)
    assert result.code == 1
    assert word in one_line(result.err, "error: ")


def test_nonsense_flag_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("chips", "list", "--bogus")
    assert result.code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.err.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1 and "--bogus" in errors[0]


def test_profiles_flag_must_name_a_folder(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli("--profiles", missing, "chips", "list")
    assert result.code != 0
    assert "Traceback" not in result.output
    assert str(missing) in one_line(result.err, "error: ")


BIG = "1" + "0" * 299  # a 300-digit integer
TRAIN = ["estimate", "train", "--tokens", "1e12", "--system", "p5.48xlarge", "--count", "8"]
SERVE = ["estimate", "serve", "--chip", "h100-sxm", "--chips", "8"]
PLAN = ["plan", "train", "--model", "llama3.1-70b", "--tokens", "1e12"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "cache")


@pytest.fixture
def one_published_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """`validate` over the profiles' own cases and one built-in document's (a single serving run), not all
    of them: these tests check how a case is reported, which is the same for 1 case or 144, in well under a
    second instead of ~25 s each (tests/perf/fit/test_loso.py and tests/cli/test_estimate.py run them all)."""
    import attrs

    from hwprof.data import registry
    from hwprof.perf.fit import loso

    build = registry.build

    def trimmed(settings: registry.Settings) -> registry.Registry:
        reg = build(settings)
        kept = {key: case for key, case in reg.validation_cases.items()
                if reg.provider("validation_cases", key) != "plugin 'published_results'"
                or loso.document(case) == "trtllm-r1-guide"}  # fmt: skip
        builtin = [k for k in kept if reg.provider("validation_cases", k) == "plugin 'published_results'"]
        assert builtin and len(kept) < len(reg.validation_cases), "the built-in results moved: keep one document"
        return attrs.evolve(reg, validation_cases=kept)

    monkeypatch.setattr(registry, "build", trimmed)


def fails(result: Ran, *fragments: str) -> None:
    assert is_clean_error(result), str(result)
    for fragment in fragments:  # (profiles check lists the problems on stdout)
        assert fragment in result.err + result.out, f"{fragment!r} not in the message\n{result}"
    assert len(result.err) < 2000, f"a message, not a wall of text\n{result}"


def warns(result: Ran, *fragments: str) -> None:
    assert result.code == 0, str(result)
    assert "Traceback" not in result.err and "internal error" not in result.err, str(result)
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in the warnings\n{result}"


# ----------------------------------------------------------------------------- numbers on the command line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([*TRAIN, "--params", "nan"], "params"),
        ([*TRAIN, "--params", "inf"], "params"),
        ([*TRAIN, "--params", "70e9", "--active-params", "nan"], "active"),
        ([*SERVE, "--params", "nan"], "params"),
        ([*TRAIN, "--params", "70e9", "--seq-len", "-5"], "seq"),
        ([*TRAIN, "--params", "70e9", "--layers", "-80", "--hidden", "-8192", "--heads", "-64"], "layers"),
        ([*TRAIN, "--params", "70e9", "--layers", "80", "--hidden", "8192", "--heads", "0"], "heads"),
        ([*TRAIN, "--params", "70e9", "--layers", "80", "--hidden", "8192", "--heads", "100000"], "heads"),
        ([*TRAIN, "--model", "llama3.1-70b", "--global-batch-tokens", "0"], "batch"),
        ([*TRAIN, "--model", "llama3.1-70b", "--global-batch-tokens", "-1"], "batch"),
        ([*TRAIN, "--model", "llama3.1-70b", "--global-batch-tokens", "nan"], "batch"),
        ([*TRAIN, "--model", "llama3.1-70b", "--global-batch-tokens", "inf"], "batch"),
        ([*TRAIN[:2], "--tokens", "nan", *TRAIN[4:], "--model", "llama3.1-70b"], "tokens"),
        ([*TRAIN, "--model", "llama3.1-70b", "--mfu", "nan"], "mfu"),
        ([*TRAIN, "--model", "llama3.1-70b", "--mfu", "7"], "mfu"),
        ([*PLAN, "--deadline-days", "nan"], "deadline"),
        ([*PLAN, "--budget", "nan"], "budget"),
        ([*PLAN, "--deadline-days", "-3"], "deadline"),
        (
            [
                "compare",
                "train",
                "--model",
                "llama3.1-70b",
                "--tokens",
                "1e12",
                "--systems",
                "p5.48xlarge",
                "--chips",
                "0",
            ],
            "chips",
        ),  # fmt: skip
        (["prices", "list", "--as-of", "0001-01-01"], "as-of"),
        (["prices", "list", "--stale-days", "-1"], "stale"),
        (["systems", "show", "p5.48xlarge", "--count", BIG], "count"),
        ([*SERVE, "--model", "llama3.1-8b", "--batch", BIG], "concurrency"),
        ([*SERVE, "--model", "llama3.1-8b", "--input-tokens", "1000000000000"], "input"),
    ],
    ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else v,
)
def test_bad_numbers_are_one_clear_error(env: dict[str, str], args: list[str], fragment: str) -> None:
    result = run(args, env)
    fails(result)
    assert fragment in result.err.lower(), str(result)
    assert BIG not in result.err, "a 300-digit number is shortened in messages"


def test_input_tokens_too_long_blames_the_prompt_not_the_batch(env: dict[str, str]) -> None:
    result = run([*SERVE, "--model", "llama3.1-8b", "--input-tokens", "1000000000000"], env)
    fails(result, "--input-tokens")
    assert "--batch" not in result.err, str(result)


# ----------------------------------------------------------------------------- --model-config


def config(tmp_path: Path, **changes: object) -> Path:
    data: dict[str, object] = {"model_type": "llama", "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
                               "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                               "vocab_size": 128256, "max_position_embeddings": 131072}  # fmt: skip
    data.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}), encoding="utf-8")
    return path


def test_model_config_with_a_400_digit_width(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(config(tmp_path).read_text().replace("4096", "1" + "0" * 399), encoding="utf-8")
    result = run([*TRAIN, "--model-config", str(path)], env)
    fails(result, "hidden_size")
    assert "0" * 100 not in result.err


@pytest.mark.parametrize("value", [0, -4096, "4096", 4096.5, True])
def test_model_config_key_present_but_wrong_is_named_as_wrong_not_missing(
    env: dict[str, str], tmp_path: Path, value: object
) -> None:
    result = run([*TRAIN, "--model-config", str(config(tmp_path, hidden_size=value))], env)
    fails(result, "hidden_size")
    assert "needs hidden_size" not in result.err and "missing" not in result.err, str(result)


def test_model_config_more_active_experts_than_experts(env: dict[str, str], tmp_path: Path) -> None:
    path = config(tmp_path, model_type="mixtral", num_local_experts=8, num_experts_per_tok=64)
    fails(run([*TRAIN, "--model-config", str(path)], env), "num_experts_per_tok")


def test_model_config_on_an_endless_device(env: dict[str, str]) -> None:
    fails(run([*TRAIN, "--model-config", "/dev/zero"], env), "/dev/zero")


def test_model_config_on_a_fifo(env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    fails(run([*TRAIN, "--model-config", str(fifo)], env), "regular file")


def test_model_config_too_large(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"a": "' + "x" * 30_000_000 + '"}', encoding="utf-8")
    fails(run([*TRAIN, "--model-config", str(path)], env), "larger than")


def test_model_config_with_a_bom_is_read(env: dict[str, str], tmp_path: Path) -> None:
    path = config(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert run([*TRAIN, "--model-config", str(path), "--json"], env).code == 0


# ----------------------------------------------------------------------------- profiles that break use


def profile_dir(tmp_path: Path, old: str, new: str, name: str = "hx.toml") -> Path:
    assert old in PROFILE, old
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(PROFILE.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.usefixtures("one_published_document")
def test_the_template_profile_is_valid(env: dict[str, str], tmp_path: Path) -> None:
    folder = profile_dir(tmp_path, "", "")
    result = run(["--strict-plugins", "--profiles", str(folder), "systems", "list"], env)
    assert result.code == 0 and "hx-box" in result.out and result.err == "", str(result)
    served = run(["--profiles", str(folder), "validate", "--json"], env)
    assert served.code == 0, str(served)
    assert "hx-serve" in {case["id"] for case in json.loads(served.out)["cases"]}, str(served)


# (what to break, the value, the key path the message names, a command that used to crash)
BROKEN_PROFILES = [
    ("chips = 8", f"chips = {BIG}", "system[0].chips", ["systems", "list"]),
    ("value = 500", "value = 1e308", "chip[0].peak_dense_tflops.bf16.value", ["systems", "show", "hx-box"]),
    ("usd_per_hour = 20", "usd_per_hour = 1e308", "cost_model[0].prices[0].usd_per_hour",
     ["estimate", "train", "--model", "hx-model", "--tokens", "1e12", "--system", "hx-box", "--cost-model",
      "hx-cloud", "--json"]),
    ("value = 1, source", "value = 1e308, source", "chip[0].training_efficiency.value",
     ["estimate", "train", "--model", "hx-model", "--tokens", "1e12", "--system", "hx-box"]),
    ("value = 96", "value = 1e308", "chip[0].memory_gb.value",
     ["estimate", "serve", "--model", "hx-model", "--system", "hx-box"]),
    ("batch = 1", f"batch = {BIG}", "validation_case[0].batch", ["validate"]),
    ("batch = 1", "batch = 9223372036854775807", "validation_case[0].batch", ["validate"]),
    ("value = 500", f"value = {BIG}", "chip[0].peak_dense_tflops.bf16.value", ["chips", "list"]),
    ("params = 8e9", f"params = {BIG}", "workload[0].params", ["models", "list"]),
    ("value = 3,", "value = 1e-300,", "chip[0].memory_bandwidth_tbps.value",
     ["estimate", "serve", "--model", "hx-model", "--system", "hx-box"]),
    ("observed = 2025-01-01", "observed = 9999-12-31", "cost_model[0].prices[0].observed", ["prices", "list"]),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "where", "command"), BROKEN_PROFILES, ids=[c[1][:40] for c in BROKEN_PROFILES])
def test_a_profile_check_refuses_what_use_cannot_take(
    env: dict[str, str],
    tmp_path: Path,
    old: str,
    new: str,
    where: str,
    command: list[str],
    request: pytest.FixtureRequest,
) -> None:
    if command == ["validate"]:
        request.getfixturevalue("one_published_document")
    folder = profile_dir(tmp_path, old, new)
    checked = run(["profiles", "check", str(folder / "hx.toml")], env)
    fails(checked, where)
    assert BIG not in checked.err
    # In use, the file is skipped with a warning naming it; the command still runs on the rest...
    used = run(["--profiles", str(folder), *command], env)
    assert used.code in (0, 1) and "internal error" not in used.err and "Traceback" not in used.err, str(used)
    assert "hx.toml" in used.err, str(used)
    # ...and strict mode makes that an error.
    fails(run(["--strict-plugins", "--profiles", str(folder), *command], env), "hx.toml")


def test_fuzzed_number_forms_do_not_crash_the_check(env: dict[str, str], tmp_path: Path) -> None:
    for i, value in enumerate([BIG, f"-{BIG}", "1e400", "-inf", "+nan", "0x7fffffffffffffff", "1_000e-400"]):
        folder = profile_dir(tmp_path, "value = 500", f"value = {value}", name=f"f{i}.toml")
        fails(run(["profiles", "check", str(folder / f"f{i}.toml")], env), "bf16.value")


def test_a_profile_with_a_bom_is_read(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "hx.toml").write_bytes(b"\xef\xbb\xbf" + PROFILE.encode())
    result = run(["--strict-plugins", "--profiles", str(folder), "chips", "show", "hx-chip"], env)
    assert result.code == 0, str(result)


def test_a_fifo_in_a_profiles_folder_is_skipped_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    os.mkfifo(folder / "pipe.toml")
    warns(run(["--profiles", str(folder), "chips", "list"], env), "pipe.toml", "regular file")
    fails(run(["profiles", "check", str(folder / "pipe.toml")], env), "regular file")


def test_a_huge_profile_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "big.toml").write_text(PROFILE + "# " + "x" * 3_000_000 + "\n", encoding="utf-8")
    warns(run(["--profiles", str(folder), "chips", "list"], env), "big.toml", "larger than")


def test_the_same_folder_twice_loads_once(env: dict[str, str], tmp_path: Path) -> None:
    folder = profile_dir(tmp_path, "", "")
    result = run(["--profiles", str(folder), "--profiles", str(folder) + "/", "chips", "list"], env)
    assert result.code == 0 and "already registered" not in result.err, str(result)


@pytest.mark.usefixtures("one_published_document")
def test_validate_reports_every_bad_case_without_naming_flags(env: dict[str, str], tmp_path: Path) -> None:
    """A case that cannot be estimated is reported by its id, the rest still run; no flag names."""
    folder = profile_dir(tmp_path, 'precision = "bf16"', 'precision = "fp8"')  # hx-chip has no fp8 peak
    result = run(["--profiles", str(folder), "validate"], env)
    assert "hx-serve" in result.out + result.err, str(result)
    assert "--precision" not in result.err and "--batch" not in result.err, str(result)
    assert "median" in result.out, "the other cases still ran"


@pytest.mark.parametrize(("word", "command"), [("workload", "models list"), ("cost model", "prices list")])
def test_hints_name_commands_that_exist(env: dict[str, str], word: str, command: str) -> None:
    args = [*TRAIN, "--model", "nosuch"] if word == "workload" else [*TRAIN[:4], "--model", "llama3.1-70b",
                                                                       "--system", "p5.48xlarge", "--cost-model", "nosuch"]  # fmt: skip
    result = run(args, env)
    fails(result, f"hwprof {command}")


# ----------------------------------------------------------------------------- environment and files


def test_cache_dir_on_a_regular_file_falls_back_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env["HWPROF_CACHE_DIR"] = str(blocker)
    result = run(["chips", "list"], env)
    warns(result, "HWPROF_CACHE_DIR")
    assert "h100-sxm" in result.out


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero", "/proc/self"])
def test_cache_dir_on_a_special_path_falls_back(env: dict[str, str], special: str) -> None:
    env["HWPROF_CACHE_DIR"] = special
    warns(run(["chips", "list"], env), "HWPROF_CACHE_DIR")


def test_load_plugins_naming_nothing_installed_warns(env: dict[str, str]) -> None:
    env["HWPROF_LOAD_PLUGINS"] = "nosuch,trainium2"
    warns(run(["chips", "list"], env), "nosuch")


def test_output_to_a_full_device_is_one_line(env: dict[str, str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        result = spawn(["chips", "list"], env, stdout=full)  # a real process's stdout: in-process has none
    fails(result, "No space left")


def test_plugins_new_into_a_read_only_folder(env: dict[str, str], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):
        pytest.skip("running as a user who can write anywhere")
    fails(run(["plugins", "new", "hwprof-x", "-o", str(locked)], env), str(locked))


def test_new_files_respect_the_umask_and_force_keeps_the_mode(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "new.toml"
    old = os.umask(0o027)
    try:
        result = run(["profiles", "new", "--from", "h100-sxm", "--id", "my-chip", "-o", str(target)], env)
    finally:
        os.umask(old)
    assert result.code == 0, str(result)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    target.chmod(0o600)
    forced = run(["profiles", "new", "--from", "h100-sxm", "--id", "my-chip", "-o", str(target), "--force"], env)
    assert forced.code == 0, str(forced)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symlink_is_never_silently_replaced(env: dict[str, str], tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("# mine\n")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    result = run(["profiles", "new", "--from", "h100-sxm", "--id", "my-chip", "-o", str(link), "--force"], env)
    # Either refused, or written through the link on purpose: the link itself survives.
    assert link.is_symlink(), str(result)
    if result.code == 0:
        assert "h100" in real.read_text()
    else:
        fails(result, "symlink")
    dangling = tmp_path / "dangling.toml"
    dangling.symlink_to(tmp_path / "missing" / "x.toml")
    result = run(["profiles", "new", "--from", "h100-sxm", "--id", "my-chip", "-o", str(dangling)], env)
    assert dangling.is_symlink()
    assert result.code != 0 and is_clean_error(result), str(result)


# ----------------------------------------------------------------------------- plugins that misbehave


def plugin_env(env: dict[str, str], site: Path, **extra: str) -> dict[str, str]:
    return {**env, "PYTHONPATH": str(site), **extra}


def test_plugin_exiting_at_import_is_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    site = fake_plugin(tmp_path / "site", "hx_exit", "import sys\nsys.exit(3)\n")
    e = plugin_env(env, site)
    for args in (["--help"], ["chips", "list"]):
        result = run(args, e)
        warns(result, "hx_exit")
        assert result.out.strip(), "the command still printed"
    fails(run(["--strict-plugins", "chips", "list"], e), "hx_exit")


def test_plugin_exiting_in_a_hook_is_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    body = RECORDS_IMPORT + "@hookimpl\ndef hwprof_register_chips():\n    raise SystemExit('bye')\n"
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_hookexit", body))
    result = run(["chips", "list"], e)
    warns(result, "hx_hookexit", "bye")
    assert "h100-sxm" in result.out


def test_plugin_exiting_in_its_commands_hook_is_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    body = "from hwprof import hookimpl\n@hookimpl\ndef hwprof_register_commands(cli):\n    raise SystemExit(4)\n"
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_cmdexit", body))
    warns(run(["--version"], e))
    warns(run(["--help"], e), "hx_cmdexit")


FOREVER = "threading.Event().wait()"  # a wait the limit's signal ends: no wall-clock sleep
# Short, yet far above what a built-in plugin's call takes (milliseconds: they run under the limit too)
SHORT = "1"


@pytest.mark.parametrize("hook", ["hwprof_register_chips", "hwprof_register_commands"])
def test_a_slow_hook_is_named_and_given_up(env: dict[str, str], tmp_path: Path, hook: str) -> None:
    args = "cli" if hook == "hwprof_register_commands" else ""
    # waits for nothing that comes (no sleep to tune): the time limit, short, is what ends it
    body = f"import threading\nfrom hwprof import hookimpl\n@hookimpl\ndef {hook}({args}):\n    {FOREVER}\n"
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_slow", body), HWPROF_PLUGIN_TIMEOUT=SHORT)
    for command in (["chips", "list"], ["--help"]) if args else (["chips", "list"],):
        result = run(command, e)
        warns(result, "hx_slow", hook)
    assert run(["--version"], e).code == 0


def test_a_slow_plugin_import_is_named_and_given_up(env: dict[str, str], tmp_path: Path) -> None:
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_sleepy", f"import threading\n{FOREVER}\n"),
                   HWPROF_PLUGIN_TIMEOUT=SHORT)  # fmt: skip
    warns(run(["chips", "list"], e), "hx_sleepy")


def test_plugin_record_without_memory_is_skipped_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    body = RECORDS_IMPORT + (
        "@hookimpl\ndef hwprof_register_chips():\n"
        "    return [model.Chip(id='nomem', name='No memory', vendor='T', peak_dense_tflops={'bf16': fig(100.0)},\n"
        "                       memory_bandwidth_tbps=fig(1.0)),\n"
        "            model.Chip(id='fine', name='Fine', vendor='T', peak_dense_tflops={'bf16': fig(100.0)},\n"
        "                       memory_bandwidth_tbps=fig(1.0), memory_gb=fig(10.0))]\n"
    )
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_nomem", body))
    result = run(["chips", "list"], e)
    warns(result, "hx_nomem", "memory")
    assert "fine" in result.out and "nomem" not in result.out
    assert run(["estimate", "train", "--params", "1e9", "--tokens", "1e9", "--chip", "h100-sxm", "--chips", "8"],
               e).code == 0  # fmt: skip
    fails(run(["--strict-plugins", "chips", "list"], e), "hx_nomem")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [("id='../../evil id'", "id"), ("vendor=5", "vendor"), ("peak_dense_tflops={'zz99': fig(1.0)}", "zz99")],
)
def test_plugin_records_are_checked_like_toml(env: dict[str, str], tmp_path: Path, change: str, fragment: str) -> None:
    fields = {"id": "'bad'", "name": "'Bad'", "vendor": "'T'", "peak_dense_tflops": "{'bf16': fig(1.0)}",
              "memory_bandwidth_tbps": "fig(1.0)", "memory_gb": "fig(1.0)"}  # fmt: skip
    key, _, value = change.partition("=")
    fields[key] = value
    args = ", ".join(f"{k}={v}" for k, v in fields.items())
    body = RECORDS_IMPORT + f"@hookimpl\ndef hwprof_register_chips():\n    return [model.Chip({args})]\n"
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_records", body))
    result = run(["chips", "list"], e)
    warns(result, "hx_records", fragment)
    assert "h100-sxm" in result.out
    fails(run(["--strict-plugins", "chips", "list"], e), "hx_records")


@pytest.mark.usefixtures("one_published_document")
def test_a_plugin_cannot_take_over_a_builtin_command(env: dict[str, str], tmp_path: Path) -> None:
    body = (
        "import typer\nfrom hwprof import hookimpl\n@hookimpl\ndef hwprof_register_commands(cli):\n"
        "    @cli.command('validate')\n    def hijack():\n        typer.echo('HIJACKED')\n"
    )
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_hijack", body))
    result = run(["validate"], e)
    assert "HIJACKED" not in result.out, str(result)
    warns(result, "hx_hijack", "validate")


def test_a_misspelled_hook_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    body = "from hwprof import hookimpl\n@hookimpl\ndef hwprof_register_chip():\n    return []\n"
    e = plugin_env(env, fake_plugin(tmp_path / "site", "hx_typo", body))
    warns(run(["chips", "list"], e), "hx_typo", "hwprof_register_chip")
    fails(run(["--strict-plugins", "chips", "list"], e), "hwprof_register_chip")


def test_trace_shows_hook_calls_and_times(env: dict[str, str]) -> None:
    result = run(["chips", "list"], {**env, "HWPROF_TRACE_PLUGINS": "1"})
    assert result.code == 0, str(result)
    lines = [line for line in result.err.splitlines() if "hwprof_register_chips" in line]
    assert lines and "ms" in lines[0], str(result)
    assert any("trainium2" in line for line in lines), str(result)


def test_a_plugins_own_keyboard_interrupt_is_contained(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 24, item 9: a plugin raising KeyboardInterrupt is skipped like any failing plugin (was: every
    command exited 130). The user's own Ctrl-C still stops hwprof (tests/data/test_plugin_calls.py)."""
    body = "from hwprof import hookimpl\n@hookimpl\ndef hwprof_register_chips():\n    raise KeyboardInterrupt\n"
    result = run(["chips", "list"], plugin_env(env, fake_plugin(tmp_path / "site", "hx_ctrlc", body)))
    assert result.code == 0 and "h100-sxm" in result.out, str(result)
    facts(result.err, "plugin 'hx_ctrlc'", "KeyboardInterrupt", "skipped")


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("FIFOs and /dev paths")


# ----------------------------------------------------------------------------- issue 24, item 1
def test_a_folder_named_toml_is_skipped_at_every_door(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder ending in .toml in any profile folder: a warning naming it, never an internal error."""
    from hwprof.data import registry

    home = tmp_path / "home"
    (home / ".config" / "hwprof" / "profiles" / "old.toml").mkdir(parents=True)
    extra = tmp_path / "extra"
    (extra / "also.toml").mkdir(parents=True)
    (extra / "good.toml").write_text(chip_profile("goodchip"), encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("HWPROF_NO_USER_PROFILES")
    user = run_cli("chips", "list")  # the user's own profile folder
    assert user.code == 0 and "h100-sxm" in user.out, user.err
    facts(user.err, "old.toml", "not a regular file (a folder)", "saved on disk", "skipped")
    flag = run_cli("--profiles", extra, "chips", "list")
    assert flag.code == 0 and "goodchip" in flag.out and "also.toml: not a regular file (a folder)" in flag.err
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(extra))
    registry.reset()  # one process per command in real use: its registry is built afresh
    env = run_cli("chips", "show", "goodchip")
    assert env.code == 0 and "also.toml: not a regular file (a folder)" in env.err
    check = run_cli("profiles", "check", extra)
    assert check.code == 1 and "ok: " in check.out and "also.toml: not a regular file (a folder)" in check.out
    config = run_cli("estimate", "train", "--model-config", extra / "also.toml", "--system", "p5.48xlarge",
                     "--tokens", "1e12")  # fmt: skip
    assert config.code == 1 and config.err.count("\n") == 1
    facts(config.err, "also.toml", "not a regular file (a folder)", "config.json saved on disk")


def test_the_api_registry_stays_usable_after_a_folder_named_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hwprof

    (tmp_path / "x.toml").mkdir()
    reg = hwprof.registry(profiles=[tmp_path])
    assert any("x.toml: not a regular file (a folder)" in w for w in reg.warnings)
    assert capsys.readouterr().err == ""  # the API keeps warnings on the registry, prints nothing
    run = hwprof.estimate_train("llama3.1-8b", tokens=1e12, system="p5.48xlarge", layout="tp=8", cost_model="none")
    assert run.inputs.chips == 8


# ----------------------------------------------------------------------------- issue 24, items 6, 7, 8, 11
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--tokens", "1e18", "--mfu",
          "1e-320"), "--mfu: MFU must be at least 1e-09 (smaller cannot be computed with)"),
        (("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--rate", "1e-320"),
         "--rate: requests per second must be at least 1e-09"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_denormal_inputs_are_refused_in_one_line(run_cli: RunCli, args: tuple[str, ...], message: str,
                                                 fmt: str) -> None:  # fmt: skip
    result = run_cli(*args, "--format", fmt)
    assert result.code == 2 and result.out == "" and result.err.count("\n") == 1, result.err
    assert message in result.err


def test_a_result_that_is_not_finite_is_refused() -> None:
    from hwprof.service.estimate import finite

    with pytest.raises(HwprofError, match=r"not a finite number \(time_s.expected = inf\)"):
        finite({"time_s": {"low": 1.0, "expected": float("inf")}}, "tokens 1e+18 are")
    assert finite({"a": [1.0, 2]}, "x") == {"a": [1.0, 2]}


def test_a_huge_time_prints_in_a_few_digits(run_cli: RunCli) -> None:
    """--mfu 1e-9 with 1e18 tokens: 8e16 days, shown as such, not as 17 digits."""
    result = run_cli("estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--tokens", "1e18",
                     "--mfu", "1e-9", "--cost-model", "none")  # fmt: skip
    assert result.code == 0, result.err
    time_line = next(line for line in result.out.splitlines() if line.startswith("time"))
    assert re.search(r"\d\.\d\de\+16 days", time_line) and len(time_line) < 80, time_line


@pytest.mark.parametrize(
    "extra", [("--params", "405e9"), ("--model", "llama3.1-405b", "--mfu", "0.4")], ids=["params", "mfu"]
)
def test_memory_is_checked_without_a_layout_model(run_cli: RunCli, extra: tuple[str, ...]) -> None:
    """Issue 24, item 7: 405B parameters need 405e9 x 16 B / 8 chips = 810 GB per chip (754 GiB at the least),
    far over an H100's 0.9 x 79.65 GiB usable: refused, as the preset with a layout search is."""
    result = run_cli("estimate", "train", "--system", "p5.48xlarge", "--tokens", "1e12", *extra)
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "does not fit p5.48xlarge" in result.err and "per chip even fully sharded" in result.err
    # 405e9 x 16 / (0.9 x 79.65 GiB) = 84.2 -> at least 85 chips
    assert "use at least 85 chips" in result.err
    assert (
        run_cli("estimate", "train", "--system", "p5.48xlarge", "--count", "16", "--tokens", "1e12", *extra).code == 0
    )


def test_an_override_of_built_in_hardware_is_said(run_cli: RunCli, tmp_path: Path) -> None:
    """Issue 24, item 8: said in the estimate, and the replaced chip's published runs are not its evidence."""
    (tmp_path / "mine.toml").write_text(chip_profile("h100-sxm", override=True), encoding="utf-8")
    train = run_cli("--profiles", tmp_path, "estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge",
                    "--tokens", "1e12", "--json")  # fmt: skip
    assert train.code == 0, train.err
    said = f"chip 'h100-sxm' comes from profile {tmp_path / 'mine.toml'}, which overrides the one from plugin"
    assert said in train.err
    data = json.loads(train.out)
    assert any(said in n for n in data["notes"])
    assert data["published_cases_for_chip"] == []
    assert "no published train results for h100-sxm" in train.err
    serve = run_cli("--profiles", tmp_path, "estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge")
    assert serve.code == 0 and said in serve.err and said in serve.out


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30"),
        ("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge,trn2.48xlarge"),
        ("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge"),
        ("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge"),
    ],
)
@pytest.mark.parametrize("purchase", ["", " , "])
def test_an_empty_purchase_is_refused_by_every_command(run_cli: RunCli, args: tuple[str, ...], purchase: str) -> None:
    result = run_cli(*args, "--purchase", purchase)
    assert result.code == 1 and result.out == "" and result.err.count("\n") == 1, result.err
    assert "give at least one purchase option" in result.err


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge"), "training"),
        (("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge"), "serving"),
        (("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge,trn2.48xlarge"),
         "training"),
        (("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge"), "serving"),
        (("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30"), "training"),
        (("plan", "serve", "--model", "llama3.1-8b", "--rate", "5", "--ttft-slo", "1"), "serving"),
    ],
)  # fmt: skip
def test_an_unknown_or_empty_stack_is_refused_by_every_command(run_cli: RunCli, args: tuple[str, ...],
                                                               kind: str) -> None:  # fmt: skip
    typo = run_cli(*args, "--stack", "nemo-megatorn" if kind == "training" else "tensorrt-lm")
    assert typo.code == 1 and typo.out == "" and typo.err.count("\n") == 1, typo.err
    facts(typo.err, "nemo-megatorn" if kind == "training" else "tensorrt-lm", f"{kind} stack", "did you mean")
    assert "known: " in typo.err and ("nemo-megatron" if kind == "training" else "tensorrt-llm") in typo.err
    empty = run_cli(*args, "--stack", " ")
    assert empty.code == 1 and empty.err.count("\n") == 1 and "--stack" in empty.err and "empty" in empty.err


def test_a_fraction_of_a_rank_per_chip_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    """Found by the profile fuzz: ranks_per_chip 0.5 read as 0 ranks and divided by zero in serving."""
    ranks = 'ranks_per_chip = { value = 0.5, source = "s1", status = "official" }\n'
    text = chip_profile().replace('vendor = "Test Vendor"\n', 'vendor = "Test Vendor"\n' + ranks)
    (tmp_path / "half.toml").write_text(text, encoding="utf-8")
    result = run_cli("profiles", "check", tmp_path / "half.toml")
    assert result.code == 1
    facts(result.out, "chip[0].ranks_per_chip.value", "1 to 1,024", "got 0.5")


# ----------------------------------------------------------------------------- lists and layouts left blank

BLANK_SERVE_PLAN = ("plan", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge", "--rate", "1", "--ttft-slo", "1",
              "--tpot-slo", "0.05")  # fmt: skip
BLANK_TRAIN = ("--model", "llama3.1-8b", "--tokens", "1e12")


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (("compare", "train", *BLANK_TRAIN, "--systems", "p5.48xlarge,p5.48xlarge"), ("--systems", "p5.48xlarge", "twice")),
        (("plan", "train", *BLANK_TRAIN, "--systems", "trn2.48xlarge,p5.48xlarge,trn2.48xlarge"),
         ("--systems", "trn2.48xlarge", "twice")),
        (("compare", "train", *BLANK_TRAIN, "--systems", ""), ("--systems", "empty", "leave it out")),
        (("compare", "serve", "--model", "llama3.1-8b", "--systems", " , "), ("--systems", "empty", "system ids")),
        ((*BLANK_SERVE_PLAN, "--precisions", ""), ("--precisions", "empty")),
        ((*BLANK_SERVE_PLAN, "--precisions", "fp8,fp3"), ("--precisions", "fp3", "known", "fp8")),
        (("estimate", "train", *BLANK_TRAIN, "--system", "p5.48xlarge", "--layout", ""), ("layout", "empty", "tp=")),
        (("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--layout", " "),
         ("layout", "empty", "tp=")),
    ],
)  # fmt: skip
def test_a_list_or_layout_given_blank_or_twice_is_refused(run_cli: RunCli, args: tuple[str, ...],
                                                         wanted: tuple[str, ...]) -> None:  # fmt: skip
    """Left blank, an option the user typed is not its default (every system, the searched layout), and a
    system named twice is not two systems: one line saying which, and how to fix it."""
    result = run_cli(*args)
    assert result.code == 1, result
    error = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, result.err
    facts(error[0], *wanted)
