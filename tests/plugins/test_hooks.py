"""One test per hook spec, named after it (tests/test_plugins_docs.py checks that each has one): a
plugin building its records in Python, loaded beside the built-ins, and what it registered in use.
"""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

import typer
from typer.testing import CliRunner

from hwprof import hookimpl
from hwprof.data import records, registry

SOURCE = records.Source(key="ds", title="Test datasheet", url="https://example.com/ds", date=dt.date(2026, 1, 1))


def figure(value: float, status: str = "official") -> records.Figure:
    return records.Figure(value=value, source=SOURCE, status=status)  # type: ignore[arg-type]


CHIP = records.Chip(id="hook-chip", name="Hook Chip", vendor="Test", peak_dense_tflops={"bf16": figure(500.0)},
                  memory_bandwidth_tbps=figure(3.0), memory_gib=figure(96.0))  # fmt: skip
LINK = records.Interconnect(id="hook-link", name="Hook Link", tier="scale-up", direction="bidirectional",
                          bandwidth_per_chip_gb_s=figure(800.0), max_domain_chips=4)  # fmt: skip
SYSTEM = records.System(id="hook-box", name="Hook Box", kind="board", chip="hook-chip", chips=4, source=SOURCE,
                      status="official", tiers=(records.Tier(interconnect="hook-link", domain_chips=4),))  # fmt: skip


def load(**hooks: Any) -> registry.Registry:
    """The built-ins plus one plugin made of these hook functions."""
    plugin = types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})
    built = registry.build(registry.Settings(), extra_plugins=[("hook-test", plugin)])
    assert built.warnings == []
    info = next(p for p in built.plugins if p.name == "hook-test")
    assert (info.status, sorted(info.hooks)) == ("loaded", sorted(hooks))
    return built


def test_hwprof_register_chips() -> None:
    built = load(hwprof_register_chips=lambda: [CHIP])
    assert built.chips["hook-chip"] is CHIP
    assert built.provider("chips", "hook-chip") == "plugin 'hook-test'"
    assert "h100-sxm" in built.chips  # beside the built-ins, not instead of them


def test_hwprof_register_interconnects() -> None:
    built = load(hwprof_register_interconnects=lambda: [LINK])
    assert built.interconnects["hook-link"].per_direction_gb_s == 400  # 800 both ways / 2


def test_hwprof_register_systems() -> None:
    from hwprof.perf.aggregate import aggregate_system

    built = load(
        hwprof_register_chips=lambda: [CHIP],
        hwprof_register_interconnects=lambda: [LINK],
        hwprof_register_systems=lambda: [SYSTEM],
    )
    system = built.system("hook-box")
    totals = aggregate_system(system, built.chip(system.chip), built.interconnects, 1)
    assert totals["peak_dense_pflops"]["bf16"]["value"] == 2.0  # 4 x 500 TFLOPS
    assert totals["memory_gib"]["value"] == 384  # 4 x 96 GiB


def test_hwprof_register_cost_models() -> None:
    price = records.Price(system="p5.48xlarge", region="eu-test-1", purchase="negotiated", usd_per_hour=50.0,
                        observed=dt.date(2026, 2, 1), source=SOURCE, status="official")  # fmt: skip
    built = load(hwprof_register_cost_models=lambda: [records.CostModel(id="hook-cloud", name="Hook", prices=(price,))])
    assert built.cost_model("hook-cloud").regions == ["eu-test-1"]
    assert built.cost_model("hook-cloud").prices[0].usd_per_hour / built.system("p5.48xlarge").chips == 6.25


def test_hwprof_register_workloads() -> None:
    shape = records.Workload(
        id="hook-lm", name="Hook LM", params=7e9, active_params=2e9, source=SOURCE, status="official"
    )
    built = load(hwprof_register_workloads=lambda: [shape])
    assert built.workload("hook-lm").active == 2e9


def test_hwprof_register_validation_cases() -> None:
    case = records.ValidationCase(id="hook-case", kind="train", role="validation", model="llama3.1-8b", chip="h100-sxm",
                                chips=8, precision="bf16", metric="tokens_per_s_per_chip", published=9000.0,
                                source=SOURCE, status="reported")  # fmt: skip
    built = load(hwprof_register_validation_cases=lambda: [case])
    assert built.validation_cases["hook-case"] is case
    assert built.provider("validation_cases", "hook-case") == "plugin 'hook-test'"


def test_hwprof_register_commands() -> None:
    def add(cli: typer.Typer) -> None:
        @cli.command("hook-hello")
        def hello(name: str = "world") -> None:
            typer.echo(f"hello {name}")

    built = load(hwprof_register_commands=add)
    app = typer.Typer()
    app.callback()(lambda: None)
    assert built.manager is not None
    built.manager.hook.hwprof_register_commands(cli=app)
    result = CliRunner().invoke(app, ["hook-hello", "--name", "hwprof"])
    assert (result.exit_code, result.output) == (0, "hello hwprof\n")


def test_hwprof_register_emitters() -> None:
    from hwprof.emit import Emitted, Emitter

    def write(pick: object) -> Emitted:
        return Emitted("mine", "my trainer 1.0", f"layout: {pick}\n", (), (), ".yaml")

    built = load(hwprof_register_emitters=lambda: [Emitter("mine", "train", "my trainer's YAML", write)])
    assert built.manager is not None
    answers = built.manager.hook.hwprof_register_emitters()  # the built-in launch formats answer too
    [emitter] = [e for answer in answers for e in answer if e.name == "mine"]
    assert (emitter.name, emitter.kind) == ("mine", "train")
    assert emitter.write("tp=8").text == "layout: tp=8\n"


def test_a_plugin_written_for_the_old_import_paths_still_loads() -> None:
    """core/ used to install as hwprof.core; plugins importing from there get the same objects."""
    import hwprof
    import hwprof.core.data.records as old_records
    import hwprof.data.records as records
    from hwprof.core import hookimpl as old_hookimpl
    from hwprof.core.perf.train.step import step as old_step
    from hwprof.perf.train.step import step

    assert old_records is records and old_hookimpl is hwprof.hookimpl and old_step is step
    assert records.__spec__ is not None and records.__spec__.name == "hwprof.data.records"  # not renamed by the alias


def test_every_kind_of_record_has_a_hook_spec_written_out_with_its_type() -> None:
    """One typed function per hook, found by grep and read by type checkers (not made from a table)."""
    import inspect
    import typing

    import typer

    from hwprof.data import hookspecs, records
    from hwprof.data.kinds import KINDS

    source = inspect.getsource(hookspecs)
    for kind in KINDS:
        assert f"def {kind.hook}() -> Sequence[records.{kind.registers.__name__}]:" in source
        hints = typing.get_type_hints(getattr(hookspecs, kind.hook))
        assert hints["return"] == typing.Sequence[kind.registers] or hints["return"].__args__ == (kind.registers,)
    assert typing.get_type_hints(hookspecs.hwprof_register_commands, localns={"typer": typer})["cli"] is typer.Typer
    assert records is hookspecs.records
