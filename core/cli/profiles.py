"""``hwprof profiles``: profiles without code. Start one from an existing record, check files,
print the JSON Schema editors use, export any record as TOML.

A user profile is a TOML file in the config folder, in a folder of HWPROF_PROFILE_PATH or passed
with ``--profiles DIR``. It replaces a record of the same id only when it says ``override = true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..data.hookspecs import hookimpl
from ..errors import HwprofError, ProfileError, did_you_mean
from .render import dump_json, echo, plural, warn

if TYPE_CHECKING:
    from ..data.registry import Registry
    from ..data.schema import ProfileSet

profiles_app = typer.Typer(help="Profiles without code: new, check, schema, export.", no_args_is_help=True)
KindOption = Annotated[
    str | None,
    typer.Option("--kind", help="chip, interconnect, system, cost_model, workload ... when an id names several."),
]


def find(r: Registry, record_id: str, kind: str | None) -> tuple[str, Any]:
    """(kind, record) for an id of any kind; ``kind`` settles an id two kinds share."""
    from ..data.registry import PROFILE_KINDS

    if kind is not None:
        kind = kind.replace("-", "_")
        if kind not in PROFILE_KINDS:
            raise HwprofError(f"--kind {kind}: unknown{did_you_mean(kind, list(PROFILE_KINDS))}; "
                              f"known: {', '.join(PROFILE_KINDS)}")  # fmt: skip
    kinds = [kind] if kind else list(PROFILE_KINDS)
    tables: dict[str, dict[str, Any]] = {k: getattr(r, PROFILE_KINDS[k]) for k in kinds}
    hits = [(k, table[record_id]) for k, table in tables.items() if record_id in table]
    if not hits:
        known = [i for table in tables.values() for i in table]
        raise HwprofError(f"no profile has the id {record_id!r}{did_you_mean(record_id, known)} "
                          "(see `hwprof chips list`, `hwprof systems list`, ...)")  # fmt: skip
    if len(hits) > 1:
        names = " and ".join(k for k, _ in hits)
        raise HwprofError(f"{record_id!r} is the id of a {names}; pass --kind {hits[0][0]} (or another)")
    return hits[0]


@profiles_app.command("new")
def profiles_new(
    from_id: Annotated[str, typer.Option("--from", metavar="ID", help="The record to start from.")],
    new_id: Annotated[str, typer.Option("--id", metavar="NEW", help="The new record's id.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="FILE", help="Where to write it (default: NEW.toml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    kind: KindOption = None,
) -> None:
    """Write a new profile shaped like an existing record: its units and structure, with placeholder figures."""
    from ..data.files import write_atomic
    from ..data.registry import PROFILE_KINDS
    from ..data.schema import ID_PATTERN, load_text
    from ..data.writer import dumps
    from ..service.session import current_registry as reg

    if not ID_PATTERN.match(new_id):
        raise HwprofError(
            f"--id {new_id!r}: an id is 1-64 characters of a-z, 0-9, '.', '_', '+', '-', "
            "starting with a letter or digit (no '/' or '..')"
        )
    target = output if output is not None else Path(f"{new_id}.toml")
    if target.suffix != ".toml":
        raise HwprofError(f"-o {target}: a profile file name ends in .toml (hwprof loads only *.toml)")
    r = reg()
    kind, record = find(r, from_id, kind)
    attribute = PROFILE_KINDS[kind]
    if new_id in getattr(r, attribute):
        raise HwprofError(
            f"--id {new_id!r}: a {kind} with that id is already registered by {r.provider(attribute, new_id)}; "
            f"pick another id (to replace it on purpose: `hwprof profiles export {new_id}`, then set override = true)"
        )
    from .scaffold import clean_copy

    header = (f"A {kind} made by `hwprof profiles new --from {from_id} --id {new_id}`: the template's units and\n"
              "structure, every figure a placeholder. Give each its value, source and status, then run:\n"
              f"  hwprof profiles check {target}")  # fmt: skip
    text = dumps([clean_copy(record, new_id)], header=header)
    load_text(text, str(target))  # what we write must read back
    write_atomic(target, text, force=force)
    echo(f"wrote {target}: {kind} {new_id!r} from {from_id!r}; edit it, then `hwprof profiles check {target}`")


@profiles_app.command("check")
def profiles_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[FILE|FOLDER]...", help="Profile files or folders of them (default: the installed plugins)."
        ),
    ] = None,
) -> None:
    """Check profile files and report every problem at once: file, line, key path, what was expected.

    Without arguments, check what the installed plugins register: ids registered twice, records
    refused, and figures outside the range a chip usually has (each named with its unit)."""
    if not files:
        _check_plugins()
        return
    from ..data.schema import load_file

    paths = _expand(files)
    problems: list[str] = []
    bad: set[Path] = set()
    loaded: list[tuple[Path, ProfileSet]] = []
    for path in paths:
        try:
            loaded.append((path, load_file(path)))
        except ProfileError as exc:
            problems += exc.problems
            bad.add(path)
    for path, line in _cross_check(loaded) if loaded else []:
        problems.append(line)
        bad.add(path)
    from .scaffold import unshipped_profile

    for path, profile in loaded:
        if path not in bad:
            echo(f"ok: {path} ({_counts(profile)})")
        for unusual in profile.warnings:
            warn(unusual)
        if problem := unshipped_profile(path):
            warn(problem)
    for problem in problems:
        echo(problem)
    if problems:
        raise HwprofError(f"{len(problems)} problem(s) in {len(bad)} of {len(paths)} file(s); fix them and check again")


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as the ``*.toml`` files directly inside them (as hwprof loads a folder)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise HwprofError(f"{path}: a folder with no *.toml profile files in it")
            out += found
        else:
            out.append(path)
    return out


def _check_plugins() -> None:
    """What the installed plugins register: refused records and clashing ids are problems, unusual
    figures are warnings, each plugin with what it registered."""
    from ..data import registry, verify
    from ..data.kinds import BY_ATTRIBUTE
    from ..data.registry import PROFILE_KINDS
    from ..data.schema import load_file
    from ..service.session import current as session

    r = registry.get(session().settings())
    problems = list(r.warnings)  # failed plugins, refused records, ids registered twice (naming both)
    r.warnings.clear()
    files: set[str] = set()
    unusual: list[str] = []
    for attribute in PROFILE_KINDS.values():
        for record_id, record in getattr(r, attribute).items():
            origin = getattr(record, "origin", "")  # a computed cost model has none
            if origin.endswith(".toml") and Path(origin).is_file():
                files.add(origin)
            elif not origin:
                where = r.provider(attribute, record_id)
                unusual += [f"{where}: {line}" for line in verify.unusual(record, BY_ATTRIBUTE[attribute])]
    for origin in sorted(files):
        try:
            unusual += load_file(Path(origin)).warnings
        except ProfileError as exc:  # changed on disk since it loaded
            problems += exc.problems
    for info in r.plugins:
        counts = ", ".join(plural(n, a[:-1].replace("_", " ")) for a, n in info.registered.items())
        state = "ok" if info.status == "loaded" else info.status
        echo(f"{state}: plugin {info.name!r}" + (f" ({counts})" if counts else ""))
    for line in unusual:
        warn(line)
    for problem in problems:
        echo(problem)
    if problems:
        raise HwprofError(f"{len(problems)} problem(s) in the installed plugins and profiles; fix them and check again")


def _counts(profile: ProfileSet) -> str:
    from ..data.schema import KINDS

    parts = [plural(len(getattr(profile, kind)), kind.replace("_", " ")) for kind in KINDS if getattr(profile, kind)]
    return ", ".join(parts) or "no records"


def _cross_check(loaded: list[tuple[Path, ProfileSet]]) -> list[tuple[Path, str]]:
    """What one file cannot show alone: ids clashing with the registry or each other, and systems
    naming chips or interconnects nothing provides."""
    from ..data.registry import PROFILE_KINDS
    from ..data.toml_text import locate, read_bytes
    from ..service.session import current_registry as reg

    r = reg()
    checked = {str(path.resolve()) for path, _ in loaded}
    owners: dict[tuple[str, str], str] = {}  # (kind, id) -> who has it
    for attribute_kind, attribute in PROFILE_KINDS.items():
        for record_id, record in getattr(r, attribute).items():
            if _resolved(getattr(record, "origin", "")) not in checked:  # a computed cost model has none
                owners[(attribute_kind, record_id)] = r.provider(attribute, record_id)
    problems: list[tuple[Path, str, str]] = []
    for path, profile in loaded:
        for kind in PROFILE_KINDS:
            for i, record in enumerate(getattr(profile, kind)):
                owner = owners.get((kind, record.id))
                if owner and not record.override:
                    problems.append((path, f"{kind}[{i}].id", f"{record.id!r} is already registered by {owner}; "
                                     "rename it, or set override = true to replace it on purpose"))  # fmt: skip
                owners.setdefault((kind, record.id), str(path))
    for path, profile in loaded:
        for i, system in enumerate(profile.system):
            refs = [(f"system[{i}].chip", "chip", system.chip)]
            refs += [(f"system[{i}].tiers[{j}].interconnect", "interconnect", t.interconnect)
                     for j, t in enumerate(system.tiers)]  # fmt: skip
            for where, kind, ref in refs:
                if (kind, ref) not in owners:
                    known = [i for k, i in owners if k == kind]
                    problems.append((path, where, f"no {kind} {ref!r} in these files or the installed plugins"
                                     f"{did_you_mean(ref, known)}"))  # fmt: skip
    lines = []
    for path, where, message in problems:
        line = locate(read_bytes(path), where)
        lines.append((path, f"{path}{f':{line}' if line else ''}: {where}: {message}"))
    return lines


def _resolved(origin: str) -> str:
    try:
        return str(Path(origin).resolve())
    except (OSError, ValueError):
        return origin


@profiles_app.command("schema")
def profiles_schema() -> None:
    """Print the JSON Schema of profile files, for editors (Taplo / Even Better TOML)."""
    from ..data.json_schema import profile_schema

    echo(dump_json(profile_schema()))


@profiles_app.command("export")
def profiles_export(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Any chip, interconnect, system, ... id.")],
    kind: KindOption = None,
) -> None:
    """Print one record as profile TOML, with the sources it cites; loading it gives the same record."""
    from ..data.registry import PROFILE_KINDS
    from ..data.writer import dumps
    from ..service.session import current_registry as reg

    r = reg()
    kind, record = find(r, record_id, kind)
    provider = r.provider(PROFILE_KINDS[kind], record_id)
    text = dumps([record], header=f"{kind} {record_id}, exported from {provider}: {record.origin}")
    echo(text.rstrip("\n"))


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(profiles_app, name="profiles")
