"""A command line is parsed by an app holding only what it names (start-up: benchmarks/startup.py).
What the user sees must be what the whole app gives: help, listings, errors.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer

from hwprof.cli import app as cli


def whole_app(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    """``args`` run by the app with every group and command converted, as typer does by default."""
    capsys.readouterr()
    command = typer.main.get_command(cli.build_app(None))
    with pytest.raises(SystemExit) as done:
        command.main(args=args, prog_name="hwprof", standalone_mode=True)
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [],
        ["chips", "--help"],
        ["chips", "list", "--help"],
        ["estimate", "train", "--help"],
        ["plan", "--help"],
        ["validate", "--help"],
        ["chips", "lst"],  # not a command of the group: the group's own error
        ["chipz"],  # not a command at all
    ],
)
def test_a_pruned_app_says_what_the_whole_app_says(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = whole_app(args, capsys)
    assert cli.main(args) == code
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (out, err)


def test_the_command_list_holds_every_group_emptied() -> None:
    full = cli.build_app(None)
    listing = cli._app_for(full, ["--help"])
    assert [g.name for g in listing.registered_groups] == [g.name for g in full.registered_groups]
    assert all(g.typer_instance.registered_commands == [] for g in listing.registered_groups)


def test_a_group_and_command_named_keep_that_command_only() -> None:
    pruned = cli._app_for(cli.build_app("chips"), ["--profiles", "chips", "chips", "list"])
    (group,) = pruned.registered_groups
    assert group.name == "chips"
    assert [cli._name(c) for c in group.typer_instance.registered_commands] == ["list"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"COMP_WORDS": "hwprof chips show tr", "COMP_CWORD": "3"}, ["chips", "show"]),  # bash
        ({"COMP_WORDS": "hwprof ", "COMP_CWORD": "1"}, []),
        ({"_TYPER_COMPLETE_ARGS": "hwprof chips show tr"}, ["chips", "show"]),  # zsh, fish: the line so far
        ({"_TYPER_COMPLETE_ARGS": "hwprof chips "}, ["chips"]),
    ],
)
def test_completion_names_the_words_before_the_one_completed(
    env: dict[str, str], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_HWPROF_COMPLETE", "complete_bash" if "COMP_WORDS" in env else "complete_zsh")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli._completed_words() == expected


def test_zsh_completes_ids_from_the_pruned_app(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_HWPROF_COMPLETE", "complete_zsh")
    monkeypatch.setenv("_TYPER_COMPLETE_ARGS", "hwprof chips show tr")
    result = run_cli()
    assert result.code == 0
    assert result.out.split() == ["_arguments", "'*:", ':(("trainium1"', '"trainium2"', '"trainium3"))\'']
