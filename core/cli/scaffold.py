"""``hwprof plugins new``: the files of a complete third-party plugin package.

The package is what a vendor or a user publishes: a ``pyproject.toml`` with the ``hwprof`` entry
point, a module whose ``plugin`` object registers one TOML profile, the profile, a README and
one smoke test. The folder is built beside its destination and renamed into place, so a failure
leaves nothing half-made.
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path

import attrs

from hwprof.core import __version__
from hwprof.core.data import records
from hwprof.core.data.schema import ID_PATTERN, dumps
from hwprof.core.errors import HwprofError

# PEP 508 distribution names.
DIST_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")


@attrs.frozen
class Names:
    dist: str  # as the user typed it: the folder and the project name
    entry_point: str  # normalised: what `plugins list` shows and HWPROF_LOAD_PLUGINS takes
    package: str  # the import name
    record_id: str  # the id of the chip the profile declares


def names_for(name: str) -> Names:
    """Check a distribution name and derive the others from it; refuse what pip or Python would."""
    if not DIST_NAME.match(name):
        raise HwprofError(
            f"{name!r} is not a valid distribution name: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (e.g. hwprof-acme-x1)"
        )
    normal = re.sub(r"[-_.]+", "-", name).lower()
    package = normal.replace("-", "_")
    if not package[0].isalpha() or keyword.iskeyword(package):
        raise HwprofError(f"{name!r}: the package would be imported as {package!r}; start the name with a letter")
    if normal == "hwprof":
        raise HwprofError("'hwprof' is hwprof itself; name the plugin e.g. hwprof-acme-x1")
    record_id = normal.removeprefix("hwprof-")
    if not ID_PATTERN.match(record_id):
        raise HwprofError(f"{name!r}: the chip id {record_id!r} would be longer than 64 characters; shorten the name")
    return Names(dist=name, entry_point=normal, package=package, record_id=record_id)


def placeholder_chip(record_id: str) -> records.Chip:
    """A valid chip whose every figure says it must be replaced."""
    source = records.Source(
        key="datasheet", title="TODO: the document these figures come from", url="https://example.com"
    )

    def todo() -> records.Figure:
        return records.Figure(
            value=1.0, source=source, status="estimated", note="TODO: replace with the sourced figure"
        )

    return records.Chip(
        id=record_id, name=f"TODO: {record_id}", vendor="TODO", peak_dense_tflops={"bf16": todo()},
        memory_bandwidth_tbps=todo(), memory_gb=todo(),
    )  # fmt: skip


def plugin_files(names: Names, template: records.Chip | None = None) -> dict[str, str]:
    """Relative path -> text of every file in the new plugin package."""
    import tomli_w

    pkg = names.package
    if template is None:
        chip, made_from = placeholder_chip(names.record_id), "a placeholder chip"
    else:
        chip = attrs.evolve(template, id=names.record_id, name=f"{template.name} (edit me)", override=False)
        made_from = f"chip {template.id!r}"
    pyproject = {
        "build-system": {"requires": ["setuptools>=69"], "build-backend": "setuptools.build_meta"},
        "project": {
            "name": names.dist,
            "version": "0.1.0",
            "description": f"hwprof plugin: the {names.record_id} profile",
            "readme": "README.md",
            "requires-python": ">=3.11",
            "dependencies": [f"hwprof>={__version__}"],
            "optional-dependencies": {"test": ["pytest>=8"]},
            "entry-points": {"hwprof": {names.entry_point: f"{pkg}:plugin"}},
        },
        "tool": {
            "setuptools": {"packages": [pkg], "package-data": {pkg: ["*.toml"]}},
            "pytest": {"ini_options": {"pythonpath": ["."], "testpaths": ["tests"]}},
        },
    }
    profile_header = (
        f"Made by `hwprof plugins new {names.dist}` from {made_from}.\n"
        "Replace every figure with one from a cited source, then run:\n"
        f"  hwprof profiles check {pkg}/{pkg}.toml"
    )
    return {
        "pyproject.toml": tomli_w.dumps(pyproject),
        f"{pkg}/__init__.py": MODULE.format(dist=names.dist, pkg=pkg),
        f"{pkg}/{pkg}.toml": dumps([chip], header=profile_header),
        "README.md": README.format(dist=names.dist, pkg=pkg, ep=names.entry_point, id=names.record_id),
        f"tests/test_{pkg}.py": TEST.format(pkg=pkg, ep=names.entry_point, id=names.record_id),
    }


def write_package(parent: Path, names: Names, files: dict[str, str]) -> Path:
    """Create ``parent/NAME`` holding ``files``; refuse if it exists."""
    import shutil
    import tempfile

    target = parent / names.dist
    if not parent.is_dir():
        raise HwprofError(f"-o {parent}: not a folder; create it first or pass another")
    if target.exists() or target.is_symlink():
        raise HwprofError(f"{target}: already exists; remove it or pass another name or -o DIR")
    building = Path(tempfile.mkdtemp(dir=parent, prefix=f".{names.dist}."))
    try:
        for relative, text in files.items():
            path = building / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        os.rename(building, target)
    except BaseException as exc:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(exc, OSError):
            raise HwprofError(f"{target}: cannot write: {exc.strerror or exc}") from None
        raise
    return target


MODULE = '''"""hwprof plugin {dist}: registers the records in {pkg}.toml.

hwprof finds this module through the `hwprof` entry point in pyproject.toml and imports it on every
start: keep it light, and import heavy libraries inside the functions that need them.
To add logic (a cost model with rules, a command), add hook functions here; see hwprof's
docs/writing-plugins.md for every hook with an example.
"""

from hwprof.core.data.toml_plugin import TomlPlugin

plugin = TomlPlugin(__name__, "{pkg}.toml")
'''

README = """# {dist}

A [hwprof](https://pypi.org/project/hwprof/) plugin that registers the `{id}` chip profile.

## Use

    hwprof plugins install .          # or: hwprof plugins install -e . while editing
    hwprof chips show {id}
    hwprof plugins list               # shows {ep}, its status and what it registered

## Edit

The figures live in `{pkg}/{pkg}.toml`. Give each one a source and a status (official, reported,
derived with `how`, estimated), then check the file:

    hwprof profiles check {pkg}/{pkg}.toml
    python -m pytest

Remove it with `hwprof plugins uninstall {dist}`.
"""

TEST = '''"""Smoke test: the plugin loads and registers its chip without a warning."""

from hwprof.core.data.registry import Settings, build

import {pkg}


def test_registers_its_chip() -> None:
    # Load only this module (under a name of its own, so an installed copy is not loaded twice).
    name = "{ep}-under-test"
    registry = build(Settings(allow=frozenset({{name}})), extra_plugins=[(name, {pkg}.plugin)])
    assert registry.warnings == []
    chip = registry.chips["{id}"]
    assert chip.memory.value > 0
    assert [p.status for p in registry.plugins if p.name == name] == ["loaded"]
'''
