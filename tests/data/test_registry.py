"""Plugin loading and the registry: duplicates, overrides, broken plugins, the allow list,
dangling references and strict mode. Test plugins are registered per build, never installed.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs
import pytest

from hwprof import hookimpl
from hwprof.data import records, registry, schema
from hwprof.errors import HwprofError
from tests import ROOT
from tests.conftest import SOURCES, RunCli, WriteProfile, chip_profile

BUILTINS = ["aws_pricing", "models", "nvidia_h100", "nvidia_h200", "trainium2", "trainium3"]


def declared_plugins() -> set[str]:
    """The entry points pyproject.toml declares: the built-ins (at least the six above)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(pyproject["project"]["entry-points"]["hwprof"])


def make_chip(chip_id: str, name: str = "Test Chip", override: bool = False) -> records.Chip:
    chip = schema.load_text(chip_profile(chip_id, override=override), f"{chip_id}.toml").chip[0]
    return attrs.evolve(chip, name=name)


class ChipPlugin:
    """A plugin whose chips hook returns whatever it was given: records, or garbage."""

    def __init__(self, result: Any) -> None:
        self.result = result

    @hookimpl
    def hwprof_register_chips(self) -> Sequence[records.Chip]:
        return self.result  # type: ignore[no-any-return]


class RaisingPlugin:
    @hookimpl
    def hwprof_register_chips(self) -> Sequence[records.Chip]:
        return [make_chip("raiserchip")]

    @hookimpl
    def hwprof_register_systems(self) -> Sequence[records.System]:
        raise RuntimeError("boom in a hook")


class BrokenEntryPoint:
    """Stands in for an entry point whose module fails to import."""

    name = "broken"
    dist = None

    def load(self) -> object:
        raise ImportError("No module named 'hwprof_broken_dependency'")


def build(*plugins: tuple[str, object], strict: bool = False) -> registry.Registry:
    return registry.build(registry.Settings(strict=strict), extra_plugins=list(plugins))


def status(reg: registry.Registry) -> dict[str, str]:
    return {p.name: p.status for p in reg.plugins}


# ----------------------------------------------------------------------------- duplicates


def test_duplicate_id_warns_naming_both_plugins_and_keeps_the_first() -> None:
    reg = build(("alpha", ChipPlugin([make_chip("dupchip", "From alpha")])),
                ("beta", ChipPlugin([make_chip("dupchip", "From beta")])))  # fmt: skip
    assert reg.chips["dupchip"].name == "From alpha"
    assert reg.provider("chips", "dupchip") == "plugin 'alpha'"
    assert len(reg.warnings) == 1
    assert "'dupchip'" in reg.warnings[0]
    assert "plugin 'alpha'" in reg.warnings[0] and "plugin 'beta'" in reg.warnings[0]
    assert "override = true" in reg.warnings[0]  # says how to fix it


def test_duplicate_of_a_builtin_id_keeps_the_builtin() -> None:
    reg = build(("impostor", ChipPlugin([make_chip("trainium2", "Impostor")])))
    assert reg.chips["trainium2"].name == "AWS Trainium2"
    assert "plugin 'trainium2'" in reg.warnings[0] and "plugin 'impostor'" in reg.warnings[0]


def test_override_true_replaces_without_a_warning() -> None:
    reg = build(("alpha", ChipPlugin([make_chip("dupchip", "From alpha")])),
                ("beta", ChipPlugin([make_chip("dupchip", "From beta", override=True)])))  # fmt: skip
    assert reg.chips["dupchip"].name == "From beta"
    assert reg.provider("chips", "dupchip") == "plugin 'beta'"
    assert reg.warnings == []


def test_duplicate_is_an_error_in_strict_mode() -> None:
    with pytest.raises(HwprofError, match="plugin 'alpha'.*strict"):
        build(("alpha", ChipPlugin([make_chip("trainium2")])), strict=True)


