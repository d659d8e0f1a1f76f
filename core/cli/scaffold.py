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
from typing import Any

import attrs

from ..data import records
from ..data.schema import ID_PATTERN
from ..data.writer import dumps
from ..errors import HwprofError
from ..version import __version__

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


TODO_SOURCE = records.Source(
    key="datasheet", title="TODO: the document these figures come from", url="https://example.com"
)


def placeholder_chip(record_id: str) -> records.Chip:
    """A valid chip whose every figure says it must be replaced."""
    source = TODO_SOURCE

    def todo() -> records.Figure:
        return records.Figure(
            value=1.0, source=source, status="estimated", note="TODO: replace with the sourced figure"
        )

    return records.Chip(
        id=record_id, name=f"TODO: {record_id}", vendor="TODO", peak_dense_tflops={"bf16": todo()},
        memory_bandwidth_tbps=todo(), memory_gb=todo(),
    )  # fmt: skip


TODO_NOTE = "TODO: a placeholder copied from another profile; replace it with your sourced figure"
# Prose about the template's hardware (its notes, how a figure was derived, what it was built from):
# true of the template, not of the new record, so a copy starts without it.
PROSE = frozenset({"notes", "note", "sparsity_note", "how", "built_from", "alternatives", "claims"})


def _unsourced(value: Any) -> Any:
    """``value`` with the template's units and structure but none of its provenance: every figure and
    fact cites the TODO datasheet, is 'estimated' and says it is a placeholder; prose is dropped."""
    if isinstance(value, records.Figure | records.Fact):
        changes: dict[str, Any] = {"how": "", "alternatives": ()} if isinstance(value, records.Figure) else {}
        return attrs.evolve(value, source=TODO_SOURCE, status="estimated", note=TODO_NOTE, **changes)
    if isinstance(value, records.Source):
        return TODO_SOURCE
    if isinstance(value, dict):
        return {k: _unsourced(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_unsourced(v) for v in value)
    if attrs.has(type(value)):
        changes = {}
        for f in attrs.fields(type(value)):
            if f.name in PROSE:
                changes[f.name] = type(getattr(value, f.name))()
            elif f.name not in ("id", "origin"):
                changes[f.name] = _unsourced(getattr(value, f.name))
        if "source" in changes and "status" in changes:
            changes["status"] = "estimated"  # a system's chip count, a price: copied like the figures
        return attrs.evolve(value, **changes)
    return value


def _title(record_id: str) -> str:
    return " ".join(word.capitalize() if word.isalpha() else word.upper() for word in record_id.split("-"))


def clean_copy(record: Any, new_id: str) -> Any:
    """A record to start a new profile from: ``record`` under ``new_id``, its figures and structure kept
    as placeholders, without the template's name, vendor, sources or derivations."""
    copy = attrs.evolve(_unsourced(record), id=new_id, override=False)
    if hasattr(copy, "name"):
        copy = attrs.evolve(copy, name=_title(new_id))
    if isinstance(copy, records.Chip):
        copy = attrs.evolve(copy, vendor="TODO", scale_up="")  # the template's link is the template vendor's
    return copy


def from_template(
    names: Names, chip: records.Chip, systems: list[records.System], links: list[records.Interconnect]
) -> list[Any]:
    """The template chip, one system built on it and that system's interconnects, under ids named
    after the new chip (``acme-x1``, ``acme-x1-scale-up``, ``acme-x1-board-8``), each referring to the
    new records only, every figure a placeholder."""
    new = names.record_id
    link_ids: dict[str, str] = {}
    for link in links:
        wanted = f"{new}-{link.tier}"
        link_ids[link.id] = wanted if wanted not in link_ids.values() else f"{wanted}-{len(link_ids) + 1}"
    out: list[Any] = [attrs.evolve(clean_copy(chip, new), vendor=_title(new.split("-")[0]),
                                      scale_up=link_ids.get(chip.scale_up, ""))]  # fmt: skip
    for link in links:
        out.append(
            attrs.evolve(clean_copy(link, link_ids[link.id]), name=f"{_title(new)} {link.tier} link (TODO: its name)")
        )
    for system in systems:
        tiers = tuple(attrs.evolve(t, interconnect=link_ids.get(t.interconnect, t.interconnect), note="")
                      for t in system.tiers)  # fmt: skip
        new_id = f"{new}-{system.kind}-{system.chips}"[:64]
        out.append(attrs.evolve(clean_copy(system, new_id), chip=new, tiers=tiers,
                                name=f"{_title(new)} {system.kind} ({system.chips} chips)"))  # fmt: skip
    return out


def plugin_files(
    names: Names,
    template: records.Chip | None = None,
    systems: list[records.System] | None = None,
    links: list[records.Interconnect] | None = None,
) -> dict[str, str]:
    """Relative path -> text of every file in the new plugin package."""
    import tomli_w

    pkg = names.package
    profile_records: list[Any]
    if template is None:
        profile_records, made_from = [placeholder_chip(names.record_id)], "a placeholder chip"
    else:
        profile_records = from_template(names, template, systems or [], links or [])
        made_from = f"chip {template.id!r}" + (f", system {systems[0].id!r} and its interconnects" if systems else "")
    pyproject = {
        "build-system": {"requires": ["setuptools>=69"], "build-backend": "setuptools.build_meta"},
        "project": {
            "name": names.dist,
            "version": "0.1.0",
            "description": f"hwprof plugin: the {names.record_id} profile",
            "readme": "README.md",
            "requires-python": ">=3.11",
            "dependencies": [f"hwprof>={__version__}"],
            "entry-points": {"hwprof": {names.entry_point: f"{pkg}:plugin"}},
        },
        "tool": {
            "setuptools": {"packages": [pkg], "package-data": {pkg: ["*.toml"]}},
            "pytest": {"ini_options": {"pythonpath": ["."], "testpaths": ["tests"]}},  # pytest, if installed
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
        f"{pkg}/{pkg}.toml": dumps(profile_records, header=profile_header),
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
    from ..data.files import folder_mode

    try:
        building = Path(tempfile.mkdtemp(dir=parent, prefix=f".{names.dist}."))
    except OSError as exc:
        raise HwprofError(f"-o {parent}: cannot create a folder there: {exc.strerror or exc}") from None
    try:
        building.chmod(folder_mode())  # mkdtemp makes 0700; the package gets what the umask gives
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

hwprof finds the `plugin` object below through the `hwprof` entry point in pyproject.toml and
imports this module on every start: keep it light, and import heavy libraries inside the hooks.
To add logic (a cost model that computes its quotes, a command), write the hook as a method of
Plugin with @hookimpl: hwprof calls the hooks of the `plugin` object, so a module-level function
would be ignored. CONTRIBUTING.md of hwprof lists every hook with an example.
"""

from hwprof import hookimpl  # noqa: F401  (for the hooks you add)
from hwprof.data.toml_plugin import TomlPlugin


class Plugin(TomlPlugin):
    """Every record of {pkg}.toml; add hook methods here."""


plugin = Plugin(__name__, "{pkg}.toml")
'''

README = """# {dist}

A [hwprof](https://pypi.org/project/hwprof/) plugin that registers the `{id}` chip profile.

## Use

    hwprof plugins install .          # or: hwprof plugins install -e . while editing
    hwprof chips show {id}
    hwprof plugins list               # shows {ep}, its status and what it registered

## Edit

The figures live in `{pkg}/{pkg}.toml`. Give each one a source and a status (official, reported,
derived with `how`, estimated), then check the file and run the test (it needs only hwprof):

    hwprof profiles check {pkg}/{pkg}.toml
    python -m unittest discover -s tests

Remove it with `hwprof plugins uninstall {dist}`.
"""

TEST = '''"""Smoke test: the plugin loads and registers its records without a warning. It needs only what
pyproject.toml declares (hwprof): run it with `python -m unittest discover -s tests` (pytest runs it too)."""

import unittest

from hwprof.data.registry import Settings, build

import {pkg}


class PluginTest(unittest.TestCase):
    def test_registers_its_chip(self) -> None:
        # Load only this module (under a name of its own, so an installed copy is not loaded twice).
        name = "{ep}-under-test"
        registry = build(Settings(allow=frozenset({{name}})), extra_plugins=[(name, {pkg}.plugin)])
        self.assertEqual(registry.warnings, [])
        self.assertGreater(registry.chips["{id}"].memory.value, 0)
        self.assertEqual([p.status for p in registry.plugins if p.name == name], ["loaded"])


if __name__ == "__main__":
    unittest.main()
'''


def unshipped_profile(profile: Path) -> str:
    """Why ``pip install`` of the plugin project holding ``profile`` would leave it out, or ''.

    setuptools installs only Python files unless ``[tool.setuptools.package-data]`` (or a
    MANIFEST.in) names the TOML; the plugin then loads with no profile. Hatchling and flit ship
    every file in the package, so only setuptools projects are checked.
    """
    import fnmatch
    import tomllib

    package = profile.resolve().parent
    if not (package / "__init__.py").exists():
        return ""  # a plain profile folder, not a package
    root = next((d for d in (package.parent, package.parent.parent) if (d / "pyproject.toml").is_file()), None)
    if root is None:
        return ""
    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    backend = config.get("build-system", {}).get("build-backend", "setuptools.build_meta")
    if not str(backend).startswith("setuptools"):
        return ""
    relative = profile.resolve().relative_to(package).as_posix()
    setuptools = config.get("tool", {}).get("setuptools", {})
    folder = package.relative_to(root).as_posix()
    mapped = {name for name, where in setuptools.get("package-dir", {}).items() if where == folder}
    names = {"*", "", package.name, folder.replace("/", "."), *mapped}
    listed = [p for key, values in setuptools.get("package-data", {}).items() if key in names for p in values]
    manifest = root / "MANIFEST.in"
    if any(fnmatch.fnmatch(relative, p) for p in listed) or (
        manifest.is_file() and ".toml" in manifest.read_text(encoding="utf-8", errors="replace")
    ):
        return ""
    return (f"{profile.name} would not be installed with the plugin: setuptools ships only Python files unless "
            f"{root / 'pyproject.toml'} says [tool.setuptools.package-data] {package.name} = [\"*.toml\"]")  # fmt: skip


def unshipped_profiles(project: Path) -> list[str]:
    """``unshipped_profile`` for every TOML inside a package of the plugin project folder ``project``."""
    found = []
    for init in sorted(project.glob("*/__init__.py")) + sorted(project.glob("src/*/__init__.py")):
        found += [m for toml in sorted(init.parent.glob("*.toml")) if (m := unshipped_profile(toml))]
    return found
