"""The kinds of record hwprof knows, listed once.

The registry's tables and hook dispatch (``registry``), the top-level tables of a profile file
(``schema``), the hooks of a one-file plugin (``toml_plugin``) and the commands hints point to all
derive from ``KINDS``. A new kind of record is one line here, a record class, a table on
``Registry`` and its hook spec written out in ``hookspecs`` (a test checks each kind has one).
"""

from __future__ import annotations

import attrs

from . import records


@attrs.frozen
class Kind:
    name: str  # the profile's [[table]] and the ProfileSet field: "chip"
    attribute: str  # the Registry table: "chips"
    record: type  # what a profile file declares
    word: str  # in messages: "cost model"
    listing: str  # the command that lists them, named in hints
    accepts: type | None = None  # what a plugin may register, when wider than ``record``

    @property
    def hook(self) -> str:
        return f"hwprof_register_{self.attribute}"

    @property
    def registers(self) -> type:
        return self.accepts or self.record


KINDS: tuple[Kind, ...] = (
    Kind("chip", "chips", records.Chip, "chip", "chips list"),
    Kind("interconnect", "interconnects", records.Interconnect, "interconnect", "interconnects list"),
    Kind("system", "systems", records.System, "system", "systems list"),
    Kind("cost_model", "cost_models", records.CostModel, "cost model", "prices list", accepts=records.QuotesCost),
    Kind("workload", "workloads", records.Workload, "workload", "models list"),
    Kind("validation_case", "validation_cases", records.ValidationCase, "validation case", "validate"),
)

BY_NAME = {k.name: k for k in KINDS}
BY_ATTRIBUTE = {k.attribute: k for k in KINDS}
BY_HOOK = {k.hook: k for k in KINDS}
