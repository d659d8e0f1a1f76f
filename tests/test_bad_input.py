"""Bad input gets one clear line: what is wrong, where (file, line, key path) and how to fix it,
a non-zero exit under --strict-plugins, and never a traceback.

Each case breaks one key of a small valid profile; the expected line number is found in the test's
own text, not asked of hwprof.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHIP, SOURCES, RunCli, WriteProfile, chip_profile

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
