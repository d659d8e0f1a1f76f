"""The parsed-profile cache: a hit gives the same records, an edit misses, a bad entry is rebuilt, and
nothing planted in the folder runs code or is read from a folder others can write (issue 24, item 4)."""

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
    assert len(list(tmp_path.glob("profile-*.json"))) == 1
    again = schema.load_text(PROFILE, "a.toml")
    assert again == first and again.interconnect[0].origin == "a.toml"
    edited = schema.load_text(PROFILE.replace("100", "200"), "a.toml")
    assert edited.interconnect[0].bandwidth_per_chip_gb_s.value == 200
    assert len(list(tmp_path.glob("profile-*.json"))) == 2


def test_corrupt_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    [entry] = tmp_path.glob("profile-*.json")
    entry.write_bytes(b"not json")
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].id == "link-a"


def test_errors_are_not_cached_and_cache_can_be_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    with pytest.raises(schema.ProfileError):
        schema.load_text(PROFILE.replace("100", "-1"), "bad.toml")
    assert not list(tmp_path.glob("*.json"))
    monkeypatch.setenv("HWPROF_NO_CACHE", "1")
    assert cache.folder() is None
    schema.load_text(PROFILE, "a.toml")
    assert not list(tmp_path.glob("*.json"))


def test_a_changed_data_model_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    monkeypatch.setattr(schema, "model_signature", lambda: "Chip:id,name,a_new_field")
    schema.load_text(PROFILE, "a.toml")
    assert len(list(tmp_path.glob("profile-*.json"))) == 2


class Planted:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_runs_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    folder, marker = tmp_path / "cache", tmp_path / "ran"
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(folder))
    schema.load_text(PROFILE, "a.toml")
    [entry] = folder.glob("profile-*.json")
    payload = pickle.dumps(Planted(marker))
    entry.write_bytes(payload)  # under the name the next read looks for
    (folder / "profile-0badc0de-100.pickle").write_bytes(payload)  # and the earlier format's names
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].bandwidth_per_chip_gb_s.value == 100
    assert not marker.exists()
    assert not list(folder.glob("*.pickle"))  # the earlier format's entries are removed on a write


def test_an_entry_is_read_back_only_into_record_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    [entry] = tmp_path.glob("profile-*.json")
    stored = json.loads(entry.read_text(encoding="utf-8"))
    assert "[sources.s]" not in entry.read_text(encoding="utf-8")  # a digest of the key, not the whole text
    planted = dict(stored, value=["r", "Path", {"a": 1}])  # a class name outside the records
    entry.write_text(json.dumps(planted), encoding="utf-8")
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].id == "link-a"
    wrong = dict(stored, value=["r", "Source", {"key": "s"}])  # a record class, missing fields
    entry.write_text(json.dumps(wrong), encoding="utf-8")
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].id == "link-a"


def test_a_folder_others_can_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(shared))
    monkeypatch.setattr(cache, "_warned", set())
    cache._unusable.cache_clear()
    monkeypatch.setattr("hwprof.data.places.user_cache_dir", lambda: str(tmp_path / "own"))
    assert cache.folder() == tmp_path / "own"
    assert "HWPROF_CACHE_DIR=" in capsys.readouterr().err and "writable by others (mode 777)" in cache._unusable(
        str(shared)
    )
    schema.load_text(PROFILE, "a.toml")
    assert not list(shared.iterdir())
    assert len(list((tmp_path / "own").glob("profile-*.json"))) == 1
    assert (tmp_path / "own").stat().st_mode & 0o777 == 0o700


def test_an_entry_others_can_write_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    [entry] = tmp_path.glob("profile-*.json")
    assert entry.stat().st_mode & 0o777 == 0o600
    stored = json.loads(entry.read_text(encoding="utf-8"))
    text = json.dumps(stored).replace("100", "999")  # a changed figure in an entry anyone could have written
    entry.write_text(text, encoding="utf-8")
    entry.chmod(0o666)
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].bandwidth_per_chip_gb_s.value == 100
    entry.chmod(0o600)
    entry.write_text(text, encoding="utf-8")  # the user's own entry is trusted as it is
    assert schema.load_text(PROFILE, "a.toml").interconnect[0].bandwidth_per_chip_gb_s.value == 999


def test_a_changed_reader_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation rule changed without a new version is not hidden by an entry parsed under the old one."""
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    schema.load_text(PROFILE, "a.toml")
    monkeypatch.setattr(cache, "code_digest", lambda: "another reader")
    schema.load_text(PROFILE, "a.toml")
    assert len(list(tmp_path.glob("profile-*.json"))) == 2


def test_code_digest_follows_the_data_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cache.code_digest()
    assert first == cache.code_digest() and len(first) == 40
    fake = tmp_path / "data"
    fake.mkdir()
    (fake / "rules.py").write_text("LIMIT = 1\n", encoding="utf-8")
    monkeypatch.setattr(cache, "__file__", str(fake / "cache.py"))
    cache.code_digest.cache_clear()
    one = cache.code_digest()
    (fake / "rules.py").write_text("LIMIT = 2\n", encoding="utf-8")
    cache.code_digest.cache_clear()
    assert cache.code_digest() != one
    cache.code_digest.cache_clear()
