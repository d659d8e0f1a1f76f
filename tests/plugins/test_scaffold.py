"""`hwprof plugins new`: a complete plugin package whose own test passes, never over an existing
folder, never under a name pip or Python would refuse. And the warning `profiles check` and
`plugins install` give when pip would leave a plugin's TOML out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hwprof.data.schema import load_file
from tests.facts import error_line


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
    assert 'plugin = Plugin(__name__, "hwprof_acme_x1.toml")' in module
    assert "dependencies" in pyproject["project"] and "optional-dependencies" not in pyproject["project"]
    # The profile starts from the template's values, but nothing of the template's provenance: each
    # figure is an estimate citing the TODO datasheet, with no derivation or alternatives (issues 12, 23).
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
    assert all(f.note.startswith("TODO") and not f.how and not f.alternatives for f in figures)
    assert chip.vendor == "Acme" and not chip.notes and not chip.sparsity_note
    text = (root / "hwprof_acme_x1" / "hwprof_acme_x1.toml").read_text()
    assert "NVIDIA" not in text and "nvidia" not in text and "H100" not in text and "sparse / 2" not in text
    # The smallest system on the chip comes too, named after the new chip, over its own copies of the
    # links, and the chip's scale-up link is the copy, not the template's.
    (system,) = profile.system
    assert (system.id, system.chip, system.chips) == ("acme-x1-board-8", "acme-x1", 8)
    assert (system.status, system.source.title.startswith("TODO")) == ("estimated", True)
    assert [t.interconnect for t in system.tiers] == ["acme-x1-scale-up", "acme-x1-scale-out"]
    assert sorted(link.id for link in profile.interconnect) == ["acme-x1-scale-out", "acme-x1-scale-up"]
    assert chip.scale_up == "acme-x1-scale-up"


def test_the_scaffolded_test_passes_with_only_what_its_pyproject_declares(run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("plugins", "new", "hwprof-acme-x2", "-o", tmp_path).code == 0
    root = tmp_path / "hwprof-acme-x2"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    # unittest is in the standard library: the test needs hwprof, the one dependency declared.
    run = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests"],
        cwd=root, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Ran 1 test" in run.stderr and run.stderr.rstrip().endswith("OK")


def test_a_hook_added_to_the_scaffold_is_picked_up(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module says to add hooks as methods of Plugin: one added there registers its records."""
    import importlib

    from hwprof.data import registry

    assert run_cli("plugins", "new", "hwprof-acme-x4", "-o", tmp_path).code == 0
    module = tmp_path / "hwprof-acme-x4" / "hwprof_acme_x4" / "__init__.py"
    text = module.read_text().replace(
        """    \"\"\"Every record of hwprof_acme_x4.toml; add hook methods here.\"\"\"
""",
        """    \"\"\"Every record of hwprof_acme_x4.toml; add hook methods here.\"\"\"

    @hookimpl
    def hwprof_register_workloads(self):
        from hwprof.data import records

        return [records.Workload.given(1e9, id="acme-1b")]
""",
    )
    assert "hwprof_register_workloads" in text
    module.write_text(text)
    monkeypatch.syspath_prepend(str(module.parent.parent))
    plugin = importlib.import_module("hwprof_acme_x4").plugin
    found = registry.build(registry.Settings(allow=frozenset({"x4"})), extra_plugins=[("x4", plugin)])
    assert found.warnings == []
    assert "acme-1b" in found.workloads and "acme-x4" in found.chips


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
    error_line(result.err, f"{existing}: already exists", "remove it", "another name", "-o DIR")
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


def test_profiles_check_warns_when_a_plugins_toml_would_not_be_installed(run_cli: Any, tmp_path: Path) -> None:
    # A hand-written plugin following CONTRIBUTING, without package-data: pip installs no TOML.
    root = tmp_path / "hwprof-acme"
    package = root / "hwprof_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert run_cli("profiles", "new", "--from", "h100-sxm", "--id", "acme-x1", "-o", package / "acme.toml").code == 0
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n')
    result = run_cli("profiles", "check", package / "acme.toml")
    assert result.code == 0
    assert "package-data" in result.err and "acme.toml" in result.err
    pyproject = '[tool.setuptools.package-data]\nhwprof_acme = ["*.toml"]\n'
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n' + pyproject)
    assert "package-data" not in run_cli("profiles", "check", package / "acme.toml").err


def test_plugins_new_from_a_chip_copies_its_system_and_interconnects(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("plugins", "new", "hwprof-acme-x1", "--chip", "h100-sxm", "-o", tmp_path)
    assert result.code == 0, result.err
    profile = tmp_path / "hwprof-acme-x1" / "hwprof_acme_x1" / "hwprof_acme_x1.toml"
    check = run_cli("profiles", "check", profile)
    assert check.code == 0, check.output
    assert re.search(r"1 chip, [1-9]\d* interconnects?, [1-9]\d* systems?", check.out), check.out
    text = profile.read_text()
    assert "(edit me)" not in text
    # The new system runs the new chip over the copied links, under new ids.
    shown = run_cli("--profiles", profile.parent, "systems", "list", "--json").json()
    assert [s["chip"] for s in shown if s["chip"] == "acme-x1"]


def test_plugins_install_warns_before_pip_drops_a_plugins_toml(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "hwprof-acme"
    (root / "hwprof_acme").mkdir(parents=True)
    (root / "hwprof_acme" / "__init__.py").write_text("")
    (root / "hwprof_acme" / "acme.toml").write_text("schema_version = 1\n")
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n')
    calls: list[list[str]] = []
    monkeypatch.setattr(
        subprocess, "run", lambda command, **_: calls.append(command) or subprocess.CompletedProcess(command, 0)
    )
    result = run_cli("plugins", "install", root)
    assert result.code == 0 and calls  # pip still runs: the warning says what will be missing
    assert "warning: acme.toml would not be installed with the plugin" in result.err
    assert '[tool.setuptools.package-data] hwprof_acme = ["*.toml"]' in result.err
    calls.clear()
    assert "would not be installed" not in run_cli("plugins", "install", "-e", root).err  # editable reads it in place
