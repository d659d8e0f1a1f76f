"""Profiles without code: `profiles new` (atomic, never over a file without --force), `profiles
check` (every problem at once, with file, line, key path and what was expected), hostile input
refused with one line, and user profiles overriding built-ins only when they say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hwprof.data import registry
from hwprof.data.files import write_atomic
from hwprof.data.schema import load_file
from hwprof.errors import HwprofError
from tests.facts import error_line, facts

GOOD = """\
schema_version = 1

[sources.s1]
title = "Test datasheet"

[[chip]]
id = "testchip"
name = "Test Chip"
vendor = "Test"
memory_gb = { value = 32, source = "s1", status = "official" }
memory_bandwidth_tbps = { value = 1.5, source = "s1", status = "official" }
peak_dense_tflops = { bf16 = { value = 50, source = "s1", status = "official" } }
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, where `profiles new` writes by default."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----------------------------------------------------------------------------- new


def test_new_copies_a_record_with_a_new_id(run_cli: Any, here: Path, builtin_registry: Any) -> None:
    result = run_cli("profiles", "new", "--from", "h100-sxm", "--id", "my-h100")
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1
    facts(result.out, "wrote my-h100.toml", "chip 'my-h100'", "'h100-sxm'", "`hwprof profiles check my-h100.toml`")
    (chip,) = load_file(here / "my-h100.toml").chip
    original = builtin_registry.chips["h100-sxm"]
    # The template's units and structure, every figure a placeholder: its values, none of its provenance.
    assert chip.id == "my-h100" and chip.tdp_w is not None and original.tdp_w is not None
    assert {p: f.value for p, f in chip.peak_sparse_tflops.items()} == {
        p: f.value for p, f in original.peak_sparse_tflops.items()
    }
    assert chip.tdp_w.value == original.tdp_w.value
    figures = [chip.tdp_w, chip.memory, chip.memory_bandwidth_tbps, *chip.peak_dense_tflops.values()]
    assert {(f.status, f.source.title, f.how, f.alternatives) for f in figures} == {
        ("estimated", "TODO: the document these figures come from", "", ())
    }
    assert (chip.name, chip.vendor, chip.notes, chip.scale_up) == ("My H100", "TODO", (), "")
    assert "NVIDIA" not in (here / "my-h100.toml").read_text()
    # The new file is a user profile like any other: --profiles loads it and `show` names the file.
    shown = run_cli("--profiles", here, "chips", "show", "my-h100")
    assert shown.out.splitlines()[-1] == f"from              profile {here / 'my-h100.toml'}: {here / 'my-h100.toml'}"


def test_new_never_overwrites_without_force(run_cli: Any, here: Path) -> None:
    target = here / "mine.toml"
    target.write_text("# my work\n")
    result = run_cli("profiles", "new", "--from", "h100-sxm", "--id", "x1", "-o", target)
    assert result.code == 1
    error_line(result.err, f"{target}: already exists", "--force", "-o FILE")
    assert target.read_text() == "# my work\n"
    assert run_cli("profiles", "new", "--from", "h100-sxm", "--id", "x1", "-o", target, "--force").code == 0
    assert load_file(target).chip[0].id == "x1"
    assert sorted(p.name for p in here.iterdir()) == ["mine.toml"]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "../../x"], "--id '../../x': an id is 1-64 characters"),
        (["--id", "a/b"], "--id 'a/b': an id is 1-64 characters"),
        (["--id", "x1", "-o", "../../etc/passwd"], "-o ../../etc/passwd: a profile file name ends in .toml"),
        (["--id", "x1", "-o", "no-such-folder/x1.toml"], "folder no-such-folder does not exist"),
        (["--id", "h200-sxm"], "a chip with that id is already registered by plugin 'nvidia_h200'"),
    ],
)
def test_new_refuses_bad_ids_and_paths(run_cli: Any, here: Path, args: list[str], message: str) -> None:
    result = run_cli("profiles", "new", "--from", "h100-sxm", *args)
    assert result.code == 1
    assert result.err.startswith("error: ") and message in result.err and result.err.count("\n") == 1
    assert list(here.iterdir()) == []


