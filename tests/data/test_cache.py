"""The parsed-profile cache: a hit gives the same records, an edit misses, a bad entry is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwprof.data import cache, schema

PROFILE = """
[sources.s]
title = "a datasheet"

[[interconnect]]
id = "link-a"
name = "Link A"
tier = "scale-up"
direction = "per-direction"
bandwidth_per_chip_gb_s = { value = 100, source = "s", status = "official" }
"""


def test_hit_equals_fresh_parse_and_edit_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    first = schema.load_text(PROFILE, "a.toml")
    assert len(list(tmp_path.glob("profile-*.pickle"))) == 1
    again = schema.load_text(PROFILE, "a.toml")
    assert again == first and again.interconnect[0].origin == "a.toml"
    edited = schema.load_text(PROFILE.replace("100", "200"), "a.toml")
    assert edited.interconnect[0].bandwidth_per_chip_gb_s.value == 200
    assert len(list(tmp_path.glob("profile-*.pickle"))) == 2


def test_corrupt_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    [entry] = tmp_path.glob("profile-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].id == "link-a"


def test_errors_are_not_cached_and_cache_can_be_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    with pytest.raises(schema.ProfileError):
        schema.load_text(PROFILE.replace("100", "-1"), "bad.toml")
    assert not list(tmp_path.glob("*.pickle"))
    monkeypatch.setenv("HWPROF_NO_CACHE", "1")
    assert cache.folder() is None
    schema.load_text(PROFILE, "a.toml")
    assert not list(tmp_path.glob("*.pickle"))


def test_a_changed_data_model_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    monkeypatch.setattr(schema, "model_signature", lambda: "Chip:id,name,a_new_field")
    schema.load_text(PROFILE, "a.toml")
    assert len(list(tmp_path.glob("profile-*.pickle"))) == 2
