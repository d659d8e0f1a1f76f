"""``hwprof validate``: the estimators against published results."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..data.hookspecs import hookimpl
from ..errors import HwprofError
from ..service.session import current_registry
from .common import FormatOpt, JsonFlag
from .render import Cell, Table, emit, number, output_format, plural, warn


def validate_cmd(
    role: Annotated[str | None, typer.Option("--role", help="Only 'calibration' or 'validation' cases.")] = None,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Run the estimators on published results, each under constants fitted without its document
    (leave-one-source-out): error and range coverage by chip, stack and kind."""
    from ..perf.fit import loso

    if role not in (None, "calibration", "validation"):
        raise HwprofError(f"--role {role}: use 'calibration' or 'validation'")
    from .progress import Progress

    with Progress("validate: each published run under constants fitted without its source"):
        out = loso.run(current_registry(), role)
    for case in out["unusable"]:
        warn(f"validation case {case['id']!r} ({case['origin']}) cannot be estimated: {case['reason']}; it is left out")
    rows = [[c["id"], c["role"][:3], c["chip"], c["stack"], c["metric"], _published(c), c["estimate"]["expected"],
             Cell(f"{c['error']:+.0%}", c["error"]), "yes" if c["in_range"] else "NO",
             Cell(f"{c['in_sample_error']:+.0%}", c["in_sample_error"]),
             Cell(f"{c['searched_error']:+.0%}", c["searched_error"]) if "searched_error" in c else "",
             ("yes" if c["searched_in_range"] else "NO") if "searched_in_range" in c else "",
             Cell(f"{c['searched_vs_published']:+.0%}", c["searched_vs_published"])
             if "searched_vs_published" in c else "",
             ", ".join(c["calibrates"])]
            for c in out["cases"]]  # fmt: skip
    summary = []
    for group, s in out["summary"].items():
        line = (f"{group}: {plural(s['cases'], 'case')} ({s['train_cases']} training, {s['serve_cases']} serving), "
                f"median absolute error {s['median_abs_error']:.1%} (in sample {s['in_sample_median_abs_error']:.1%}), "
                f"published value inside the range for {s['in_range_share']:.0%}")  # fmt: skip
        if "train_median_abs_error" in s:
            line += (f"\n  training with published layouts: median absolute error {s['train_median_abs_error']:.1%}, "
                     f"inside the range {s['train_in_range_share']:.0%}{_tuned(s, 'train')}; with searched layouts: "
                     "median absolute "
                     f"error {s['searched_median_abs_error']:.1%}, inside the searched range "
                     f"{s['searched_in_range_share']:.0%}, the searched step at most "
                     f"{s['searched_worst_vs_published']:+.0%} against the published layout's (median "
                     f"{s['searched_median_vs_published']:+.0%}, fastest {s['searched_best_vs_published']:+.0%}: "
                     "faster than experts' layouts is a model error)")  # fmt: skip
        if "serve_median_abs_error" in s:
            line += (f"\n  serving with published layouts: median absolute error {s['serve_median_abs_error']:.1%}, "
                     f"inside the range {s['serve_in_range_share']:.0%}{_tuned(s, 'serve')}")  # fmt: skip
        for key, word in (("by_chip", "by chip"), ("by_stack", "by stack")):
            line += f"\n  {word}: " + "; ".join(f"{g} {v['median_abs_error']:.0%} ({v['cases']}, {v['in_range_share']:.0%} "
                                                f"inside)" for g, v in s[key].items())  # fmt: skip
        summary.append(line)
    layouts = [f"  {c['id']}: published {c['published_layout'] or '-'} -> {c['layout']}"
               + _refused(c) + f"; searched {c['searched_layout']}"
               for c in out["cases"] if c["kind"] == "train"]  # fmt: skip
    footer = "\n\n".join([
        *(["training layouts (the keys the source published fixed, the others searched; then the search alone):\n"
           + "\n".join(layouts)] if layouts else []),
        f"errors and ranges are {out['method']}; 'in sample' is the shipped model's own error.",
        *summary,
        *([_prefill_line(out["cases"])] if _prefill_line(out["cases"]) else []),
        "calibration cases set the constants in hwprof.perf.efficiency (refit: python -m hwprof.perf.fit.calibrate); "
        "validation cases never set a constant."
        + (f" Held out, these had no case left and took their stated fallback: {', '.join(out['fallbacks'])}."
           if out["fallbacks"] else ""),
        "ranges: split-conformal 90% from the held-out residuals by kind and evidence class (hwprof.perf.ranges; "
        "refit: python -m hwprof.perf.fit.ranges_fit --write); validation cases set range widths by "
        "this procedure only, and each case is checked against a range fitted without its document:\n"
        + "\n".join(_width(w) for w in out["ranges"]),
    ])  # fmt: skip
    headers = ["case", "role", "chip", "stack", "metric", "published", "estimate (held out)", "error", "in range",
               "in-sample error", "searched error", "in searched range", "searched step vs published", "sets"]  # fmt: skip
    emit(output_format(fmt, as_json), out, lambda: [Table(headers, rows, footer=footer)])


def _prefill_line(cases: list[dict[str, Any]]) -> str:
    """Where each serving chip x stack's prefill efficiency came from while its cases were held out, where
    not its own fit: borrowed (from which chip x stack) or none (1); not the stacks that never had one."""
    counts: dict[tuple[str, str, str], int] = {}
    for c in cases:
        if c["kind"] == "serve" and c["software_factor"] not in ("own", "reference"):
            key = (c["stack"], c["chip"], c["software_factor"])
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ""
    parts = [f"{stack} on {chip} {how} ({plural(n, 'case')})" for (stack, chip, how), n in sorted(counts.items())]
    return ("serving prefill efficiency while held out, where not the chip x stack's own fit (borrowed as the "
            "floors are, hwprof.perf.serve.layout.prefill_source; none: 1): " + "; ".join(parts))  # fmt: skip


def _tuned(summary: dict[str, Any], kind: str) -> str:
    """The in-range share on stacks a calibration run used, when some cases ran on others."""
    n = summary.get(f"{kind}_tuned_stack_cases", 0)
    if not n or n == summary[f"{kind}_cases"]:
        return ""
    return f" ({summary[f'{kind}_tuned_stack_in_range_share']:.0%} of the {n} on stacks a calibration run used)"


def _refused(case: dict[str, Any]) -> str:
    """Why a published layout runs flagged: memory, or another of the model's rules (named)."""
    if case["layout_fits"]:
        return ""
    from ..perf.train.layout import RULE_TEXT

    refused = case.get("layout_refused", "memory")
    if refused == "memory":
        return " (does not fit by the model)"
    rules = "; ".join(RULE_TEXT.get(r, r) for r in refused.split(", ") if r)
    return f" (refused by the model's rules: {rules})"


def _width(w: dict[str, Any]) -> str:
    import math

    fallback = (
        ""
        if w["own_cases"] == w["cases"]
        else f" (only {w['own_cases']} of its own: all {w['cases']}"
        + (f", x{w['factor']:g})" if w["factor"] != 1 else ")")
    )
    return (
        f"  {w['kind']} {w['evidence']}: published time {math.expm1(w['low']):+.0%}..{math.expm1(w['high']):+.0%} "
        f"of the model's, {w['cases']} results{fallback}"
        + (f"; held out: {w['held_out_inside']} of {w['held_out']} inside" if w.get("held_out") else "")
    )


def _published(case: dict[str, Any]) -> Cell:
    """The published figure, its source a footnote in Markdown."""
    return Cell(number(case["published"]), case["published"], source=str(case.get("source") or ""))


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.command("validate")(validate_cmd)