def test_an_interrupted_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "p.toml"
    target.write_text("old")

    def crash(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(HwprofError, match="p.toml: cannot write: No space left on device"):
        write_atomic(target, "new", force=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.toml"]


def test_an_id_two_kinds_share_needs_kind(run_cli: Any, tmp_path: Path) -> None:
    # A user system named like a chip: export must ask which one is meant.
    system = GOOD.split("[[chip]]")[0] + (
        '[[system]]\nid = "h100-sxm"\nname = "Box"\nkind = "box"\nchip = "h100-sxm"\nchips = 2\n'
        'source = "s1"\nstatus = "official"\n'
    )
    (tmp_path / "box.toml").write_text(system)
    result = run_cli("--profiles", tmp_path, "profiles", "export", "h100-sxm")
    assert result.code == 1
    facts(result.err, "'h100-sxm'", "chip and system", "--kind chip")
    exported = run_cli("--profiles", tmp_path, "profiles", "export", "h100-sxm", "--kind", "system")
    assert "[[system]]" in exported.out and "[[chip]]" not in exported.out


# ----------------------------------------------------------------------------- check


def test_check_reports_every_problem_at_once(run_cli: Any, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(
        GOOD.replace('vendor = "Test"', 'vendr = "Test"')
        .replace("value = 1.5,", "value = nan,")
        .replace('status = "official" } }', 'status = "oficial" } }')
        .replace("value = 32,", 'value = "32",')
    )
    result = run_cli("profiles", "check", good, bad)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == f"ok: {good} (1 chip)"
    # The key list grows with the schema: the message is checked by its key facts.
    [unknown] = [line for line in lines[1:] if "vendr" in line]
    assert unknown.startswith(
        f"{bad}:9: chip[0].vendr: unknown key (did you mean 'vendor'?); Chip keys: id, name, vendor, "
    )
    memory, bandwidth, status = sorted(line for line in lines[1:] if line != unknown)
    facts(memory, f"{bad}:10: chip[0].memory_gb.value:", "positive number", "text '32'", "GB")
    facts(bandwidth, f"{bad}:11: chip[0].memory_bandwidth_tbps.value:", "finite number", "nan", "TB/s")
    facts(status, f"{bad}:12: chip[0].peak_dense_tflops.bf16.status:", "official, reported, derived, estimated",
          "'oficial'", "did you mean 'official'")  # fmt: skip
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    facts(result.err, "4 problem(s)", "1 of 2 file(s)", "check again")


def test_check_finds_clashes_and_dangling_references(run_cli: Any, tmp_path: Path) -> None:
    clash = tmp_path / "clash.toml"
    clash.write_text(GOOD.replace('id = "testchip"', 'id = "h100-sxm"'))
    dangling = tmp_path / "box.toml"
    dangling.write_text(
        GOOD.split("[[chip]]")[0] + '[[system]]\nid = "box"\nname = "Box"\nkind = "box"\nchip = "testchp"\n'
        'chips = 2\nsource = "s1"\nstatus = "official"\ntiers = [{ interconnect = "nvlink" }]\n'
    )
    testchip = tmp_path / "testchip.toml"
    testchip.write_text(GOOD)
    result = run_cli("profiles", "check", clash, dangling, testchip)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"ok: {testchip} (1 chip)",
        f"{clash}:7: chip[0].id: 'h100-sxm' is already registered by plugin 'nvidia_h100'; rename it, "
        "or set override = true to replace it on purpose",
        f"{dangling}:10: system[0].chip: no chip 'testchp' in these files or the installed plugins "
        "(did you mean 'testchip'?)",
        f"{dangling}:14: system[0].tiers[0].interconnect: no interconnect 'nvlink' in these files or the installed "
        "plugins (did you mean 'nvlink4' or 'nvlink4-h800'?)",
    ]
    clash.write_text(GOOD.replace('id = "testchip"', 'id = "h100-sxm"\noverride = true'))
    assert run_cli("profiles", "check", clash).out == f"ok: {clash} (1 chip)\n"


def _nested(depth: int) -> str:
    return "x = " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"schema_version = 1\n# " + b"x" * 2_100_000 + b"\n", "larger than a profile can be (2,000,000 bytes)"),
        (_nested(200).encode(), "nested deeper than 12 levels"),
        (_nested(5000).encode(), "nested too deeply"),
        (GOOD.replace("Test Chip", "Test \xe9").encode("latin-1"), ":8: not UTF-8 (byte "),
        (GOOD.replace("value = 32,", "value = inf,").encode(), "memory_gb.value: must be a finite number, got inf"),
        (GOOD.replace("value = 32,", "value = -nan,").encode(), "memory_gb.value: must be a finite number, got nan"),
        (GOOD.replace("value = 32,", "value = true,").encode(), "expected a positive number, got a boolean True"),
        (GOOD.replace('id = "testchip"', 'id = "../../etc/passwd"').encode(), "chip[0].id: must be 1-64 characters"),
        (b"[[chip]\n", ":1: malformed TOML"),
    ],
    ids=["huge", "deep", "very-deep", "not-utf8", "inf", "nan", "wrong-type", "path-id", "malformed"],
)
def test_hostile_input_is_refused_with_a_clear_line(run_cli: Any, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "hostile.toml"
    path.write_bytes(content)
    result = run_cli("profiles", "check", path)
    assert result.code == 1
    assert "Traceback" not in result.output
    assert message in result.out, result.out
    assert result.out.startswith(str(path))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_refused(run_cli: Any) -> None:
    # Only regular files are read as profiles (issue 11): a device is refused before any read.
    result = run_cli("profiles", "check", "/dev/zero")
    assert result.code == 1
    assert "/dev/zero: not a regular file" in result.out


def test_check_of_a_missing_file(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profiles", "check", tmp_path / "nope.toml")
    assert result.code == 1
    assert result.out.count("\n") == 1
    facts(result.out, f"{tmp_path / 'nope.toml'}: ", "cannot read", "No such file or directory")


# ----------------------------------------------------------------------------- override


def test_a_user_profile_overrides_a_builtin_only_when_it_says_so(run_cli: Any, tmp_path: Path) -> None:
    mine = tmp_path / "h100.toml"
    mine.write_text(GOOD.replace('id = "testchip"', 'id = "h100-sxm"'))
    quiet = run_cli("--profiles", tmp_path, "chips", "show", "h100-sxm")
    [clash] = [line for line in quiet.err.splitlines() if line.startswith("warning: profile ")]
    facts(clash, str(mine), "chip id 'h100-sxm'", "plugin 'nvidia_h100'")
    assert "from              plugin 'nvidia_h100': " in quiet.out
    mine.write_text(GOOD.replace('id = "testchip"', 'id = "h100-sxm"\noverride = true'))
    registry.reset()  # a new process, as the next command would be
    loud = run_cli("--profiles", tmp_path, "chips", "show", "h100-sxm", "--json")
    assert loud.err == ""
    data = loud.json()
    assert (data["name"], data["origin"], data["provider"]) == ("Test Chip", str(mine), f"profile {mine}")
