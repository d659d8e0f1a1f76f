"""Plugin discovery through a committed fake installed distribution (tests/fixtures/fake_site): one
working, one failing and one blocked entry point. Also `plugins freeze/install/uninstall` (with pip
replaced by a recorder) and that a plugin's heavy import waits for the command that needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hwprof.data import registry
from tests import FIXTURES
from tests.facts import error_line, facts

FAKE_SITE = FIXTURES / "fake_site"
BROKEN_REASON = "ImportError: hwprof_fake_broken needs libfake, which is not installed"


@pytest.fixture
def fake_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put the fake distribution on sys.path and undo its modules (each run builds a fresh CLI app)."""
    monkeypatch.syspath_prepend(str(FAKE_SITE))
    registry.reset()
    yield
    for name in [m for m in sys.modules if m.startswith("hwprof_fake")]:
        del sys.modules[name]
    registry.reset()


@pytest.fixture
def pip_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record what would be run instead of running pip; the list grows with each call."""
    calls: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert isinstance(command, list) and not kwargs.get("shell"), "pip must get an argument list, no shell"
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_working_failing_and_blocked_entry_points(
    fake_site: None, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", "fake_good,fake_broken")
    result = run_cli("plugins", "list", "--json")
    assert result.code == 0
    plugins = {p["name"]: p for p in result.json()}
    assert plugins["fake_good"] == {
        "name": "fake_good", "version": "1.0", "builtin": False, "status": "loaded", "error": "",
        "hooks": ["hwprof_register_chips", "hwprof_register_commands"], "registered": {"chips": 1},
    }  # fmt: skip
    assert (plugins["fake_broken"]["status"], plugins["fake_broken"]["error"]) == ("failed", BROKEN_REASON)
    assert plugins["fake_blocked"]["status"] == "blocked"
    assert plugins["fake_blocked"]["registered"] == {}
    # One warning names the broken plugin; the command still works.
    assert result.err.count("warning: plugin 'fake_broken' failed: " + BROKEN_REASON) == 1


def test_plugins_table_shows_status_reason_hooks_and_counts(
    fake_site: None, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", "fake_good,fake_broken")
    out = run_cli("plugins", "list").out
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(rows) == {"fake_good", "fake_broken", "fake_blocked"}  # built-ins only with --all
    assert "loaded" in rows["fake_good"] and "chips, commands" in rows["fake_good"] and "1 chip" in rows["fake_good"]
    assert "failed: " + BROKEN_REASON in rows["fake_broken"]
    assert "blocked" in rows["fake_blocked"]
    assert "trainium2" in run_cli("plugins", "list", "--all").out


def test_only_loaded_plugins_register(fake_site: None, monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", "fake_good,fake_broken")
    ids = [c["id"] for c in run_cli("chips", "list", "--json").json()]
    assert ids == ["fake-chip"]  # not blocked-chip, and the built-ins were not allowed either


def test_strict_mode_makes_a_broken_plugin_an_error(fake_site: None, run_cli: Any) -> None:
    result = run_cli("--strict-plugins", "chips", "list")
    assert result.code == 1
    assert "error: plugin 'fake_broken' failed: " + BROKEN_REASON in result.err
    assert "Traceback" not in result.err


def test_freeze_lists_third_party_plugins_only(fake_site: None, run_cli: Any) -> None:
    lines = run_cli("plugins", "freeze").out.splitlines()
    assert "hwprof-fake==1.0" in lines
    assert not [line for line in lines if line.lower().startswith("hwprof=") or line.startswith("hwprof @")]


@pytest.mark.parametrize(
    ("direct_url", "line"),
    [
        (None, "hwprof-acme==2.1"),
        ('{"url": "file:///src/my%20plugin", "dir_info": {"editable": true}}', "-e '/src/my plugin'"),  # pip reads it
        ('{"url": "file:///src/plugin", "dir_info": {"editable": true}}', "-e /src/plugin"),
        ("{not json", "hwprof-acme==2.1"),  # a corrupt direct_url.json (issue 24, Low): warned, not a crash
        ('{"dir_info": {}}', "hwprof-acme==2.1"),
        ('{"url": "file:///tmp/hwprof-acme", "dir_info": {}}', "hwprof-acme @ file:///tmp/hwprof-acme"),
    ],
)
def test_freeze_says_where_a_plugin_came_from(tmp_path: Path, direct_url: str | None, line: str) -> None:
    from importlib.metadata import PathDistribution

    from hwprof.cli.plugins import _requirement

    info = tmp_path / "hwprof_acme-2.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hwprof-acme\nVersion: 2.1\n")
    if direct_url:
        (info / "direct_url.json").write_text(direct_url)
    assert _requirement(PathDistribution(info)) == line


def test_uninstall_runs_pip_on_the_distribution(fake_site: None, pip_calls: list[list[str]], run_cli: Any) -> None:
    # By the name `plugins list` shows, or by the distribution name.
    assert run_cli("plugins", "uninstall", "fake_good", "-y").code == 0
    assert run_cli("plugins", "uninstall", "hwprof-fake").code == 0
    assert pip_calls == [
        [sys.executable, "-m", "pip", "uninstall", "--yes", "hwprof-fake"],
        [sys.executable, "-m", "pip", "uninstall", "hwprof-fake"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["typer"], "'typer' is not an installed hwprof plugin"),
        (["hwprof"], "hwprof is not a plugin"),
        (["hwprof-fak"], "(did you mean 'hwprof-fake'?)"),
        (["--", "-r/etc/passwd"], "cannot start with '-'"),
    ],
)
def test_uninstall_refuses_what_is_not_a_plugin(
    fake_site: None, pip_calls: list[list[str]], run_cli: Any, args: list[str], message: str
) -> None:
    result = run_cli("plugins", "uninstall", "-y", *args)
    assert result.code == 1
    assert message in result.err
    assert pip_calls == []


def test_install_passes_a_name_or_a_resolved_path(pip_calls: list[list[str]], run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("plugins", "install", "hwprof-acme==1.2").code == 0
    assert run_cli("plugins", "install", str(tmp_path), "-e", "-U").code == 0
    pip = [sys.executable, "-m", "pip", "install"]
    assert pip_calls == [[*pip, "hwprof-acme==1.2"], [*pip, "--upgrade", "--editable", str(tmp_path.resolve())]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["./no-such-folder"], "no such file or folder"),
        (["-e", "hwprof-acme"], "editable installs need a plugin folder"),
        (["--", "--index-url=http://evil"], "cannot start with '-'"),
    ],
)
def test_install_refuses_bad_targets(pip_calls: list[list[str]], run_cli: Any, args: list[str], message: str) -> None:
    result = run_cli("plugins", "install", *args)
    assert (result.code, pip_calls) == (1, [])
    assert message in result.err


def test_a_failing_pip_is_one_error_line(monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> None:
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 3))
    result = run_cli("plugins", "install", "hwprof-acme")
    assert result.code == 1
    error_line(result.err, "pip install failed", "exit 3", "printed nothing")


def test_install_shows_pip_only_when_it_fails(monkeypatch: pytest.MonkeyPatch, run_cli: Any) -> None:
    """pip's output is captured: on success one line says what was installed; on failure its last
    lines come before the error."""
    chatter = "".join(f"Collecting thing{i}\n" for i in range(30))
    failure = chatter + "ERROR: No matching distribution found for hwprof-acme\n"
    monkeypatch.setattr(
        subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 1, chatter, failure)
    )
    result = run_cli("plugins", "install", "hwprof-acme")
    assert result.code == 1 and result.out == ""
    assert result.err.splitlines()[-2:] == [
        "  pip: ERROR: No matching distribution found for hwprof-acme",
        "error: pip install failed (exit 1); its last lines are above",
    ]
    assert len(result.err.splitlines()) == 9  # the last 8 of pip's lines, then the error
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 0, chatter, ""))
    done = run_cli("plugins", "install", "hwprof-acme")
    assert (done.code, done.err) == (0, "")
    assert done.out.count("\n") == 1
    facts(done.out, "installed hwprof-acme", "`hwprof plugins list`")


def _hwprof_in_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """Run hwprof in a fresh interpreter, then report whether the heavy module got imported."""
    code = (
        "import sys\nfrom hwprof.cli.app import main\nrc = main(sys.argv[1:])\n"
        "print('heavy imported:', 'hwprof_fake_heavy' in sys.modules)\nsys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKE_SITE), os.environ.get("PYTHONPATH", "")])}
    env |= {"HWPROF_NO_USER_PROFILES": "1", "HWPROF_LOAD_PLUGINS": "fake_good"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_plugins_heavy_import_waits_for_its_command() -> None:
    other = _hwprof_in_subprocess("chips", "list")
    assert other.returncode == 0, other.stderr
    assert "fake-chip" in other.stdout
    assert "heavy imported: False" in other.stdout
    own = _hwprof_in_subprocess("fake-heavy")
    assert own.returncode == 0, own.stderr
    assert "heavy answer: 42" in own.stdout
    assert "heavy imported: True" in own.stdout


@pytest.fixture
def removable_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake plugin distribution whose metadata pip really removes (importlib reads it lazily)."""
    from hwprof.data import registry

    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "fake_site", site)
    monkeypatch.syspath_prepend(str(site))

    def pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        shutil.rmtree(site / "hwprof_fake-1.0.dist-info")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", pip)
    registry.reset()
    yield
    for name in [m for m in sys.modules if m.startswith("hwprof_fake")]:
        del sys.modules[name]
    registry.reset()


def test_plugins_uninstall_names_what_it_removed(removable_plugin: None, run_cli: Any) -> None:
    result = run_cli("plugins", "uninstall", "hwprof-fake", "-y")
    assert result.code == 0, result.err
    # ... and clears the cache, so nothing read from it stays behind (issue 23)
    assert re.fullmatch(r"uninstalled hwprof-fake; cleared [0-9,]+ cache entr(y|ies)\n", result.out), result.out
