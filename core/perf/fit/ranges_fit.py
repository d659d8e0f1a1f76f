"""Refit the range widths (``range_table.py``) from the residuals of the held-out published results.

    python -m hwprof.perf.fit.ranges_fit           # prints the refit beside the shipped table
    python -m hwprof.perf.fit.ranges_fit --write   # rewrites core/perf/range_table.py with the refit

Every published result is estimated with its published layout under constants fitted without its
document (leave-one-source-out, ``loso``), its signed residual log(published time / model's time)
grouped by kind and the evidence class it was in while held out, and the split-conformal quantiles
taken per class (``ranges.fit``). Rerun after any change to the model,
its constants or the published results; tests/test_ranges.py fails until the table matches.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

from .. import range_table, ranges
from . import loso

HEADER = '''"""The range widths (data): written by ``python -m hwprof.perf.fit.ranges_fit --write``; do not edit.

(kind, evidence class): (low, high, cases, own_cases, factor), low/high in log(published time /
model's time) at 90% nominal coverage; see ``hwprof.perf.ranges`` for the procedure.
"""

'''


def table_text(widths: dict[tuple[str, str], ranges.Width]) -> str:
    lines = [f"    ({w.kind!r}, {w.evidence!r}): ({w.low:.4f}, {w.high:.4f}, {w.cases}, {w.own_cases}, {w.factor:g}),"
             for w in widths.values()]  # fmt: skip
    body = "\n".join(lines).replace("'", '"')
    return (HEADER + "WIDTHS: dict[tuple[str, str], tuple[float, float, int, int, float]] = {\n"
            + body + "\n}\n")  # fmt: skip


def write(widths: dict[tuple[str, str], ranges.Width]) -> Path:
    """Replace range_table.py whole (a temporary file renamed over it: never half-written)."""
    path = Path(range_table.__file__)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(table_text(widths))
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a script for maintainers
    from ...data import registry

    args = sys.argv[1:] if argv is None else argv
    reg = registry.build(registry.Settings(profile_dirs=()))
    found = loso.all_residuals(reg)
    refit, shipped = ranges.fit(found), ranges.shipped()
    for key, w in refit.items():
        old = shipped.get(key)
        was = f"{math.expm1(old.low):+.1%}..{math.expm1(old.high):+.1%}" if old else "-"
        print(f"{w.kind:5s} {w.evidence:8s} {math.expm1(w.low):+.1%}..{math.expm1(w.high):+.1%} of the model's time "
              f"(log {w.low:+.4f}..{w.high:+.4f}); {w.own_cases} cases of its own, quantiles over {w.cases}, "
              f"x{w.factor:g}   shipped {was}")  # fmt: skip
    for r in sorted(found, key=lambda r: (r.kind, r.evidence, r.value)):
        print(f"  {r.kind:5s} {r.evidence:8s} {r.case:44s} {math.expm1(r.value):+.1%}")
    if "--write" in args:
        print(f"written: {write(refit)}")


if __name__ == "__main__":  # pragma: no cover
    main()
