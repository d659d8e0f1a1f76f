"""A plan as one self-contained HTML page to share: the question asked, the pick and its launch
arguments, the frontier and breakdown charts (inline SVG from ``hwprof.report.svg``), every
figure's source and status, the range and what it rests on, the prices with their dates.

No script, no external file, no web font: the page reads offline and prints (a print stylesheet keeps
the tables whole). ``page`` builds the text from sections of already-escaped HTML; ``table``, ``pre``
and ``para`` escape what they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;max-width:1100px;margin:24px auto;padding:0 18px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#555;margin:0 0 12px}table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}td.long{overflow-wrap:anywhere}th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:4px 0}
pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
.chart{max-width:100%;height:auto;display:block;margin:6px 0}.chart .tick{font-size:11px;fill:#444}
.chart .axis{font-size:12px;fill:#222}.chart .label{font-size:11px;fill:#222}.chart .guide{font-size:11px;fill:#c33}
.note{color:#555;font-size:12px}.status-estimated{color:#a15c00}.status-official{color:#1d6b2a}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg,pre{break-inside:avoid}a{color:inherit}}
"""


def cell(value: object) -> str:
    if isinstance(value, float):
        return f'<td class="num">{escape(f"{value:,.4g}")}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    text = str(value)
    if len(text) > 40 and " " not in text:  # a layout string: may break anywhere rather than widen the table
        return f'<td class="long">{escape(text)}</td>'
    return f"<td>{escape(text)}</td>"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if any(headers) else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{cap}{thead}<tbody>{body}</tbody></table>"


def pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def para(text: str, css: str = "") -> str:
    return f'<p class="{css}">{escape(text)}</p>' if css else f"<p>{escape(text)}</p>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, Sequence[str]]], footer: str = "") -> str:
    """The whole document: ``sections`` are (heading, [html parts])."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(subtitle)}</p>',
    ]
    for heading, body in sections:
        parts.append(f"<section><h2>{escape(heading)}</h2>{''.join(body)}</section>")
    if footer:
        parts.append(f'<footer class="note">{escape(footer)}</footer>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
