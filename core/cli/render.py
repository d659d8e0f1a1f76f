"""Plain-text tables and stable JSON: the two ways every command prints.

No rich, no colour: output is read in terminals, CI logs and diffs alike, and start-up stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

# Marks a figure that is not official, in tables; the legend says what each means.
STATUS_MARK = {"official": "", "reported": " (r)", "derived": " (d)", "estimated": " (e)"}
LEGEND = "(r) reported  (d) derived  (e) estimated: not an official figure"


def number(value: float | None, digits: int = 3) -> str:
    """Up to ``digits`` significant decimals, thousands separated: 83.136 -> '83.1', 1299 -> '1,299'."""
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.{digits}g}"


def marked(value: float | None, status: str = "official", unit: str = "") -> str:
    return number(value) + (f" {unit}" if unit else "") + STATUS_MARK.get(status, "")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    return "\n".join(out)


def pairs(rows: Sequence[tuple[str, Any]], title: str = "") -> str:
    """A two-column key/value block."""
    width = max((len(k) for k, _ in rows), default=0)
    out = [title] if title else []
    out += [f"{k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(out)


def dump_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def echo(text: str) -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(f"warning: {text}\n")


def render_aggregate(a: dict[str, Any]) -> str:
    def cell(total: dict[str, Any] | None, unit: str = "") -> str:
        return marked(total["value"], total["status"], unit) if total else "-"

    precisions = list(a["peak_dense_pflops"]) + [p for p in a["peak_sparse_pflops"] if p not in a["peak_dense_pflops"]]
    rows = [[p, cell(a["peak_dense_pflops"].get(p)), cell(a["peak_sparse_pflops"].get(p)),
             number(a["peak_dense_pflops"][p]["per_chip"]) if p in a["peak_dense_pflops"] else "-"]
            for p in precisions]  # fmt: skip
    count = f"{a['systems']} x " if a["systems"] > 1 else ""
    title = f"{count}{a['system']}: {a['chips']} x {a['chip']}"
    out = [table(["precision", "dense PFLOPS", "sparse PFLOPS", "per chip TFLOPS"], rows, title=title), ""]
    memory_key = "memory_gib" if "memory_gib" in a else "memory_gb"
    tiers = ", ".join(f"{t['interconnect']} ({t['tier']}, {t['domain_chips']} chips, "
                      f"{number(t['per_direction_gb_s'])} GB/s per chip one way)" for t in a["tiers"])  # fmt: skip
    rows2 = [
        ("memory", cell(a[memory_key], "GiB" if memory_key == "memory_gib" else "GB")),
        ("memory bandwidth", cell(a["memory_bandwidth_tbps"], "TB/s")),
        ("power", cell(a["power_kw"], "kW") if a["power_kw"] else "- (no figure)"),
        ("scale-up domain", f"{a['scale_up_domain_chips']} chips"),
        ("tiers", tiers or "-"),
    ]
    if a.get("sparsity_note"):
        rows2.append(("sparsity", a["sparsity_note"]))
    for c in a["claims"]:
        rows2.append(
            ("claim", f"{c['metric']} = {number(c['value'])} [{c['status']}: {c['source']['title']}] {c['note']}")
        )
    if a["rests_on_non_official"]:
        rows2.append(("not official", ", ".join(a["rests_on_non_official"])))
    rows2.append(("from", f"{a.get('provider', '')}: {a.get('origin', '')}"))
    out.append(pairs(rows2))
    out.append(f"\n{LEGEND}")
    return "\n".join(out)
