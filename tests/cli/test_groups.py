"""Option groups (core/cli/groups.py): options several commands share, declared once, reach each
command as one object and show in its help where the group stands.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from hwprof.cli.groups import HardwareOptions, ModelOptions, OutputOptions, grouped
from tests.facts import error_line


def app_with(command: Any) -> typer.Typer:
    app = typer.Typer()
    app.command("run")(grouped(command))
    app.callback()(lambda: None)  # a group, so `run` is named on the command line
    return app


def test_a_group_arrives_as_one_object_built_from_its_options() -> None:
    seen: list[Any] = []

    def run(tokens: Annotated[float, typer.Option("--tokens")], model_opts: ModelOptions = ModelOptions(),
            output: OutputOptions = OutputOptions()) -> None:  # fmt: skip
        seen.append((tokens, model_opts, output))

    result = CliRunner().invoke(
        app_with(run), ["run", "--tokens", "1e12", "--params", "7e9", "--layers", "32", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [(1e12, ModelOptions(params=7e9, layers=32), OutputOptions(as_json=True))]


def test_the_help_lists_a_groups_options_where_the_group_stands() -> None:
    def run(tokens: Annotated[float, typer.Option("--tokens")], hardware: HardwareOptions = HardwareOptions(),
            precision: Annotated[str, typer.Option("--precision")] = "bf16") -> None:  # fmt: skip
        pass

    text = CliRunner().invoke(app_with(run), ["run", "--help"]).output
    order = [text.index(flag) for flag in ("--tokens", "--system", "--count", "--chip ", "--chips", "--precision")]
    assert order == sorted(order)


def test_a_command_cannot_take_an_option_a_group_already_gives() -> None:
    def run(model: Annotated[str, typer.Option("--model")] = "", model_opts: ModelOptions = ModelOptions()) -> None:
        pass

    with pytest.raises(TypeError, match="repeats a parameter name"):
        grouped(run)


def test_the_model_is_given_once(run_cli: Any) -> None:
    result = run_cli("estimate", "train", "--tokens", "1e12", "--chip", "h100-sxm", "--chips", "8",
                     "--model", "llama3.1-8b", "--params", "7e9")  # fmt: skip
    assert result.code == 1
    error_line(result.err, "once", "--model ID", "--params N", "--model-config PATH", "got --model, --params")
