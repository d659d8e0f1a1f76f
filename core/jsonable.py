"""One JSON form for everything hwprof prints with ``--json``: records, typed results, figures.

Attrs instances become objects of their fields (a field named ``override`` is loader detail and is
left out), figures carry their value, status and source, dates their ISO form. Result records name
their fields with the unit in the name (``time_s``, ``cost_usd``) and ranges as
``{"low", "expected", "high"}``, so the JSON keys are the field names and nothing is renamed here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from .data import records


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, numbers, strings, None)."""
    if isinstance(value, records.Figure | records.Fact):
        return figure_json(value)
    if isinstance(value, records.Source):
        return source_json(value)
    if attrs.has(type(value)):
        return {f.name: to_json(getattr(value, f.name)) for f in attrs.fields(type(value)) if f.name != "override"}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [to_json(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def figure_json(figure: records.Figure | records.Fact | None) -> dict[str, Any] | None:
    """A figure as JSON: value, status, and where it came from."""
    if figure is None:
        return None
    out: dict[str, Any] = {"value": figure.value, "status": figure.status, "source": source_json(figure.source)}
    if isinstance(figure, records.Figure):
        if figure.how:
            out["how"] = figure.how
        if figure.alternatives:
            out["alternatives"] = [
                {"value": a.value, "status": a.status, "source": source_json(a.source), "note": a.note}
                for a in figure.alternatives
            ]
    if figure.note:
        out["note"] = figure.note
    return out


def source_json(source: records.Source) -> dict[str, Any]:
    return source.as_json()
