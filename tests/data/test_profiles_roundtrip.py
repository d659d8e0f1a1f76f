"""`profiles export` round-trips (export, then load, gives an equal record: checked on every built-in
record and on generated chips), and the JSON Schema from `profiles schema` accepts every built-in
profile and generated one while rejecting what the reader rejects.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwprof.data import checks, records
from hwprof.data.json_schema import profile_schema
from hwprof.data.registry import PROFILE_KINDS
from hwprof.data.schema import load_text
from hwprof.data.writer import dumps
from hwprof.errors import ProfileError
from tests import ROOT
from tests.facts import facts

PROFILES = ROOT / "profiles"


def as_json(value: Any) -> Any:
    """TOML data as JSON sees it (dates become ISO text), which is how editors apply the schema."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = profile_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def errors(validator: jsonschema.Draft7Validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(as_json(tomllib.loads(text)))]


# ----------------------------------------------------------------------------- export


def test_every_builtin_record_round_trips(builtin_registry: Any) -> None:
    count = 0
    for kind, attribute in PROFILE_KINDS.items():
        for record in getattr(builtin_registry, attribute).values():
            loaded = getattr(load_text(dumps([record]), "export.toml"), kind)
            assert loaded == (record,), record.id
            count += 1
    assert count > 20


def test_export_prints_the_record_and_its_sources(run_cli: Any, builtin_registry: Any) -> None:
    result = run_cli("profiles", "export", "h100-sxm")
    assert result.code == 0, result.err
    assert result.out.startswith("# chip h100-sxm, exported from plugin 'nvidia_h100': ")
    profile = load_text(result.out, "out.toml")
    assert profile.chip == (builtin_registry.chips["h100-sxm"],)
    chip = profile.chip[0]
    assert chip.weight_only is not None and chip.training_stacks is not None
    trtllm = chip.serving_stacks["tensorrt-llm"]
    assert trtllm.request_floor_us is not None
    assert profile.sources == {"smi-h100": chip.memory.source, "v1": chip.memory.alternatives[0].source,
                               "v3": chip.sram_mib.source, "modelopt-matrix": chip.weight_only.source,
                               "trtllm-ifb": trtllm.source, "trtllm-perf-05": trtllm.request_floor_us.source,
                               "torchtitan-paper": chip.training_stacks.source}  # fmt: skip


def test_export_unknown_id(run_cli: Any) -> None:
    result = run_cli("profiles", "export", "h200")
    assert result.code == 1
    facts(result.err, "'h200'", "did you mean 'h200-sxm'")


# Generated chips: any text, any number in the range profiles accept (hwprof.data.checks),
# any date in range, every optional field on or off.
KEYS = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
TEXT = st.text(max_size=20)
# Inside every figure field's possible range (rules.PLAUSIBLE: memory bandwidth 0.01..100 TB/s is the narrowest).
VALUES = st.floats(min_value=1, max_value=100)
DATES = st.dates(min_value=checks.EARLIEST, max_value=checks.LATEST)
SOURCES = st.builds(records.Source, key=KEYS, title=TEXT, url=TEXT, date=st.none() | DATES)


@st.composite
def chips(draw: st.DrawFn) -> records.Chip:
    pool = draw(st.lists(SOURCES, min_size=1, max_size=3, unique_by=lambda s: s.key))
    source = st.sampled_from(pool)
    status = st.sampled_from(records.STATUSES)

    @st.composite
    def figure(draw: st.DrawFn) -> records.Figure:
        state = draw(status)
        how = draw(st.text(min_size=1, max_size=20) if state == "derived" else TEXT)
        alternatives = st.lists(st.builds(records.Alternative, value=VALUES, source=source, status=status, note=TEXT))
        return records.Figure(draw(VALUES), draw(source), state, how, draw(TEXT), tuple(draw(alternatives)))

    fact = st.builds(records.Fact, value=TEXT, source=source, status=status, note=TEXT)
    peaks = st.dictionaries(st.sampled_from(records.PRECISIONS), figure(), max_size=3)
    memory = draw(figure())
    in_gib = draw(st.booleans())
    return records.Chip(
        id=draw(st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True)),
        name=draw(TEXT), vendor=draw(TEXT), peak_dense_tflops=draw(peaks),
        memory_bandwidth_tbps=draw(figure()),
        memory_gib=memory if in_gib else None, memory_gb=None if in_gib else memory,
        peak_sparse_tflops=draw(peaks), sparsity_pattern=draw(TEXT), sparsity_note=draw(TEXT),
        memory_type=draw(TEXT), sram_mib=draw(st.none() | figure()), tdp_w=draw(st.none() | figure()),
        process_node=draw(st.none() | fact), launch_date=draw(st.none() | fact),
        compute_units=draw(st.none() | fact), notes=tuple(draw(st.lists(TEXT, max_size=2))),
        override=draw(st.booleans()),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(chip=chips())
def test_generated_chips_round_trip_and_match_the_schema(chip: records.Chip, validator: Any) -> None:
    text = dumps([chip], header="generated")
    assert load_text(text, "generated.toml").chip == (chip,)
    assert errors(validator, text) == []


# ----------------------------------------------------------------------------- JSON Schema


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.toml")), ids=lambda p: p.name)
def test_builtin_profiles_match_the_schema(validator: Any, path: Path) -> None:
    assert errors(validator, path.read_text(encoding="utf-8")) == []


CHIP = """\
schema_version = 1
[sources.s1]
title = "Test datasheet"
[[chip]]
id = "testchip"
name = "Test Chip"
vendor = "Test"
memory_gb = { value = 32, source = "s1", status = "official" }
memory_bandwidth_tbps = { value = 1.5, source = "s1", status = "official" }
peak_dense_tflops = { bf16 = { value = 50, source = "s1", status = "official" } }
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('vendor = "Test"', 'vendr = "Test"'),  # unknown key
        ('id = "testchip"', 'id = "../../etc"'),  # path-like id
        ("bf16 =", "bf17 ="),  # unknown precision
        ('value = 1.5, source = "s1", status = "official"', 'value = 1.5, source = "s1", status = "derived"'),  # no how
        ("value = 32,", "value = -32,"),  # not positive
        ("value = 32,", 'value = "32",'),  # wrong type
        ("memory_gb = {", "memory_gib = { value = 1, source = 's1', status = 'official' }\nmemory_gb = {"),  # both
    ],
)
def test_the_schema_rejects_what_the_reader_rejects(validator: Any, old: str, new: str) -> None:
    assert errors(validator, CHIP) == []
    load_text(CHIP, "good.toml")
    bad = CHIP.replace(old, new, 1)
    assert bad != CHIP
    assert errors(validator, bad) != []
    with pytest.raises(ProfileError):
        load_text(bad, "bad.toml")


def test_profiles_schema_command_prints_the_schema(run_cli: Any) -> None:
    result = run_cli("profiles", "schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema == json.loads(json.dumps(profile_schema()))
    chip = schema["definitions"]["Chip"]
    assert chip["properties"]["memory_bandwidth_tbps"]["description"] == "memory bandwidth (TB/s)"
    assert set(chip["required"]) == {"id", "name", "vendor", "peak_dense_tflops", "memory_bandwidth_tbps"}
