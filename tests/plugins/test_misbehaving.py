"""Plugins that print or raise KeyboardInterrupt, at import or in a hook (issue 24, items 9 and 10):
stdout stays hwprof's (``--json`` and CSV parse), the plugin is skipped with one warning, and the
command still answers. Run in process, with the plugin found as an installed entry point."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwprof.data import plugin_loading, registry

CHATTY = """
from hwprof import hookimpl
from hwprof.data import records
print("imported!")

class Plugin:
    @hookimpl
    def hwprof_register_chips(self):
        print("registering chips")
        return []

    @hookimpl
    def hwprof_register_commands(self, cli):
        print("adding commands")

plugin = Plugin()
"""

INTERRUPTING_IMPORT = "raise KeyboardInterrupt\n"

INTERRUPTING_HOOK = """
from hwprof import hookimpl

class Plugin:
    @hookimpl
    def hwprof_register_chips(self):
        raise KeyboardInterrupt

    @hookimpl
    def hwprof_register_commands(self, cli):
        raise KeyboardInterrupt

plugin = Plugin()
"""


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``install(name, source)``: a module on sys.path, listed as an entry point of the hwprof group."""
    monkeypatch.syspath_prepend(str(tmp_path))
    installed: list[tuple[str, str, str]] = []
    builtin = plugin_loading.entry_points
    monkeypatch.setattr(plugin_loading, "entry_points", lambda: [*builtin(), *installed])

    def add(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        attribute = ":plugin" if "plugin =" in source else ""
        installed.append((name, f"{name}{attribute}", name))
        registry.reset()

    yield add
    for name, _, _ in installed:
        sys.modules.pop(name, None)
    registry.reset()


@pytest.mark.parametrize("args", [("chips", "list", "--json"), ("systems", "list", "--format", "csv")])
def test_a_plugin_printing_does_not_corrupt_the_output(install, run_cli, args) -> None:
    install("hwprof_chatty", CHATTY)
    result = run_cli(*args)
    assert result.code == 0, result.err
    if "--json" in args:
        assert any(chip["id"] == "h100-sxm" for chip in json.loads(result.out))
    else:
        assert result.out.splitlines()[0].startswith("id,")
    assert "imported!" not in result.out and "registering chips" not in result.out
    assert "plugin 'hwprof_chatty' printed to stdout during its import" in result.err
    assert "it said: registering chips" in result.err


@pytest.mark.parametrize("source", [INTERRUPTING_IMPORT, INTERRUPTING_HOOK], ids=["import", "hook"])
def test_a_plugin_raising_keyboard_interrupt_is_skipped(install, run_cli, source) -> None:
    install("hwprof_interrupting", source)
    result = run_cli("chips", "list", "--json")
    assert result.code == 0, result.err  # was: exit 130, every command
    assert any(chip["id"] == "h100-sxm" for chip in json.loads(result.out))
    assert "plugin 'hwprof_interrupting'" in result.err and "KeyboardInterrupt" in result.err
    assert "interrupted" not in result.err