def test_override_in_a_profile_folder_replaces_a_builtin(run_cli: RunCli, write_profile: WriteProfile) -> None:
    text = chip_profile("trainium2", override=True)
    path = write_profile(text)
    result = run_cli("--strict-plugins", "--profiles", path.parent, "chips", "show", "trainium2", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    assert data["name"] == "Test Chip"
    assert data["provider"] == f"profile {path}"


# ----------------------------------------------------------------------------- broken plugins


def assert_builtins_still_work(reg: registry.Registry) -> None:
    assert {"trainium2", "trainium3", "h100-sxm", "h200-sxm"} <= set(reg.chips)
    assert "trn2-ultraserver" in reg.systems


def test_plugin_that_fails_to_import_gives_one_warning() -> None:
    reg = build(("broken", BrokenEntryPoint()))
    assert status(reg)["broken"] == "failed"
    assert len(reg.warnings) == 1
    assert "plugin 'broken'" in reg.warnings[0]
    assert "ImportError: No module named 'hwprof_broken_dependency'" in reg.warnings[0]
    assert_builtins_still_work(reg)


def test_plugin_raising_in_a_hook_is_dropped_whole() -> None:
    reg = build(("raiser", RaisingPlugin()))
    assert status(reg)["raiser"] == "failed"
    assert len(reg.warnings) == 1
    assert "plugin 'raiser'" in reg.warnings[0] and "RuntimeError: boom in a hook" in reg.warnings[0]
    assert "raiserchip" not in reg.chips  # half a plugin is not registered
    assert_builtins_still_work(reg)


@pytest.mark.parametrize("garbage", ["trainium9", [{"id": "x"}], None, 42])
def test_plugin_returning_garbage_is_dropped(garbage: object) -> None:
    reg = build(("garbage", ChipPlugin(garbage)))
    assert status(reg)["garbage"] == "failed"
    assert len(reg.warnings) == 1
    assert "plugin 'garbage'" in reg.warnings[0]
    assert "hwprof_register_chips must return a list of Chip records" in reg.warnings[0]
    assert_builtins_still_work(reg)


@pytest.mark.parametrize(
    "plugin", [BrokenEntryPoint(), RaisingPlugin(), ChipPlugin("not records")], ids=["import", "raise", "garbage"]
)
def test_broken_plugin_is_an_error_in_strict_mode(plugin: object) -> None:
    with pytest.raises(HwprofError, match="plugin 'bad' failed"):
        build(("bad", plugin), strict=True)


def fake_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add an installed-looking entry point whose module does not exist."""
    real = importlib.metadata.entry_points
    broken = importlib.metadata.EntryPoint(name="broken", value="hwprof_no_such_module:plugin", group="hwprof")

    def entry_points(**kwargs: Any) -> list[Any]:
        return [*real(**kwargs), broken] if kwargs.get("group") == "hwprof" else list(real(**kwargs))

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    # The entry-point list is cached under a fingerprint of the installed files, which this
    # stand-in does not change: read it afresh.
    monkeypatch.setenv("HWPROF_NO_CACHE", "1")


def test_broken_entry_point_through_the_cli(monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    fake_entry_point(monkeypatch)
    result = run_cli("chips", "list")
    assert result.code == 0
    assert "Traceback" not in result.output
    [line] = result.err.splitlines()
    assert line.startswith("warning: plugin 'broken' failed")
    assert "hwprof_no_such_module" in line
    assert "trainium2" in result.out

    listing = run_cli("plugins", "list", "--json")
    rows = listing.json()
    assert isinstance(rows, list)
    assert [(r["name"], r["status"]) for r in rows] == [("broken", "failed")]


def test_broken_entry_point_fails_the_cli_in_strict_mode(monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    fake_entry_point(monkeypatch)
    result = run_cli("--strict-plugins", "chips", "list")
    assert result.code == 1
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("error: plugin 'broken' failed")


def test_strict_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    fake_entry_point(monkeypatch)
    monkeypatch.setenv("HWPROF_STRICT_PLUGINS", "1")
    result = run_cli("chips", "list")
    assert result.code == 1
    assert result.err.startswith("error: plugin 'broken' failed")


# ----------------------------------------------------------------------------- allow list


def test_load_plugins_allows_only_the_named_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", "trainium2")
    reg = registry.build(registry.Settings.from_env())
    assert status(reg) == {name: "loaded" if name == "trainium2" else "blocked" for name in declared_plugins()}
    assert list(reg.chips) == ["trainium2"]
    assert set(reg.systems) == {"trn2.48xlarge", "trn2u.48xlarge", "trn2-ultraserver"}
    assert reg.warnings == []


def test_load_plugins_set_but_empty_loads_none(monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", "")
    reg = registry.build(registry.Settings.from_env())
    assert set(status(reg).values()) == {"blocked"}
    assert (reg.chips, reg.systems, reg.cost_models) == ({}, {}, {})
    result = run_cli("chips", "show", "trainium2")
    assert result.code == 1
    assert result.err.startswith("error: unknown chip 'trainium2'")


def test_load_plugins_lists_several(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPROF_LOAD_PLUGINS", " nvidia_h100 , models ")
    reg = registry.build(registry.Settings.from_env())
    assert {n for n, s in status(reg).items() if s == "loaded"} == {"nvidia_h100", "models"}
    assert list(reg.chips) == ["h100-sxm"]


# ----------------------------------------------------------------------------- references


def system_profile(chip: str = "trainium2", interconnect: str = "neuronlink-v3") -> str:
    return (
        SOURCES
        + f"""
[[system]]
id = "test-pod"
name = "Test pod"
kind = "pod"
chip = "{chip}"
chips = 2
source = "s1"
status = "official"

[[system.tiers]]
interconnect = "{interconnect}"
"""
    )


def test_system_may_use_another_plugins_chip_and_link(run_cli: RunCli, write_profile: WriteProfile) -> None:
    path = write_profile(system_profile())
    result = run_cli("--strict-plugins", "--profiles", path.parent, "systems", "show", "test-pod", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    assert data["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(2 * 1299 / 1000)
    assert data["tiers"][0]["per_direction_gb_s"] == 1024 / 2


@pytest.mark.parametrize(
    ("kwargs", "missing", "hint"),
    [
        ({"chip": "trainium22"}, "chip 'trainium22'", "'trainium2'"),
        ({"interconnect": "nvlink5"}, "interconnect 'nvlink5'", "'nvlink4'"),
    ],
)
def test_dangling_reference_warns_naming_system_file_and_id(
    run_cli: RunCli, write_profile: WriteProfile, kwargs: dict[str, str], missing: str, hint: str
) -> None:
    path = write_profile(system_profile(**kwargs))
    result = run_cli("--profiles", path.parent, "systems", "list")
    assert result.code == 0
    [line] = result.err.splitlines()
    assert line.startswith("warning: system 'test-pod'")
    assert str(path) in line and missing in line and hint in line
    assert "test-pod" not in result.out
    assert "trn2-ultraserver" in result.out

    strict = run_cli("--strict-plugins", "--profiles", path.parent, "systems", "list")
    assert strict.code == 1
    assert strict.out == ""
    [line] = strict.err.splitlines()
    assert line.startswith("error: system 'test-pod'") and missing in line


def test_dangling_reference_from_a_python_plugin_names_the_plugin() -> None:
    source = records.Source(key="s", title="Test")
    system = records.System(id="orphan", name="Orphan", kind="pod", chip="nochip", chips=1, source=source,
                          status="official")  # fmt: skip

    class SystemPlugin:
        @hookimpl
        def hwprof_register_systems(self) -> Sequence[records.System]:
            return [system]

    reg = build(("orphans", SystemPlugin()))
    assert "orphan" not in reg.systems
    [line] = reg.warnings
    assert "'orphan'" in line and "plugin 'orphans'" in line and "'nochip'" in line
    with pytest.raises(HwprofError, match="'nochip'"):
        build(("orphans", SystemPlugin()), strict=True)


# ----------------------------------------------------------------------------- listing


def expected_counts(name: str) -> dict[str, int]:
    """What a built-in profile declares, counted from its TOML by tomllib, not by hwprof."""
    profile = files("hwprof.profiles") / f"{name}.toml"
    if not profile.is_file():  # a plugin of code only (launch formats): it registers no records
        return {}
    data = tomllib.loads(profile.read_text(encoding="utf-8"))
    # each [[kind]] array of tables registers len(array) records, counted under "kinds"
    return {f"{kind}s": len(tables) for kind, tables in data.items() if isinstance(tables, list) and tables}


def test_plugins_list_all_json_shows_the_builtins_with_counts(run_cli: RunCli) -> None:
    result = run_cli("plugins", "list", "--all", "--json")
    assert result.code == 0, result.err
    rows = result.json()
    assert isinstance(rows, list)
    assert {r["name"] for r in rows} == declared_plugins()
    assert set(BUILTINS) <= declared_plugins()
    for row in rows:
        assert (row["status"], row["builtin"], row["error"]) == ("loaded", True, ""), row
        assert row["registered"] == expected_counts(row["name"]), row["name"]
        assert row["version"]
    trn2 = next(r for r in rows if r["name"] == "trainium2")
    assert trn2["registered"] == {"chips": 1, "interconnects": 3, "systems": 3}
    assert "hwprof_register_chips" in trn2["hooks"]


def test_plugins_list_without_all_hides_builtins(run_cli: RunCli) -> None:
    result = run_cli("plugins", "list")
    assert result.code == 0
    assert "no third-party plugins" in result.out


def test_builtin_registry_loads_cleanly(builtin_registry: registry.Registry) -> None:
    assert builtin_registry.warnings == []
    assert set(status(builtin_registry).values()) == {"loaded"}
    for system in builtin_registry.systems.values():  # every reference resolves
        assert system.chip in builtin_registry.chips
        assert all(t.interconnect in builtin_registry.interconnects for t in system.tiers)


def test_get_is_built_once() -> None:
    first = registry.get()
    assert registry.get() is first
    registry.reset()
    assert registry.get() is not first


def test_profile_path_env_loads_a_folder(monkeypatch: pytest.MonkeyPatch, write_profile: WriteProfile) -> None:
    path: Path = write_profile(chip_profile("envchip"))
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(path.parent))
    reg = registry.build(registry.Settings.from_env())
    assert reg.provider("chips", "envchip") == f"profile {path}"
