"""A working plugin: one chip built in Python, and a command whose heavy import waits until it runs."""

import typer
from hwprof.core import hookimpl
from hwprof.core.data.records import Chip, Figure, Source

SOURCE = Source(key="fake", title="Fake datasheet for tests")


def _figure(value):
    return Figure(value=value, source=SOURCE, status="official")


@hookimpl
def hwprof_register_chips():
    return [
        Chip(id="fake-chip", name="Fake Chip", vendor="Fake", peak_dense_tflops={"bf16": _figure(100.0)},
             memory_bandwidth_tbps=_figure(2.0), memory_gb=_figure(64.0))
    ]


@hookimpl
def hwprof_register_commands(cli):
    @cli.command("fake-heavy")
    def fake_heavy():
        """Needs a heavy library, so imports it here, not at module level."""
        import hwprof_fake_heavy

        typer.echo(f"heavy answer: {hwprof_fake_heavy.ANSWER}")
