"""The contract with plugin authors: every hook hwprof calls, each with a complete example.

A plugin is a module registered under the ``hwprof`` entry-point group. It implements any of
these hooks with ``@hwprof.hookimpl``. Registration hooks take no arguments and return a
list of records; ``hwprof.data.schema.load_resource`` reads them from a TOML file shipped with
the plugin, which is the usual way (profiles are data, plugins are code).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from . import records

if TYPE_CHECKING:
    import typer

hookspec = pluggy.HookspecMarker("hwprof")
hookimpl = pluggy.HookimplMarker("hwprof")
"""Decorator for plugin hook implementations (``from hwprof import hookimpl``)."""


# The registration hooks, one per kind of record (hwprof.data.kinds): each returns a list of records.
# tests/plugins/test_hooks.py checks there is one for every kind, with the record type it returns.


@hookspec
def hwprof_register_chips() -> Sequence[records.Chip]:
    """Chips this plugin provides.

    Example (``my_chip/__init__.py``, with ``my_chip.toml`` beside it)::

        from hwprof import hookimpl
        from hwprof.data.schema import load_resource

        @hookimpl
        def hwprof_register_chips():
            return load_resource(__name__, "my_chip.toml").chip
    """
    raise NotImplementedError


@hookspec
def hwprof_register_interconnects() -> Sequence[records.Interconnect]:
    """Interconnects (scale-up links, scale-out networks) this plugin provides.

    Example::

        from hwprof import hookimpl
        from hwprof.data.schema import load_resource

        @hookimpl
        def hwprof_register_interconnects():
            return load_resource(__name__, "my_chip.toml").interconnect
    """
    raise NotImplementedError


@hookspec
def hwprof_register_systems() -> Sequence[records.System]:
    """Systems (instances, boards, UltraServers, pods): a chip count joined by interconnect tiers.

    A system names its chip and interconnects by id; they may come from any plugin.

    Example::

        from hwprof import hookimpl
        from hwprof.data.schema import load_resource

        @hookimpl
        def hwprof_register_systems():
            return load_resource(__name__, "my_chip.toml").system
    """
    raise NotImplementedError


@hookspec
def hwprof_register_cost_models() -> Sequence[records.QuotesCost]:
    """Cost models: what a system costs per hour, as a price list or as behaviour.

    A cost model is any object with ``id``, ``name``, ``regions``, ``priced_systems()`` and
    ``quote(system, purchase, region, hours, today)`` returning a ``Quote`` (``QuotesCost`` in
    ``hwprof.data.records``). A ``CostModel`` record is one: a list of dated prices, declared
    in TOML or in Python. A plugin may compute its quotes instead (an ownership model from a
    purchase price, power and hosting: see tests/fixtures/hwprof-onprem-ownership). Example, an
    internal chargeback rate::

        import datetime

        import attrs
        from hwprof import hookimpl
        from hwprof.cost import pricing
        from hwprof.data.records import Price, Source
        from hwprof.errors import HwprofError

        CARD = Source(key="rate-card", title="Our 2026 rate card", date=datetime.date(2026, 9, 1))

        @attrs.frozen
        class Chargeback:
            id: str = "chargeback"
            name: str = "Internal chargeback, 2.50 USD per chip-hour"
            regions: tuple[str, ...] = ("dc1",)

            def priced_systems(self):
                return set()  # any system

            def quote(self, system, purchase="on-demand", region=None, hours=None, today=None):
                if purchase != "negotiated":
                    raise HwprofError("the chargeback rate is a negotiated price: use --purchase negotiated")
                price = Price(system=system.id, region="dc1", purchase="negotiated",
                              usd_per_hour=2.5 * system.chips, observed=CARD.date, source=CARD, status="official")
                return pricing.assess(price, self.id, today or datetime.date.today())

        @hookimpl
        def hwprof_register_cost_models():
            return [Chargeback()]
    """
    raise NotImplementedError


@hookspec
def hwprof_register_workloads() -> Sequence[records.Workload]:
    """Workload presets: model shapes estimates can be run on (``--model ID``).

    Example::

        from hwprof import hookimpl
        from hwprof.data.schema import load_resource

        @hookimpl
        def hwprof_register_workloads():
            return load_resource(__name__, "models.toml").workload
    """
    raise NotImplementedError


@hookspec
def hwprof_register_validation_cases() -> Sequence[records.ValidationCase]:
    """Published results (training throughput, chip-hours, serving latency) that
    ``hwprof validate`` checks the estimators against: a vendor adding a chip can add its
    published benchmarks, so users see how well hwprof predicts that chip.

    Example::

        from hwprof import hookimpl
        from hwprof.data.schema import load_resource

        @hookimpl
        def hwprof_register_validation_cases():
            return load_resource(__name__, "published.toml").validation_case
    """
    raise NotImplementedError


@hookspec
def hwprof_register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``hwprof`` CLI. Import heavy libraries inside the command, not at
    module level: every plugin module is imported on every start.

    Example::

        import typer
        from hwprof import hookimpl

        @hookimpl
        def hwprof_register_commands(cli: typer.Typer) -> None:
            @cli.command()
            def hello(name: str = "world") -> None:
                "Say hello."
                typer.echo(f"hello {name}")

    ``cli`` is the root app. To add a command to an existing group (``prices``, ``systems``...),
    find the group in ``cli.registered_groups`` by name; the hook may be called more than once
    in a process, so skip a command that is already there. The built-in cloud pricing plugin
    adds ``hwprof prices refresh`` this way::

        group = next(g.typer_instance for g in cli.registered_groups if g.name == "prices")
        if not any(c.name == "refresh" for c in group.registered_commands):
            group.command("refresh")(refresh)
    """
    raise NotImplementedError


@hookspec
def hwprof_register_emitters() -> Sequence[Any]:
    """Launch formats for ``--emit NAME``: a list of ``hwprof.emit.Emitter`` (name, "train" or "serve",
    a description, and a function of a ``TrainPick`` or ``ServePick`` returning an ``Emitted``). Built-in
    names win over a plugin's. Import nothing heavy at module level.

    Example::

        from hwprof import hookimpl
        from hwprof.emit import Emitted, Emitter

        def my_yaml(pick):
            text = f"tp: {pick.layout.tp}\\npp: {pick.layout.pp}\\n"
            return Emitted("mine", "my trainer 1.0", text, (), (), ".yaml")

        @hookimpl
        def hwprof_register_emitters():
            return [Emitter("mine", "train", "my trainer's YAML", my_yaml)]
    """
    raise NotImplementedError
