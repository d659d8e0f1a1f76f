"""A JSON Schema of the profile format, generated from the data model, for editors.

It walks the same type hints as the reader in ``hwprof.data.schema``, so a field added to the
model shows up here with its description and unit. Taplo / Even Better TOML read it to check and
complete profiles as people type; ``hwprof profiles check`` stays the authority (it also checks
what a schema cannot say well, like a source key that must be declared in the same file).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import attrs

from . import checks, records
from .rules import FIELD_BOUNDS, KEYED_BY, PLAUSIBLE, WHEN_MISSING
from .schema import ID_PATTERN, KINDS, SCHEMA_VERSION, hints, user_fields

DRAFT = "http://json-schema.org/draft-07/schema#"

# Rules the reader checks in code, said the JSON Schema way.
EXTRA: dict[type, dict[str, Any]] = {
    records.Figure: {
        "if": {"properties": {"status": {"const": "derived"}}, "required": ["status"]},
        "then": {"required": ["how"]},
    },
    records.Chip: {"oneOf": [{"required": ["memory_gib"]}, {"required": ["memory_gb"]}]},
    records.Price: {"properties": {"purchase": {"enum": list(records.PURCHASE_OPTIONS)}}},
    records.MissingPrice: {"properties": {"purchase": {"enum": list(records.PURCHASE_OPTIONS)}}},
}


def _plain(default: Any) -> bool:
    """A default worth writing down: a literal (text, flag, number), not None, a factory or nothing."""
    return isinstance(default, str | bool | int | float)


class _Builder:
    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}

    def type_schema(self, tp: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):  # TOML has no null: an optional key is left out
            return self.type_schema(next(a for a in args if a is not type(None)))
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin is tuple:
            return {"type": "array", "items": self.type_schema(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.type_schema(args[1])}
        if tp is records.Source:
            return {"type": "string", "description": "key of a [sources] entry in the same file"}
        if attrs.has(tp):
            return {"$ref": f"#/definitions/{self.record(tp)}"}
        scalars: dict[Any, dict[str, Any]] = {
            str: {"type": "string"},
            bool: {"type": "boolean"},
            # The reader's default ranges (hwprof.data.checks); fields with their own below.
            int: {"type": "integer", "minimum": 1, "maximum": checks.COUNT_HIGH},
            float: {"type": "number", "minimum": checks.PROFILE_LOW, "maximum": checks.PROFILE_HIGH},
            dt.date: {"type": "string", "format": "date"},
        }
        if tp in scalars:
            return dict(scalars[tp])
        raise TypeError(f"no JSON Schema for type {tp!r}")

    def record(self, cls: type) -> str:
        name = cls.__name__
        if name in self.definitions:
            return name
        self.definitions[name] = {}  # placeholder: records may refer to each other
        properties: dict[str, Any] = {}
        for field in user_fields(cls):
            if cls is records.Source and field.name == "key":
                continue  # the key is the table name, [sources.KEY]
            prop = self.type_schema(hints(cls)[field.name])
            if keys := KEYED_BY.get((cls, field.name)):
                prop["propertyNames"] = {"enum": list(keys)}
            if field.name == "id":
                prop["pattern"] = ID_PATTERN.pattern
            if (bound := FIELD_BOUNDS.get((cls, field.name))) and prop.get("type") in ("integer", "number"):
                prop["exclusiveMinimum" if bound.above else "minimum"], prop["maximum"] = bound.low, bound.high
            text, unit = field.metadata.get("doc", ""), field.metadata.get("unit", "")
            described = f"{text} ({unit})" if unit else text
            prop = {**prop, "description": described} if described else prop
            if unit:
                prop["x-unit"] = unit
            if _plain(field.default):
                prop["default"] = field.default
            if missing := WHEN_MISSING.get((cls, field.name)):
                prop["x-when-missing"] = missing
            if plausible := PLAUSIBLE.get((cls, field.name)):
                prop["x-range"] = plausible.text()
            properties[field.name] = prop
        required = [f.name for f in user_fields(cls) if f.default is attrs.NOTHING and f.name in properties]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if cls.__doc__:
            schema["description"] = " ".join(cls.__doc__.split())
        if required:
            schema["required"] = required
        for key, value in EXTRA.get(cls, {}).items():
            if key == "properties":
                for prop_name, extra in value.items():
                    schema["properties"][prop_name] = {**schema["properties"][prop_name], **extra}
            else:
                schema[key] = value
        self.definitions[name] = schema
        return name


def profile_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of one profile file."""
    builder = _Builder()
    properties: dict[str, Any] = {
        "schema_version": {"const": SCHEMA_VERSION, "description": "version of this format"},
        "sources": {
            "type": "object",
            "description": "documents figures cite, as [sources.KEY] tables",
            "additionalProperties": {"$ref": f"#/definitions/{builder.record(records.Source)}"},
        },
    }
    for kind, cls in KINDS.items():
        properties[kind] = {
            "type": "array",
            "description": f"[[{kind}]] tables, one per {cls.__name__} record",
            "items": {"$ref": f"#/definitions/{builder.record(cls)}"},
        }
    return {
        "$schema": DRAFT,
        "title": "hwprof profile",
        "description": "Chips, interconnects, systems, cost models and workloads, each figure with its source.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "definitions": builder.definitions,
    }


