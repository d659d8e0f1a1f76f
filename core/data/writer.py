"""Writing profiles: records back into the TOML the reader takes (``hwprof profiles new|export``,
``plugins new``, ``prices refresh``); ``schema.load_text`` reads what ``dumps`` writes."""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import ProfileError
from . import records
from .schema import KINDS, SCHEMA_VERSION, user_fields


def unstructure(value: Any) -> Any:
    """A record as the TOML data the reader takes back: sources by key, defaults and origin left out."""
    if isinstance(value, records.Source):
        return value.key
    if attrs.has(type(value)):
        out = {}
        for field in user_fields(type(value)):
            item = getattr(value, field.name)
            if item is not None and not _is_default(field, item):
                out[field.name] = unstructure(item)
        return out
    if isinstance(value, tuple | list):
        return [unstructure(v) for v in value]
    if isinstance(value, dict):
        return {k: unstructure(v) for k, v in value.items()}
    return value


def _is_default(field: attrs.Attribute[Any], value: Any) -> bool:
    default = field.default
    factory = getattr(default, "factory", None)
    if factory is not None:
        return bool(value == factory())
    return default is not attrs.NOTHING and bool(value == default)


def cited_sources(value: Any, found: dict[str, records.Source] | None = None) -> dict[str, records.Source]:
    """Every source a record cites, by key; two different sources under one key are an error."""
    found = {} if found is None else found
    if isinstance(value, records.Source):
        if found.setdefault(value.key, value) != value:
            raise ProfileError([f"two different sources share the key {value.key!r}; export the records apart"])
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            cited_sources(getattr(value, field.name), found)
    elif isinstance(value, tuple | list):
        for item in value:
            cited_sources(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            cited_sources(item, found)
    return found


def document(items: list[Any]) -> dict[str, Any]:
    """A whole profile file, as TOML data, holding these records and the sources they cite."""
    sources: dict[str, records.Source] = {}
    for record in items:
        cited_sources(record, sources)
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    doc["sources"] = {
        key: {
            f.name: getattr(src, f.name)
            for f in user_fields(records.Source)[1:]
            if not _is_default(f, getattr(src, f.name))
        }
        for key, src in sources.items()
    }
    if not doc["sources"]:
        del doc["sources"]
    for kind, cls in KINDS.items():
        tables = [unstructure(r) for r in items if type(r) is cls]
        if tables:
            doc[kind] = tables
    return doc


def dumps(items: list[Any], header: str = "") -> str:
    """Profile TOML for these records, the sources they cite included; ``load_text`` reads it back."""
    import tomli_w

    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comment + tomli_w.dumps(document(items))
