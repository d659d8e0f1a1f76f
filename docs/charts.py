"""Regenerate the charts the README shows, with the commands the README prints under them.

    .venv/bin/python docs/charts.py            # needs matplotlib: pip install -e '.[plot]'

Each chart is the output of one ``hwprof ... --plot`` command, run with the built-in profiles only
(no user profiles or plugins), so the committed image is what a fresh install draws.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent

# (file, the command's arguments after `hwprof`); README.md shows each command beside its image.
# fmt: off
CHARTS = [
    ("plan-train.png", ["plan", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--deadline-days", "30",
                        "--purchase", "on-demand,capacity-block"]),
    ("compare-train.png", ["compare", "train", "--model", "llama3.1-70b", "--tokens", "1e12",
                           "--systems", "p5en.48xlarge,p5e.48xlarge,p5.48xlarge,trn2.48xlarge",
                           "--purchase", "on-demand,capacity-block"]),
]
# fmt: on


def command(name: str) -> str:
    """The command line for one chart, as the README prints it."""
    args = dict(CHARTS)[name]
    return "hwprof " + " ".join(args) + f" --plot docs/{name}"


def main() -> int:
    os.environ["HWPROF_NO_USER_PROFILES"] = "1"
    os.environ.pop("HWPROF_PROFILE_PATH", None)
    os.environ.pop("HWPROF_LOAD_PLUGINS", None)
    import contextlib

    from hwprof.cli.app import main as hwprof

    for name, args in CHARTS:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the tables: not needed here
            code = hwprof([*args, "--plot", str(DOCS / name)])
        if code:
            print(f"failed: {command(name)}", file=sys.stderr)
            return code
        print(f"wrote docs/{name}: {command(name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
