"""The user's config and cache folders: hwprof's shortcut for plain Linux gives platformdirs' answer."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from hwprof.data import places


@pytest.mark.skipif(sys.platform != "linux", reason="the shortcut is for Linux; elsewhere platformdirs answers")
def test_plain_linux_folders_are_home_dot_config_and_dot_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert places.user_config_dir() == f"{tmp_path}/.config/hwprof"
    assert places.user_cache_dir() == f"{tmp_path}/.cache/hwprof"
    assert places.user_config_dir() == platformdirs.user_config_dir("hwprof")
    assert places.user_cache_dir() == platformdirs.user_cache_dir("hwprof")


def test_an_xdg_folder_set_is_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert places.user_config_dir() == platformdirs.user_config_dir("hwprof")
    assert places.user_cache_dir() == platformdirs.user_cache_dir("hwprof")
    if sys.platform == "linux":
        assert places.user_config_dir() == str(tmp_path / "config" / "hwprof")


def test_a_relative_home_is_left_to_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "not/absolute")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert places.user_config_dir() == platformdirs.user_config_dir("hwprof")
