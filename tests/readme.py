"""What the README's sample outputs run (cog): ``cog -I . -r README.md`` rewrites them from the real
CLI, and tests/test_docs.py fails when they differ from what the CLI prints now."""

from __future__ import annotations

import contextlib
import io


def show(command: str) -> str:
    """``hwprof COMMAND`` run in process, as a fenced block: the command line, then what it prints."""
    from hwprof.cli.app import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(command.split())
    return f"```\n$ hwprof {command}\n{out.getvalue()}```\n"
