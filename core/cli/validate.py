"""``hwprof validate``: the estimators against published results."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hwprof.core import hookimpl
from hwprof.core.cli.common import FormatOpt, JsonFlag, current_registry
from hwprof.core.cli.render import Cell, Table, emit, number, output_format, plural, warn
from hwprof.core.errors import HwprofError


def validate_cmd(
    role: Annotated[str | None, typer.Option("--role", help="Only 'calibration' or 'validation' cases.")] = None,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Run the estimators on published results: estimate vs published, error, median absolute error."""
    from hwprof.core.perf import validate

    if role not in (None, "calibration", "validation"):
        raise HwprofError(f"--role {role}: use 'calibration' or 'validation'")
    out = validate.run(current_registry(), role)
    for case in out["unusable"]:
        warn(f"validation case {case['id']!r} ({case['origin']}) cannot be estimated: {case['reason']}; it is left out")
    rows = [[c["id"], c["role"][:3], c["metric"], _published(c), c["estimate"]["expected"],
             Cell(f"{c['error']:+.0%}", c["error"]), "yes" if c["in_range"] else "NO", ", ".join(c["calibrates"])]
            for c in out["cases"]]  # fmt: skip
    summary = [f"{group}: {plural(s['cases'], 'case')} ({s['train_cases']} training, {s['serve_cases']} serving), "
               f"median absolute error {s['median_abs_error']:.1%}, published value inside the range for "
               f"{s['in_range_share']:.0%}" for group, s in out["summary"].items()]  # fmt: skip
    footer = "\n\n".join([*summary, "calibration cases set the defaults in hwprof.core.perf.efficiency; "
                           "validation cases are kept apart."])  # fmt: skip
    headers = ["case", "role", "metric", "published", "estimate", "error", "in range", "sets"]
    emit(output_format(fmt, as_json), out, lambda: [Table(headers, rows, footer=footer)])


def _published(case: dict[str, Any]) -> Cell:
    """The published figure, its source a footnote in Markdown."""
    return Cell(number(case["published"]), case["published"], source=str(case.get("source") or ""))


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.command("validate")(validate_cmd)
