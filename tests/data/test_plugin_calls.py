"""Plugins called through pluggy (wrappers apply), contained one at a time, traced on request; the
record kinds listed once and everything derived from that list.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import types
from collections.abc import Generator
from typing import Any

import attrs
import pytest

from hwprof import hookimpl
from hwprof.data import hookspecs, kinds, plugin_calls, registry, schema
from hwprof.data.toml_plugin import TomlPlugin
from tests.facts import facts


def test_a_wrapper_sees_and_changes_every_plugins_records() -> None:
    seen: list[int] = []

    @hookimpl(wrapper=True)
    def hwprof_register_chips() -> Generator[None, list[Any], list[Any]]:
        answers = yield
        seen.append(len(answers))
        return [[chip for chip in answer if chip.id != "h100-sxm"] for answer in answers]

    wrapper = types.SimpleNamespace(hwprof_register_chips=hwprof_register_chips)
    built = registry.build(registry.Settings(), extra_plugins=[("wrapper", wrapper)])
    assert "h100-sxm" not in built.chips and "h200-sxm" in built.chips
    assert len(seen) == sum("hwprof_register_chips" in p.hooks for p in built.plugins if p.name != "wrapper")


@dataclasses.dataclass  # eq without frozen: instances have no hash, and equal ones are still two plugins
class Reseller:
    chip: Any = dataclasses.field(compare=False)
    fails: bool = dataclasses.field(default=False, compare=False)

    @hookimpl
    def hwprof_register_chips(self) -> list[Any]:
        print("licence checked")  # kept off stdout
        if self.fails:
            raise RuntimeError("licence server down")
        return [self.chip]


def test_unhashable_equal_plugin_objects_are_called_one_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    h100 = registry.build(registry.Settings(allow=frozenset({"nvidia_h100"}))).chips["h100-sxm"]
    a, b = (attrs.evolve(h100, id=f"resold-{x}", name=f"Resold {x}") for x in "ab")
    plugins = [Reseller(a), Reseller(b), Reseller(attrs.evolve(h100, id="resold-c"), fails=True)]
    assert plugins[0] == plugins[1] == plugins[2]
    with pytest.raises(TypeError):
        hash(plugins[0])
    capsys.readouterr()
    built = registry.build(registry.Settings(), extra_plugins=list(zip(("ra", "rb", "rc"), plugins, strict=True)))
    assert built.provider("chips", "resold-a") == "plugin 'ra'" and built.provider("chips", "resold-b") == "plugin 'rb'"
    assert "resold-c" not in built.chips and "h100-sxm" in built.chips
    status = {p.name: (p.status, p.error) for p in built.plugins}
    assert status["ra"] == status["rb"] == ("loaded", "")
    assert status["rc"] == ("failed", "RuntimeError: licence server down")
    (failed,) = [w for w in built.warnings if "'rc'" in w]
    assert "licence server down" in failed
    out, err = capsys.readouterr()
    assert out == "" and err.count("licence checked") == 3  # on stderr, once per plugin


def test_an_old_style_hookwrapper_wraps_each_plugins_call_and_a_failure_stays_contained() -> None:
    seen: list[tuple[str, Any]] = []

    @hookimpl(hookwrapper=True, tryfirst=True)
    def hwprof_register_chips() -> Generator[None, Any, None]:
        outcome = yield
        failed = outcome.exception
        seen.append(("raised", type(failed)) if failed else ("answered", len(outcome.get_result())))

    def broken() -> list[Any]:
        raise SystemExit(3)

    wrapper = types.SimpleNamespace(hwprof_register_chips=hwprof_register_chips)  # unhashable too
    bad = types.SimpleNamespace(hwprof_register_chips=hookimpl(broken))
    built = registry.build(registry.Settings(), extra_plugins=[("wrapper", wrapper), ("bad", bad)])
    answering = [p.name for p in built.plugins if "hwprof_register_chips" in p.hooks and p.status == "loaded"]
    answering.remove("wrapper")  # it wraps, answers nothing
    assert "bad" not in answering and "nvidia_h100" in answering
    assert seen.count(("answered", 1)) == len(answering)  # one call per plugin, its one answer
    assert seen.count(("raised", SystemExit)) == 1 and len(seen) == len(answering) + 1
    assert {p.name: p.status for p in built.plugins}["bad"] == "failed"
    assert any("'bad'" in w and "SystemExit: 3" in w for w in built.warnings)
    assert "h100-sxm" in built.chips


def test_a_hook_marked_above_classmethod_on_an_unhashable_object_fails_by_name() -> None:
    class Odd:
        __hash__ = None  # type: ignore[assignment]

        @hookimpl  # type: ignore[misc]
        @classmethod
        def hwprof_register_chips(cls) -> list[Any]:
            return []

    built = registry.build(registry.Settings(allow=frozenset({"odd"})), extra_plugins=[("odd", Odd())])
    (info,) = [p for p in built.plugins if p.name == "odd"]
    assert info.status == "failed" and "hwprof_register_chips" in info.error and "classmethod" in info.error


def test_a_plugin_exiting_or_raising_is_one_failure_and_ctrl_c_passes() -> None:
    def exits() -> None:
        raise SystemExit("bye")

    assert plugin_calls.contained("p", "its import", exits) == (None, "SystemExit: bye")
    assert plugin_calls.contained("p", "a hook", lambda: 1 / 0) == (None, "ZeroDivisionError: division by zero")
    assert plugin_calls.contained("p", "a hook", lambda: 42) == (42, "")

    def interrupted() -> None:  # the plugin's own KeyboardInterrupt: contained (issue 24, item 9)
        raise KeyboardInterrupt

    assert plugin_calls.contained("p", "a hook", interrupted) == (None, "KeyboardInterrupt")

    def pressed() -> None:  # the user's Ctrl-C while the plugin runs: still stops hwprof
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)

    with pytest.raises(KeyboardInterrupt):
        plugin_calls.contained("p", "a hook", pressed)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_what_a_plugin_prints_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 24, item 10: a plugin printing at import or in a hook must not corrupt --json or CSV."""

    def chatty() -> int:
        print("hello from the plugin\x1b[2J")
        print("second line")
        return 7

    assert plugin_calls.contained("chatty", "its import", chatty) == (7, "")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("warning: ") and err.count("\n") == 1  # one line, the escape sequence made harmless
    facts(err, "plugin 'chatty'", "stdout", "its import", "hello from the plugin\\u001b[2J", "1 more line")


