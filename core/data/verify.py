"""Records a plugin builds in Python, checked exactly as the TOML reader checks a profile file.

A record is turned back into the TOML data it stands for (``writer.unstructure``) and read again
by the same ``Reader``: the same ranges, ids, precisions, required memory figure, the same
messages. Records the reader built itself (a plugin's TOML, a profile folder) are not read twice.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .kinds import Kind


def problems(record: Any, kind: Kind) -> list[str]:
    """What is wrong with ``record`` as a ``kind``, each as one line; empty when it is fine."""
    from .schema import was_read

    if was_read(record):
        return []
    if isinstance(record, kind.record) and attrs.has(type(record)):
        return _read_again(record, kind)
    if kind.accepts is not None and not isinstance(record, kind.record) and isinstance(record, kind.accepts):
        return _behaviour(record, kind)
    shown = repr(record)
    return [f"expected a {kind.record.__name__}, got {shown if len(shown) < 60 else shown[:57] + '...'}"]


def unusual(record: Any, kind: Kind) -> list[str]:
    """Figures of a record built in Python that are possible but unusual (rules.PLAUSIBLE), each as
    one line; empty for a record with no figures to judge (a computed cost model)."""
    if not (isinstance(record, kind.record) and attrs.has(type(record))):
        return []
    return _read_again(record, kind, warnings=True)


def _read_again(record: Any, kind: Kind, warnings: bool = False) -> list[str]:
    from ..errors import ProfileError
    from . import schema, writer

    label = f"{kind.word} {getattr(record, 'id', '?')!r}"
    try:
        sources = writer.cited_sources(record)
        reader = schema.Reader(sources)
        reader.record(type(record), writer.unstructure(record), kind.name)
    except ProfileError as exc:
        return [] if warnings else [f"{label}: {exc.problems[0]}"]
    except Exception as exc:  # a value the reader cannot even walk: say so, do not crash
        return [f"{label}: cannot be read as profile data ({type(exc).__name__}: {exc})"]
    found = reader.warnings if warnings else reader.problems
    return [f"{label}: {path.removeprefix(kind.name + '.')}: {message}" for path, message in found]


def _behaviour(model: Any, kind: Kind) -> list[str]:
    """A cost model with behaviour: a valid id and name, and the members the protocol names."""
    from .schema import ID_PATTERN

    found = []
    ident, name = getattr(model, "id", None), getattr(model, "name", None)
    if not isinstance(ident, str) or not ID_PATTERN.match(ident):
        found.append(f"id {ident!r}: must be 1-64 characters of a-z, 0-9, '.', '_', '+', '-'")
    if not isinstance(name, str):
        found.append(f"name: expected text, got {name!r}")
    for member in ("quote", "priced_systems"):
        if not callable(getattr(model, member, None)):
            found.append(f"{member}: missing (see QuotesCost in hwprof.data.records)")
    regions = getattr(model, "regions", None)
    if not isinstance(regions, list | tuple) or not all(
        isinstance(r, str) and re.match(r"^\S{1,64}$", r) for r in regions
    ):
        found.append(f"regions: expected a list of region codes, got {regions!r}"[:200])
    return [f"{kind.word} {ident!r}: {p}" for p in found]
