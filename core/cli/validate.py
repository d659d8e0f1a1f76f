"""``hwprof validate``: the estimators against published results."""

from __future__ import annotations

from typing import Annotated

import typer

from hwprof.core import hookimpl
from hwprof.core.cli.common import JsonFlag, current_registry
from hwprof.core.cli.render import dump_json, echo, number, table
from hwprof.core.errors import HwprofError


def validate_cmd(
    role: Annotated[str | None, typer.Option("--role", help="Only 'calibration' or 'validation' cases.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the estimators on published results: estimate vs published, error, median absolute error."""
    from hwprof.core.perf import validate

    if role not in (None, "calibration", "validation"):
        raise HwprofError(f"--role {role}: use 'calibration' or 'validation'")
    out = validate.run(current_registry(), role)
    if as_json:
        echo(dump_json(out))
        return
    rows = [[c["id"], c["role"][:3], c["metric"], number(c["published"]), number(c["estimate"]["expected"]),
             f"{c['error']:+.0%}", "yes" if c["in_range"] else "NO", ", ".join(c["calibrates"])]
            for c in out["cases"]]  # fmt: skip
    echo(table(["case", "role", "metric", "published", "estimate", "error", "in range", "sets"], rows))
    for group, s in out["summary"].items():
        echo(f"\n{group}: {s['cases']} cases ({s['train_cases']} training, {s['serve_cases']} serving), "
             f"median absolute error {s['median_abs_error']:.1%}, published value inside the range for "
             f"{s['in_range_share']:.0%}")  # fmt: skip
    echo("\ncalibration cases set the defaults in hwprof.core.perf.efficiency; validation cases are kept apart.")


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.command("validate")(validate_cmd)
