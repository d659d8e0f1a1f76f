"""Smoke test: the plugin loads and registers its chip without a warning."""

from hwprof.core.data.registry import Settings, build

import hwprof_amd_mi300x


def test_registers_its_chip() -> None:
    # Load only this module (under a name of its own, so an installed copy is not loaded twice).
    name = "hwprof-amd-mi300x-under-test"
    registry = build(Settings(allow=frozenset({name})), extra_plugins=[(name, hwprof_amd_mi300x.plugin)])
    assert registry.warnings == []
    chip = registry.chips["amd-mi300x"]
    assert chip.memory.value > 0
    assert [p.status for p in registry.plugins if p.name == name] == ["loaded"]
