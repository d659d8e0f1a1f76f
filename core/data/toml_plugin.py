"""A plugin made of one TOML file: what most hardware plugins need, in one line.

    plugin = TomlPlugin("my_chip", "my_chip.toml")   # entry point: my_chip:plugin

Its hooks register whatever the file declares. The file is read on first use, not at import.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwprof.core import hookimpl
from hwprof.core.data import records
from hwprof.core.data.schema import ProfileSet, load_resource


class TomlPlugin:
    def __init__(self, package: str, filename: str) -> None:
        self.package, self.filename = package, filename

    def __repr__(self) -> str:
        return f"TomlPlugin({self.package!r}, {self.filename!r})"

    @property
    def profile(self) -> ProfileSet:
        return load_resource(self.package, self.filename)

    @hookimpl
    def hwprof_register_chips(self) -> Sequence[records.Chip]:
        return self.profile.chip

    @hookimpl
    def hwprof_register_interconnects(self) -> Sequence[records.Interconnect]:
        return self.profile.interconnect

    @hookimpl
    def hwprof_register_systems(self) -> Sequence[records.System]:
        return self.profile.system

    @hookimpl
    def hwprof_register_cost_models(self) -> Sequence[records.CostModel]:
        return self.profile.cost_model

    @hookimpl
    def hwprof_register_workloads(self) -> Sequence[records.Workload]:
        return self.profile.workload

    @hookimpl
    def hwprof_register_validation_cases(self) -> Sequence[records.ValidationCase]:
        return self.profile.validation_case
