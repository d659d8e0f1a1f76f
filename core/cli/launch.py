"""``--emit FRAMEWORK`` and ``--report FILE.html`` on the plan and estimate commands: the pick as the
framework's own launch arguments (``hwprof.emit``), and the plan as one page to share (``hwprof.report``).

With ``--emit`` the launch text goes to stdout instead of the table (the header comments say what the pick
is, so the file stands alone); with ``--json`` the JSON gets a ``launch`` object instead. ``--report``
writes the page besides whatever is printed, atomically, refusing to replace a file without ``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import attrs
import typer

from ..errors import HwprofError
from .groups import OptionGroup

TRAIN_NAMES = "megatron, bridge, torchtitan"
SERVE_NAMES = "vllm, sglang, trtllm"

EmitOpt = Annotated[str | None, typer.Option(
    "--emit", metavar="FRAMEWORK",
    help=f"Print the pick as a framework's launch arguments or config instead of the table: {TRAIN_NAMES} "
         f"(training); {SERVE_NAMES} (serving); plugins add more (an unknown name lists them). Each says the "
         "version it targets and what it cannot express.")]  # fmt: skip
ReportOpt = Annotated[Path | None, typer.Option(
    "--report", metavar="FILE.html", dir_okay=False,
    help="Also write the plan as one self-contained HTML page: the question, the pick and its launch "
         "arguments, charts, every figure's source, the range, the prices and their dates.")]  # fmt: skip
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --report file.")]


@attrs.frozen
class LaunchOptions(OptionGroup):
    """--emit FRAMEWORK and --report FILE.html (with --force)."""

    emit: EmitOpt = None
    report: ReportOpt = None
    force: ForceOpt = False

    def check(self) -> None:
        """Refuse a --report path that cannot be written before any work is done."""
        if self.report is None:
            return
        if self.report.exists() and not self.force:
            raise HwprofError(f"{self.report}: already exists; pass --force to replace it, or choose another --report")
        if not self.report.parent.is_dir():
            raise HwprofError(f"{self.report}: no folder {self.report.parent} to write it in")


def as_json(emitted: Any) -> dict[str, Any]:
    return {"framework": emitted.framework, "targets": emitted.targets, "args": list(emitted.args),
            "not_expressed": list(emitted.not_expressed), "text": emitted.text}  # fmt: skip


def show(fmt: str, data: dict[str, Any], emitted: Any | None) -> bool:
    """Print the launch text instead of the table (True), or add it to the JSON the caller prints."""
    if emitted is None:
        return False
    if fmt == "json":
        data["launch"] = as_json(emitted)
        return False
    typer.echo(emitted.text, nl=False)
    return True


def write_report(path: Path, html: str, force: bool) -> None:
    from ..data.files import write_atomic
    from .render import note

    write_atomic(path, html, force=force)
    note(f"report written to {path}")


def serve_choice(plan: Any) -> Any | None:
    """The deployment a serving plan's launch text and page show: the cheapest, else the first found."""
    chosen = next((s.best for s in plan.systems if s.system == plan.cheapest and s.best), None)
    return chosen or next((s.best for s in plan.systems if s.best), None)


def after_train_plan(opts: LaunchOptions, fmt: str, data: dict[str, Any], result: Any, work: Any, precision: str,
                     tokens: float, question: list[str], deadline_days: float | None) -> bool:  # fmt: skip
    """--emit and --report after ``plan train``; True when the launch text was printed instead of the table."""
    from ..emit import picks

    if not (opts.emit or opts.report):
        return False
    chosen = result.cheapest or result.fastest
    if chosen is None and opts.emit:
        raise HwprofError("no option meets the goal, so there is no pick to emit; the table without --emit lists "
                          "the nearest (loosen --deadline-days or --budget)")  # fmt: skip
    emitted = picks.write(opts.emit or "megatron", "train", picks.train_plan_pick(work, chosen, precision, tokens)) \
        if chosen else None  # fmt: skip
    if opts.report:
        from ..report.build import train_plan_page

        html = train_plan_page(result, work, precision, tokens, question, deadline_days, emitted)
        write_report(opts.report, html, opts.force)
    return show(fmt, data, emitted) if opts.emit else False


def after_serve_plan(opts: LaunchOptions, fmt: str, data: dict[str, Any], plan: Any, work: Any,
                     question: list[str]) -> bool:  # fmt: skip
    """--emit and --report after ``plan serve``; True when the launch text was printed instead of the table."""
    from ..emit import picks

    if not (opts.emit or opts.report):
        return False
    chosen = serve_choice(plan)
    if chosen is None and opts.emit:
        raise HwprofError("no deployment meets the targets, so there is no pick to emit; the table without --emit "
                          "says why for each system")  # fmt: skip
    emitted = estimate = None
    if chosen is not None:
        i, o, rate = plan.input_tokens, plan.output_tokens, plan.rate_per_s
        stack = next((s.stack for s in plan.systems if s.system == chosen.system), "") or None
        layouts, estimate = picks.serve_plan_estimate(work, chosen, rate, i, o, stack)
        pick = picks.serve_plan_pick(work, chosen, layouts, estimate, rate, i, o)
        emitted = picks.write(opts.emit or "vllm", "serve", pick)
    if opts.report:
        from ..report.build import serve_plan_page

        html = serve_plan_page(plan, work, question, chosen, estimate, emitted)
        write_report(opts.report, html, opts.force)
    return show(fmt, data, emitted) if opts.emit else False