# ----------------------------------------------------------------------------- field reference


def record_types() -> list[type]:
    """Every record a profile can hold, top-level kinds first, then the tables inside them."""
    found: list[type] = [records.Source, *KINDS.values()]
    for cls in found:  # grows while we walk it
        for field in user_fields(cls):
            for inner in _record_types(hints(cls)[field.name]):
                if inner not in found:
                    found.append(inner)
    return found


def _record_types(tp: Any) -> list[type]:
    if attrs.has(tp):
        return [tp]
    return [inner for arg in typing.get_args(tp) for inner in _record_types(arg)]


def type_text(tp: Any) -> str:
    """How a field's type reads in the docs: 'number > 0', 'array of Tier', ..."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return type_text(next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return f"array of {type_text(args[0])}"
    if origin is dict:
        return f"table of {type_text(args[1])}"
    if tp is records.Source:
        return "source key"
    if attrs.has(tp):
        return tp.__name__
    names = {str: "text", bool: "true or false", int: "whole number >= 1", float: "number > 0", dt.date: "date"}
    return names[tp]


def field_reference(schema: dict[str, Any] | None = None) -> str:
    """The profile format field by field, as Markdown, for docs/profiles.md: read from the JSON Schema
    (``hwprof profiles schema``), so the page says what the schema says: unit, default or what a
    missing key means, the range a figure must lie in, and the meaning."""
    definitions = (schema or profile_schema())["definitions"]
    tables = {cls: f"`[[{kind}]]`" for kind, cls in KINDS.items()} | {records.Source: "`[sources.KEY]`"}
    out = []
    for cls in record_types():
        where = tables.get(cls, "a table inside another record")
        out += [
            f"#### {cls.__name__} ({where})",
            "",
            "| key | type | unit | required | default, or when missing | range | meaning |",
            "|---|---|---|---|---|---|---|",
        ]
        definition = definitions[cls.__name__]
        for field in user_fields(cls):
            if field.name not in definition["properties"]:
                continue  # a source's key is its table name
            prop = definition["properties"][field.name]
            keys = KEYED_BY.get((cls, field.name))
            kind = type_text(hints(cls)[field.name]) + (" by precision" if keys else "")
            required = "yes" if field.name in definition.get("required", ()) else ""
            default = f"`{_toml(prop['default'])}`" if prop.get("default") not in (None, "", False) else ""
            missing = "; ".join(x for x in (default, prop.get("x-when-missing", "")) if x)
            unit = prop.get("x-unit", "")
            text = prop.get("description", "")
            text = text.removesuffix(f" ({unit})") if unit else text
            cells = [f"`{field.name}`", kind, unit, required, missing, prop.get("x-range", ""), text]
            out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _toml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else f'"{value}"' if isinstance(value, str) else str(value)
