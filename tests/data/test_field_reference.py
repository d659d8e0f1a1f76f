"""docs/profiles.md's field reference says what `hwprof profiles schema` says: each field's unit,
its default or what leaving it out means (topology and link defaults included) and the range a
figure must lie in. The defaults quoted are the model's own constants."""

from __future__ import annotations

import json
from typing import Any

import attrs

from hwprof.data import rules
from hwprof.data.json_schema import field_reference
from hwprof.data.schema import user_fields
from hwprof.perf import comm
from tests import ROOT

START, END = "<!-- field reference: generated, do not edit -->", "<!-- end of field reference -->"


def test_the_reference_is_the_schema_the_cli_prints(run_cli: Any) -> None:
    schema = json.loads(run_cli("profiles", "schema").out)
    page = (ROOT / "docs" / "profiles.md").read_text(encoding="utf-8")
    shown = page.split(START + "\n", 1)[1].split(END, 1)[0]
    assert shown == field_reference(schema), "docs/profiles.md is stale: run python -m tests.plugins.test_docs"
    link = schema["definitions"]["Interconnect"]["properties"]
    assert link["latency_us"]["x-when-missing"].startswith("10 us per collective step assumed")
    assert link["bandwidth_per_chip_gb_s"]["x-unit"] == "GB/s"
    assert "| `topology` | text |  |  | nothing changes: the text is shown only" in shown
    assert "| `domain_chips` | whole number >= 1 |  |  | the whole system is one domain of this interconnect |" in shown


def test_the_link_defaults_quoted_are_the_models() -> None:
    from hwprof.data import records

    assert rules.WHEN_MISSING[(records.Interconnect, "latency_us")].startswith(f"{comm.DEFAULT_LATENCY_US:g} us ")
    assert rules.WHEN_MISSING[(records.Interconnect, "efficiency")].startswith(f"{comm.DEFAULT_EFFICIENCY:g} of ")


def test_every_when_missing_names_an_optional_field() -> None:
    for cls, name in rules.WHEN_MISSING:
        field = {f.name: f for f in user_fields(cls)}[name]
        assert field.default is not attrs.NOTHING, f"{cls.__name__}.{name} is required: nothing is 'missing'"
