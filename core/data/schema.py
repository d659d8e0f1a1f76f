"""Reading profile TOML into the data model, reporting every problem at once.

The reader walks the attrs classes in ``hwprof.data.records`` by their type hints, so the model is
the schema: a new field is read, checked and documented without touching this module. Each
problem is one line: file, line, key path, what was expected and, for a misspelled key, the
closest known one.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import types
import typing
import weakref
from pathlib import Path
from typing import Any

import attrs

from ..errors import ProfileError, close_matches, did_you_mean
from . import checks, kinds, records
from .checks import Bound
from .rules import (
    DEFAULT_COUNT,
    DEFAULT_NUMBER,
    FIELD_BOUNDS,
    PLAUSIBLE,
    RECORD_CHECKS,
    RULES_VERSION,
    Plausible,
)
from .toml_text import locate, parse_text, read_bytes

SCHEMA_VERSION = 1
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")

# Top-level array-of-tables names in a profile file, and the record each holds.
KINDS: dict[str, type] = {kind.name: kind.record for kind in kinds.KINDS}


@attrs.frozen
class ProfileSet:
    """Everything one profile file (or one plugin) declares."""

    origin: str = ""
    sources: dict[str, records.Source] = attrs.Factory(dict)
    chip: tuple[records.Chip, ...] = ()
    interconnect: tuple[records.Interconnect, ...] = ()
    system: tuple[records.System, ...] = ()
    cost_model: tuple[records.CostModel, ...] = ()
    workload: tuple[records.Workload, ...] = ()
    validation_case: tuple[records.ValidationCase, ...] = ()
    warnings: tuple[str, ...] = ()  # figures that are possible but unusual, each as file:line: path: message


# Typed fields for plugin authors (``load_resource(...).chip``), one per kind, in the kinds' order.
assert [f.name for f in attrs.fields(ProfileSet)][2:-1] == list(KINDS), "ProfileSet needs a field per kind"


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(records))


def user_fields(cls: type) -> list[attrs.Attribute[Any]]:
    """Fields a profile author writes (``origin`` is set by the loader)."""
    return [f for f in attrs.fields(cls) if f.name != "origin"]


class _Bad:
    """Marks a value that failed to read; its problem is already recorded."""


BAD = _Bad()


def _describe(raw: object) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "text", list: "an array",
            dict: "a table", dt.date: "a date"}.get(type(raw), type(raw).__name__)  # fmt: skip
    if isinstance(raw, dict | list):
        shown = ""
    else:  # shortened: a 300-digit number or a page of text is not repeated back
        shown = checks.shown(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else repr(raw)
    return f"{kind} {shown}".strip()


class Reader:
    """Turns parsed TOML into model records; ``problems`` collects (key path, message)."""

    def __init__(self, sources: dict[str, records.Source]) -> None:
        self.sources = sources
        self.problems: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []  # unusual but possible figures (rules.PLAUSIBLE)
        self.unit = ""  # unit of the field being read, named in messages about its numbers
        self.bound: Bound | None = None  # range of the field being read, when it has its own
        self.plausible: Plausible | None = None  # where the field's figures can and usually lie

    def fail(self, path: str, message: str) -> _Bad:
        self.problems.append((path, message))
        return BAD

    def read(self, tp: Any, raw: Any, path: str) -> Any:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            return self.read(next(a for a in args if a is not type(None)), raw, path)
        if origin is typing.Literal:
            if raw in args:
                return raw
            choices = ", ".join(str(a) for a in args)
            hint = did_you_mean(str(raw), [str(a) for a in args])
            return self.fail(path, f"must be one of {choices}, got {_describe(raw)}{hint}")
        if origin is tuple:
            if not isinstance(raw, list):
                return self.fail(path, f"expected an array, got {_describe(raw)}")
            items = [self.read(args[0], item, f"{path}[{i}]") for i, item in enumerate(raw)]
            return BAD if any(i is BAD for i in items) else tuple(items)
        if origin is dict:
            if not isinstance(raw, dict):
                return self.fail(path, f"expected a table, got {_describe(raw)}")
            values = {k: self.read(args[1], v, f"{path}.{k}") for k, v in raw.items()}
            return BAD if any(v is BAD for v in values.values()) else values
        if tp is records.Source:
            return self._source(raw, path)
        if attrs.has(tp):
            return self.record(tp, raw, path)
        return self._scalar(tp, raw, path)

    def _source(self, raw: Any, path: str) -> Any:
        if isinstance(raw, str) and raw in self.sources:
            return self.sources[raw]
        if not isinstance(raw, str):
            return self.fail(path, f"expected the key of a [sources] entry, got {_describe(raw)}")
        hint = did_you_mean(raw, list(self.sources))
        return self.fail(path, f"unknown source {raw!r}{hint}; declare it as [sources.{raw}]")

    def _scalar(self, tp: Any, raw: Any, path: str) -> Any:
        if tp is str:
            if isinstance(raw, dt.date):
                return raw.isoformat()
            return raw if isinstance(raw, str) else self.fail(path, f"expected text, got {_describe(raw)}")
        if tp is bool:
            if isinstance(raw, bool):
                return raw
            return self.fail(path, f"expected true or false, got {_describe(raw)}")
        if tp is dt.date:
            if not isinstance(raw, dt.date) or isinstance(raw, dt.datetime):
                return self.fail(path, f"expected a date like 2025-06-01, got {_describe(raw)}")
            problem = checks.date_problem("the date", raw)
            return raw if problem is None else self.fail(path, problem.removeprefix("the date "))
        unit = f" (unit: {self.unit})" if self.unit else ""
        if tp is int:
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
                return self.fail(path, f"expected a positive whole number, got {_describe(raw)}{unit}")
            bound = self.bound if self.bound and self.bound.integer else DEFAULT_COUNT
        elif tp is float:
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                return self.fail(path, f"expected a positive number, got {_describe(raw)}{unit}")
            if isinstance(raw, float) and not math.isfinite(raw):
                return self.fail(path, f"must be a finite number, got {raw}{unit}")
            if raw <= 0:
                return self.fail(path, f"expected a positive number, got {_describe(raw)}{unit}")
            bound = self.bound if self.bound and not self.bound.integer else DEFAULT_NUMBER
        else:
            raise TypeError(f"the reader does not know type {tp!r} (at {path})")
        if tp is float and self.plausible is not None and abs(raw) < 1e300 and (verdict := self.plausible.judge(raw)):
            level, message = verdict  # in the field's unit, asking whether another unit was meant
            if level == "error":
                return self.fail(path, message)
            self.warnings.append((path, message))
        if bound.problem(raw) is not None:
            return self.fail(path, f"must be {bound.describe()}, got {checks.shown(raw)}{unit}")
        return float(raw) if tp is float else raw

    def record(self, cls: type, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            return self.fail(path, f"expected a table, got {_describe(raw)}")
        fields = {f.name: f for f in user_fields(cls)}
        before = len(self.problems)
        # Keys an unknown key may be a misspelling of: the unknown-key line already names them, so
        # a rename like memory_bandwidth_gbps -> _tbps gives one problem, not two.
        suggested: set[str] = set()
        for key in raw:
            if key not in fields:
                suggested.update(close_matches(key, list(fields)))
                hint = did_you_mean(key, list(fields))
                self.fail(f"{path}.{key}", f"unknown key{hint}; {cls.__name__} keys: {', '.join(fields)}")
        values: dict[str, Any] = {}
        for name, field in fields.items():
            if name not in raw:
                if field.default is attrs.NOTHING and name not in suggested:
                    what = field.metadata.get("doc", "")
                    unit = field.metadata.get("unit", "")
                    self.fail(f"{path}.{name}", f"missing required key ({what}{', in ' + unit if unit else ''})")
                continue
            outer, self.unit = self.unit, field.metadata.get("unit") or self.unit
            outer_bound, self.bound = self.bound, FIELD_BOUNDS.get((cls, name), self.bound)
            outer_plausible, self.plausible = self.plausible, PLAUSIBLE.get((cls, name), self.plausible)
            values[name] = self.read(hints(cls)[name], raw[name], f"{path}.{name}")
            self.unit, self.bound, self.plausible = outer, outer_bound, outer_plausible
        if name_check := RECORD_CHECKS.get(cls):
            for where, message in name_check(raw):
                if where.lstrip(".").split(".")[0] not in suggested:
                    self.fail(f"{path}{where}", message)
        if "id" in fields and isinstance(raw.get("id"), str) and not ID_PATTERN.match(raw["id"]):
            self.fail(
                f"{path}.id", "must be 1-64 characters of a-z, 0-9, '.', '_', '+', '-', starting with a letter or digit"
            )
        if len(self.problems) > before:
            return BAD
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            return self.fail(path, str(exc))


def load_text(text: str, origin: str) -> ProfileSet:
    """Read one profile file's text; raise ``ProfileError`` listing every problem in it.

    Parsed files are cached on disk by their text (``hwprof.data.cache``); errors are not.
    """
    from .cache import cached

    profile = cached("profile", f"{model_signature()}\0{origin}\0{text}", lambda: _load_text(text, origin))
    for kind in KINDS:
        for record in getattr(profile, kind):
            _READ[id(record)] = record
    return profile


# id(record) -> record, for records this reader built (already checked; plugin records are read
# again by hwprof.data.verify). Weak: it never keeps a record alive.
_READ: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def was_read(record: Any) -> bool:
    """Whether the reader built ``record`` (from a profile file or a plugin's TOML)."""
    return _READ.get(id(record)) is record


@functools.cache
def model_signature() -> str:
    """The record types' names and fields: a cached parse from another data model must not load."""
    return f"rules {RULES_VERSION};" + ";".join(f"{cls.__name__}:{','.join(f.name for f in attrs.fields(cls))}"
                                                for cls in (*KINDS.values(), *_nested_records(), ProfileSet))  # fmt: skip


def _nested_records() -> tuple[type, ...]:
    return (records.Source, records.Figure, records.Fact, records.Alternative, records.Tier, records.Host, records.Claim,
            records.Price, records.MissingPrice, records.ServingStack)  # fmt: skip


def _load_text(text: str, origin: str) -> ProfileSet:
    data = parse_text(text, origin)
    reader = Reader({})
    problems: list[tuple[str, str]] = []
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problems.append(("schema_version", f"this hwprof reads schema_version {SCHEMA_VERSION}, got {version!r}"))
    raw_sources = data.get("sources", {})
    if not isinstance(raw_sources, dict):
        problems.append(("sources", "expected tables like [sources.KEY] with title, url, date"))
        raw_sources = {}
    for key, table in raw_sources.items():
        src = reader.record(
            records.Source, {"key": key, **table} if isinstance(table, dict) else table, f"sources.{key}"
        )
        if src is not BAD:
            reader.sources[key] = src
    found: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for key, value in data.items():
        if key in ("schema_version", "sources"):
            continue
        if key not in KINDS:
            hint = did_you_mean(key, [*KINDS, "sources", "schema_version"])
            problems.append(
                (key, f"unknown top-level table{hint}; a profile holds {', '.join(f'[[{k}]]' for k in KINDS)}")
            )
            continue
        for i, table in enumerate(value if isinstance(value, list) else [value]):
            record = reader.record(KINDS[key], table, f"{key}[{i}]")
            if record is not BAD:
                found[key].append(attrs.evolve(record, origin=origin))
    problems += reader.problems
    if problems:
        raise ProfileError([_line(origin, text, path, message) for path, message in problems])
    warnings = tuple(_line(origin, text, path, message) for path, message in reader.warnings)
    return ProfileSet(
        origin=origin, sources=reader.sources, warnings=warnings, **{k: tuple(v) for k, v in found.items()}
    )


def _line(origin: str, text: str, path: str, message: str) -> str:
    line = locate(text, path)
    return f"{origin}{f':{line}' if line else ''}: {path}: {message}"


def load_file(path: Path) -> ProfileSet:
    return load_text(read_bytes(path), str(path))


@functools.cache
def load_resource(package: str, name: str) -> ProfileSet:
    """Read a profile file shipped inside a Python package (how plugins carry their TOML).

    Cached, so a plugin may call it from each of its hooks.
    """
    import importlib
    import sys

    importlib.import_module(package)
    beside = Path(getattr(sys.modules[package], "__file__", None) or "/nonexistent").with_name(name)
    if beside.is_file():  # a package on disk: skip importlib.resources, which costs start-up time
        return load_file(beside)
    from importlib.resources import files

    resource = files(package) / name
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([f"{package}/{name}: cannot read: {exc}"]) from None
    return load_text(text, str(resource))
