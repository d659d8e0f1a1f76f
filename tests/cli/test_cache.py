"""`hwprof cache path` and `hwprof cache clear`: where the cache lives, and clearing only hwprof's
own entries from it (a shared HWPROF_CACHE_DIR keeps everything else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.facts import facts


def test_clear_removes_hwprof_entries_only(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(tmp_path))
    assert run_cli("chips", "list").code == 0
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert entries and all(name.split("-")[0] in ("entry", "profile") for name in entries)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "profile-notes.pickle").write_text("mine too: not an entry's name")
    assert run_cli("cache", "path").out == f"{tmp_path}\n"
    result = run_cli("cache", "clear")
    entry = "entry" if len(entries) == 1 else "entries"
    facts(result.out, f"removed {len(entries)} cache {entry}", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "profile-notes.pickle"]
    facts(run_cli("cache", "clear").out, "removed 0 cache entries", str(tmp_path))


def test_without_a_cache(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_NO_CACHE", "1")
    for command in ("path", "clear"):
        facts(run_cli("cache", command).out, "no cache", "HWPROF_NO_CACHE")
