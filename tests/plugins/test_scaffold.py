"""`hwprof plugins new`: a complete plugin package whose own test passes, never over an existing
folder, never under a name pip or Python would refuse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hwprof.data.schema import load_file


def test_scaffold_from_a_chip_template(run_cli: Any, tmp_path: Path, builtin_registry: Any) -> None:
    result = run_cli("plugins", "new", "hwprof-acme-x1", "--chip", "h100-sxm", "-o", tmp_path)
    assert result.code == 0, result.err
    root = tmp_path / "hwprof-acme-x1"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md", "hwprof_acme_x1/__init__.py", "hwprof_acme_x1/hwprof_acme_x1.toml", "pyproject.toml",
        "tests/test_hwprof_acme_x1.py",
    ]  # fmt: skip
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "hwprof-acme-x1"
    assert pyproject["project"]["entry-points"] == {"hwprof": {"hwprof-acme-x1": "hwprof_acme_x1:plugin"}}
    assert pyproject["tool"]["setuptools"]["package-data"] == {"hwprof_acme_x1": ["*.toml"]}
    module = (root / "hwprof_acme_x1" / "__init__.py").read_text()
    assert 'plugin = TomlPlugin(__name__, "hwprof_acme_x1.toml")' in module
    # The profile starts from the template's values, but no figure claims the template's sources:
    # each is an estimate whose note says where it was copied from (issue 12).
    profile = load_file(root / "hwprof_acme_x1" / "hwprof_acme_x1.toml")
    (chip,) = profile.chip
    template = builtin_registry.chips["h100-sxm"]
    assert (chip.id, chip.name) == ("acme-x1", "Acme X1")
    assert {p: f.value for p, f in chip.peak_dense_tflops.items()} == {
        p: f.value for p, f in template.peak_dense_tflops.items()
    }
    assert chip.memory_bandwidth_tbps.value == template.memory_bandwidth_tbps.value
    figures = [*chip.peak_dense_tflops.values(), chip.memory_bandwidth_tbps]
    assert {(f.status, f.source.title.startswith("TODO")) for f in figures} == {("estimated", True)}
    assert all("copied from h100-sxm" in f.note for f in figures)
    # The smallest system on the chip comes too, on the new chip, over copies of its links.
    (system,) = profile.system
    assert (system.id, system.chip, system.chips) == ("acme-x1-hgx-h100-8", "acme-x1", 8)
    assert (system.status, system.source.title.startswith("TODO")) == ("estimated", True)
    assert {t.interconnect for t in system.tiers} == {link.id for link in profile.interconnect}
    assert all(link.id.startswith("acme-x1-") for link in profile.interconnect)


def test_the_scaffolded_test_passes(run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("plugins", "new", "hwprof-acme-x2", "-o", tmp_path).code == 0
    root = tmp_path / "hwprof-acme-x2"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_without_a_template_every_figure_says_todo(run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("plugins", "new", "hwprof-acme-x3", "-o", tmp_path).code == 0
    profile = load_file(tmp_path / "hwprof-acme-x3" / "hwprof_acme_x3" / "hwprof_acme_x3.toml")
    (chip,) = profile.chip
    figures = [chip.memory, chip.memory_bandwidth_tbps, *chip.peak_dense_tflops.values()]
    assert {(f.status, f.note.startswith("TODO")) for f in figures} == {("estimated", True)}


def test_refuses_to_overwrite_an_existing_folder(run_cli: Any, tmp_path: Path) -> None:
    existing = tmp_path / "hwprof-acme"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    result = run_cli("plugins", "new", "hwprof-acme", "-o", tmp_path)
    assert result.code == 1
    assert result.err == f"error: {existing}: already exists; remove it or pass another name or -o DIR\n"
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hwprof-acme"]  # no temporary folder left


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "hwprof acme", "-rf", "acme-", ".hidden", "9lives", "class", "hwprof", "x" * 80]
)
def test_refuses_names_that_are_not_valid_distribution_names(run_cli: Any, tmp_path: Path, name: str) -> None:
    result = run_cli("plugins", "new", "-o", tmp_path, "--", name)
    assert result.code == 1, result.output
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_template_chip_gets_a_did_you_mean(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("plugins", "new", "hwprof-acme", "--chip", "h100", "-o", tmp_path)
    assert result.code == 1
    assert "did you mean 'h100-sxm'" in result.err
    assert list(tmp_path.iterdir()) == []
