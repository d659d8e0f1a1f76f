"""Shared fixtures: every test runs against the built-in plugins only, never the developer's own
config folder or environment, with a fresh registry before and after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from hwprof.data import registry

ENV_VARS = (
    "HWPROF_LOAD_PLUGINS",
    "HWPROF_STRICT_PLUGINS",
    "HWPROF_PROFILE_PATH",
    "HWPROF_DEBUG",
    "HWPROF_PRICE_STALE_DAYS",
    "HWPROF_PRICE_DIR",
    "HWPROF_NO_CACHE",
)


def _foreign_plugins() -> frozenset[tuple[str, str, str]]:
    """Entry points other packages installed in this environment (a developer following
    CONTRIBUTING's walkthrough installs one): tests see the built-ins and what they install."""
    from importlib.metadata import entry_points

    return frozenset(
        (ep.name, ep.value, ep.dist.name if ep.dist else "")
        for ep in entry_points(group="hwprof")
        if not (ep.dist and ep.dist.name == "hwprof")
    )


FOREIGN_PLUGINS = _foreign_plugins()

# Tests of `hwprof validate` over every published result (~25 s of CPU, done once per process:
# hwprof.perf.fit.loso remembers it by the registry's contents). Under pytest-xdist with
# `--dist loadgroup` one worker runs them all, so a run pays for it once.
ALL_PUBLISHED = pytest.mark.xdist_group("all-published-results")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hwprof-cache")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> Iterator[None]:
    """Keep the user's profiles, cache and hwprof variables out; start and end with no cached registry."""
    monkeypatch.setenv("HWPROF_NO_USER_PROFILES", "1")
    monkeypatch.setenv("HWPROF_CACHE_DIR", str(cache_dir))
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    if FOREIGN_PLUGINS:
        from hwprof.cli import plugins
        from hwprof.data import plugin_loading

        everything = plugin_loading.entry_points
        monkeypatch.setattr(
            plugin_loading, "entry_points", lambda: [e for e in everything() if e not in FOREIGN_PLUGINS]
        )
        # `plugins uninstall` reads the installed distributions itself
        foreign, dists = {dist for _, _, dist in FOREIGN_PLUGINS}, plugins._plugin_dists
        monkeypatch.setattr(
            plugins, "_plugin_dists", lambda: {k: d for k, d in dists().items() if d.name not in foreign}
        )
    registry.reset()
    yield
    registry.reset()


@pytest.fixture(scope="session")
def reg() -> registry.Registry:
    """The built-in plugins' registry, built once a run: records are frozen, so a test that needs
    a variant makes one (``attrs.evolve``) and never changes this one."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HWPROF_NO_USER_PROFILES", "1")
        env.setenv("HWPROF_NO_CACHE", "1")
        if FOREIGN_PLUGINS:
            from hwprof.data import plugin_loading

            everything = plugin_loading.entry_points
            env.setattr(plugin_loading, "entry_points", lambda: [e for e in everything() if e not in FOREIGN_PLUGINS])
        return registry.build(registry.Settings(profile_dirs=()))


@pytest.fixture
def builtin_registry() -> registry.Registry:
    """The registry the built-in plugins give, with no profile folders."""
    return registry.build(registry.Settings())


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> object:
        import json

        return json.loads(self.out)


RunCli = Callable[..., Result]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run ``hwprof ARGS`` in-process: ``run_cli("chips", "list")`` -> Result(code, out, err)."""
    from hwprof.cli import app as cli

    def run(*args: str | Path) -> Result:
        capsys.readouterr()  # drop anything printed before this call
        code = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def hwprof(run_cli: RunCli) -> Run:
    """Like ``run_cli``, as a plain (exit code, stdout, stderr) tuple."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        result = run_cli(*args)
        return result.code, result.out, result.err

    return run


WriteProfile = Callable[..., Path]


@pytest.fixture
def write_profile(tmp_path: Path) -> WriteProfile:
    """Write a profile into ``tmp_path/profiles`` (text, or raw bytes) and return its path."""
    folder = tmp_path / "profiles"
    folder.mkdir()

    def write(content: str | bytes, name: str = "test.toml") -> Path:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


# A small valid profile the bad-input tests break one key at a time.
SOURCES = """\
schema_version = 1

[sources.s1]
title = "Test datasheet"
url = "https://example.com/datasheet"
date = 2025-01-01
"""

CHIP = """
[[chip]]
id = "testchip"
name = "Test Chip"
vendor = "Test Vendor"
memory_gib = { value = 32, source = "s1", status = "official" }
memory_bandwidth_tbps = { value = 1.5, source = "s1", status = "official" }

[chip.peak_dense_tflops]
fp8 = { value = 100, source = "s1", status = "official" }
bf16 = { value = 50, source = "s1", status = "official" }
"""


def chip_profile(chip_id: str = "testchip", override: bool = False) -> str:
    text = SOURCES + CHIP.replace('"testchip"', f'"{chip_id}"')
    return text.replace('vendor = "Test Vendor"\n', 'vendor = "Test Vendor"\noverride = true\n') if override else text
