"""The progress line: drawn on a terminal only, rewritten in place with carriage returns, erased at
the end; never on a pipe (what CliRunner and scripts see)."""

from __future__ import annotations

import io

import pytest

from hwprof.cli import progress
from hwprof.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_label_and_status_then_the_line_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "REFRESH_S", 3600.0)  # the thread never redraws on its own here
    screen = Terminal()
    with Progress("plan train", screen) as shown:
        shown.update("p5.48xlarge (1 of 4) x 64, 1,902,432 layouts so far")
        shown._draw()  # what the refresh thread does every half second
    text = screen.getvalue()
    assert text.startswith("\rplan train: 0 s")
    drawn = text.split("\r")
    assert drawn[2].startswith("plan train: p5.48xlarge (1 of 4) x 64, 1,902,432 layouts so far, ")
    # the last write blanks as many characters as were shown, then returns to the margin
    assert drawn[-2] == " " * len(drawn[2].rstrip()) and drawn[-1] == ""
    assert "\n" not in text and "\x1b" not in text  # one line, no terminal codes


def test_a_pipe_sees_nothing() -> None:
    pipe = io.StringIO()
    with Progress("validate", pipe) as shown:
        shown.update("anything")
    assert pipe.getvalue() == ""


def test_plan_train_prints_no_progress_into_captured_output(run_cli: object) -> None:
    result = run_cli("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems",  # type: ignore[operator]
                     "p5en.48xlarge", "--json")  # fmt: skip
    assert result.code == 0 and "\r" not in result.err and "plan train:" not in result.err