def test_a_call_past_the_time_limit_is_given_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HWPROF_PLUGIN_TIMEOUT", "0.4")
    result, failure = plugin_calls.contained("sleepy", "hwprof_register_chips", lambda: time.sleep(60))
    assert result is None
    facts(failure, "gave up", "0.4 s", "hwprof_register_chips", "HWPROF_PLUGIN_TIMEOUT")
    facts(capsys.readouterr().err, "plugin 'sleepy'", "slow", "hwprof_register_chips", "0.2 s")


def test_a_bad_timeout_setting_falls_back(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for raw in ("nan", "-1", "abc", "1e400"):
        monkeypatch.setenv("HWPROF_PLUGIN_TIMEOUT", raw)
        assert plugin_calls.timeout_s() == plugin_calls.DEFAULT_TIMEOUT_S
    assert capsys.readouterr().err.count("HWPROF_PLUGIN_TIMEOUT=") == 4


def test_a_misspelled_hook_is_found_and_named() -> None:
    typo = types.SimpleNamespace(hwprof_register_chip=hookimpl(lambda: []))
    built = registry.build(registry.Settings(), extra_plugins=[("typo", typo)])
    (warning,) = built.warnings
    facts(warning, "plugin 'typo'", "hwprof_register_chip,", "not a hwprof hook", "did you mean 'hwprof_register_chips'",
          "never called")  # fmt: skip
    with pytest.raises(registry.HwprofError, match="strict mode"):
        registry.build(registry.Settings(strict=True), extra_plugins=[("typo", typo)])


def test_trace_prints_each_hook_call(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HWPROF_TRACE_PLUGINS", "1")
    registry.build(registry.Settings(allow=frozenset({"trainium2"})))
    lines = capsys.readouterr().err.splitlines()
    assert any(
        line.startswith("trace: hwprof_register_chips <- trainium2: ") and "1 record(s)" in line for line in lines
    )


def test_kinds_are_listed_once_and_everything_derives_from_them() -> None:
    names = [k.name for k in kinds.KINDS]
    assert list(schema.KINDS) == names
    assert list(registry.PROFILE_KINDS) == names
    assert set(registry.REGISTRATION_HOOKS) == {k.hook for k in kinds.KINDS}
    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "hwprof_spec")}
    assert specs == {k.hook for k in kinds.KINDS} | {"hwprof_register_commands", "hwprof_register_emitters"}
    plugin = TomlPlugin("hwprof.profiles", "trainium2.toml")
    assert all(hasattr(getattr(plugin, k.hook), "hwprof_impl") for k in kinds.KINDS)
    assert [c.id for c in plugin.hwprof_register_chips()] == ["trainium2"]  # type: ignore[attr-defined]


def test_a_bad_timeout_setting_is_reported_once_per_run(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plugin call (about sixty a command) reads the setting; the user is told once."""
    monkeypatch.setenv("HWPROF_PLUGIN_TIMEOUT", "half a minute")
    result = run_cli("chips", "list")
    assert result.code == 0
    assert result.err.count("HWPROF_PLUGIN_TIMEOUT='half a minute'") == 1
