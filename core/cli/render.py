"""How every command prints: plain-text tables, CSV, Markdown and stable JSON.

No rich, no colour: output is read in terminals, CI logs and diffs alike, and start-up stays fast.
A command describes what it shows once, as blocks (``Table``, ``Pairs``); ``render`` prints them in
the format asked for, and ``emit`` picks JSON (the result itself) or the blocks.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..data.printable import printable
from ..errors import HwprofError

# Marks a figure that is not official, in tables; the legend says what each means.
STATUS_MARK = {"official": "", "reported": " (r)", "derived": " (d)", "estimated": " (e)"}
LEGEND = "(r) reported  (d) derived  (e) estimated: not an official figure"


def number(value: float | None, digits: int = 3) -> str:
    """Up to ``digits`` significant decimals, thousands separated: 83.136 -> '83.1', 1299 -> '1,299'."""
    if value is None:
        return "-"
    if not math.isfinite(value) or abs(value) >= 1e15:  # never a 300-digit number, never int(inf)
        return f"{value:.{digits}g}"
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.{digits}g}"


def exact(value: float | None) -> str:
    """A value as published, every digit kept (prices: 63.296 stays 63.296), thousands separated."""
    if value is None:
        return "-"
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def plural(count: int, noun: str, nouns: str = "") -> str:
    """'1 chip', '2 chips'; ``nouns`` for irregular plurals."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def duration(seconds: float) -> str:
    """A time in the unit that reads best: 12.8 ms, 4.35 s, 5.8 min, 3.2 hours, 30.0 days."""
    if seconds < 1:
        return f"{number(seconds * 1e3)} ms"
    if seconds < 120:
        return f"{number(seconds)} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:,.2f} hours"
    if seconds >= 86400 * 1e12:  # a trillion days and more: not a number of digits to print
        return f"{seconds / 86400:.3g} days"
    return f"{seconds / 86400:,.1f} days"


def marked(value: float | None, status: str = "official", unit: str = "") -> str:
    return number(value) + (f" {unit}" if unit else "") + STATUS_MARK.get(status, "")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """Aligned columns; every cell, header and the title shown printable (one line each)."""
    headers = [printable(str(h)) for h in headers]
    cells = [[printable(str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [printable(title)] if title else []
    out += [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    return "\n".join(out)


def pairs(rows: Sequence[tuple[str, Any]], title: str = "") -> str:
    """A two-column key/value block, shown printable. A value may run over several lines; a line that
    does not start with a space is indented to the value column, so text from a file cannot pose
    as a row of its own."""
    keys = [printable(str(k)) for k, _ in rows]
    width = max(map(len, keys), default=0)

    def value(v: Any) -> str:
        first, *more = printable(str(v), lines=True).split("\n")
        return "\n".join([first, *(line if line[:1].isspace() else " " * (width + 2) + line for line in more)])

    out = [printable(title)] if title else []
    out += [f"{k.ljust(width)}  {value(v)}" for k, (_, v) in zip(keys, rows, strict=True)]
    return "\n".join(out)


def dump_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def echo(text: str) -> None:
    """Print to stdout, escapes and invisible characters shown (``printable``); newlines kept."""
    sys.stdout.write(printable(text, lines=True) + "\n")


def warn(text: str) -> None:
    """One line on stderr: whatever it quotes from a file or plugin, it stays one printable line."""
    sys.stderr.write(f"warning: {printable(text)}\n")


def note(text: str) -> None:
    """Something the user may want to know, not a problem: stderr, so stdout stays the answer."""
    sys.stderr.write(f"note: {printable(text)}\n")


# ----------------------------------------------------------------------------- formats
# A command describes what it shows once, as blocks (a Table, or Pairs of name and value); the same
# blocks print as a plain table, CSV (raw numbers, for spreadsheets) or Markdown (figure sources as
# footnotes, to paste into a design doc). JSON is the result itself, through dump_json.

FORMATS = ("table", "json", "csv", "markdown")


@attrs.frozen
class Cell:
    """A shown value: ``text`` for tables, ``value`` for CSV, provenance for Markdown footnotes."""

    text: str
    value: float | int | str | None = None  # what CSV writes; None: the text
    status: str = "official"
    source: str = ""  # "title, url": one footnote per distinct source

    @classmethod
    def figure(cls, figure: Any, unit: str = "", scale: float = 1.0) -> Cell:
        """A record's Figure (value, status, source), optionally scaled (e.g. x chips / 1000)."""
        if figure is None:
            return cls("-")
        value = figure.value * scale if isinstance(figure.value, int | float) else figure.value
        text = number(value) if isinstance(value, int | float) else str(value)
        source = figure.source.title + (f", {figure.source.url}" if figure.source.url else "")
        return cls(text + (f" {unit}" if unit else ""), value, figure.status, source)


Shown = Cell | str | int | float | None


@attrs.frozen(eq=False, repr=False)  # no eq/repr: each attrs method costs start-up time
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Shown]]
    title: str = ""
    footer: str = ""  # printed after a blank line in tables and Markdown; not in CSV
    csv_headers: Sequence[str] | None = None  # where CSV's raw values are in another unit than the text
    only: str = ""  # a format this block is printed in alone (e.g. "csv"); "" for every format
    # CSV's rows where they carry more than the text shows (a range's ends, the evidence class): one per row,
    # a column per csv_headers entry
    csv_rows: Sequence[Sequence[Shown]] | None = None


@attrs.frozen(eq=False, repr=False)
class Pairs:
    rows: Sequence[tuple[str, Shown]]
    title: str = ""
    footer: str = ""
    only: str = ""


Block = Table | Pairs


def render(blocks: Sequence[Block], fmt: str) -> str:
    """The blocks as ``table``, ``csv`` or ``markdown`` text."""
    blocks = [b for b in blocks if b.only in ("", fmt)]
    if fmt == "csv":
        return _csv(blocks)
    if fmt == "markdown":
        return _markdown(blocks)
    out = []
    for block in blocks:
        if isinstance(block, Table):
            text = table(block.headers, [[_text(c) for c in row] for row in block.rows], block.title)
        else:
            text = pairs([(k, _text(v)) for k, v in block.rows], block.title)
        out.append(text + (f"\n\n{block.footer}" if block.footer else ""))
    return "\n\n".join(out)


def _text(cell: Shown) -> str:
    if isinstance(cell, Cell):
        return cell.text + STATUS_MARK.get(cell.status, "")
    if isinstance(cell, float):
        return number(cell)
    return "-" if cell is None else str(cell)


def _raw(cell: Shown) -> str | float | int:
    if isinstance(cell, Cell):
        return cell.text if cell.value is None else cell.value
    return "" if cell is None else cell


def _csv(blocks: Sequence[Block]) -> str:
    """RFC 4180 CSV of the main table (the first), raw numbers, one header row: what a spreadsheet
    or ``pandas.read_csv`` takes. A view without a table (an estimate) prints as field,value rows."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    main = next((b for b in blocks if isinstance(b, Table)), None)
    if main is not None:
        writer.writerow(main.csv_headers or main.headers)
        writer.writerows([_raw(c) for c in row] for row in main.csv_rows or main.rows)
    else:
        writer.writerow(["field", "value"])
        writer.writerows([k, _raw(v)] for b in blocks if isinstance(b, Pairs) for k, v in b.rows)
    return out.getvalue().rstrip("\n")


def _markdown(blocks: Sequence[Block]) -> str:
    """GitHub Markdown tables; each distinct figure source becomes a numbered footnote."""
    sources: dict[str, int] = {}

    def cell(value: Shown) -> str:
        text = printable(_text(value), lines=True).replace("|", "\\|").replace("\n", "<br>")
        if isinstance(value, Cell) and value.source:
            text += f"[^{sources.setdefault(value.source, len(sources) + 1)}]"
        return text

    def row(values: Sequence[str]) -> str:
        return "| " + " | ".join(values) + " |"

    out = []
    for block in blocks:
        lines = [f"**{printable(block.title)}**", ""] if block.title else []
        if isinstance(block, Table):
            headers, rows = [cell(h) for h in block.headers], [[cell(c) for c in r] for r in block.rows]
        else:
            headers, rows = ["", ""], [[cell(k), cell(v)] for k, v in block.rows]
        lines += [row(headers), row(["---"] * len(headers)), *(row(r) for r in rows)]
        if block.footer:
            lines += ["", block.footer.replace("\n", "  \n")]
        out.append("\n".join(lines))
    notes = [f"[^{n}]: {printable(source)}" for source, n in sources.items()]
    return "\n\n".join(out) + ("\n\n" + "\n".join(notes) if notes else "")


def ranges_table(data: Any, title: str = "") -> Table:
    """Every number and every low/expected/high range in a result's JSON, one row each, keyed by its
    path (the key names carry the units): what an estimate's CSV holds."""
    rows: list[list[Shown]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and {"low", "expected", "high"} <= set(value):
            rows.append([path, value["low"], value["expected"], value["high"]])
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            rows.append([path, None, value, None])

    walk(data, "")
    return Table(["metric", "low", "expected", "high"], rows, title=title, only="csv")


def output_format(fmt: str | None, as_json: bool) -> str:
    """The format asked for: ``--format``, with ``--json`` as its short form."""
    if fmt is not None and fmt not in FORMATS:
        raise HwprofError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if as_json and fmt not in (None, "json"):
        raise HwprofError(f"--json and --format {fmt} disagree; give one of them")
    return "json" if as_json else fmt or "table"


def emit(fmt: str, data: Any, blocks: Callable[[], Sequence[Block]]) -> None:
    """Print ``data`` as JSON, or the blocks (built only when needed) in the other formats."""
    echo(dump_json(data) if fmt == "json" else render(blocks(), fmt))


def aggregate_blocks(a: dict[str, Any]) -> list[Block]:
    """An aggregate (``systems show``, ``estimate peak``): peaks per precision, then the rest."""

    def cell(total: dict[str, Any] | None, unit: str = "") -> Cell | str:
        if not total:
            return "-"
        source = total.get("source", {})
        where = ", ".join(v for v in (source.get("title"), source.get("url")) if v)
        return Cell(marked(total["value"], "official", unit), total["value"], total["status"], where)

    dense, sparse = a["peak_dense_pflops"], a["peak_sparse_pflops"]
    rows = [[p, cell(dense.get(p)), cell(sparse.get(p)), dense[p]["per_chip_tflops"] if p in dense else "-"]
            for p in [*dense, *(p for p in sparse if p not in dense)]]  # fmt: skip
    count = f"{a['systems']} x " if a["systems"] > 1 else ""
    bare = a["system"] == f"{a['chips']} x {a['chip']}"  # chips without a system: say it once
    title = f"{count}{a['system']}" + ("" if bare else f": {a['chips']} x {a['chip']}")
    memory_key = "memory_gib" if "memory_gib" in a else "memory_gb"
    info: list[tuple[str, Shown]] = [
        ("memory", cell(a[memory_key], "GiB" if memory_key == "memory_gib" else "GB")),
        ("memory bandwidth", cell(a["memory_bandwidth_tbps"], "TB/s")),
        ("power", cell(a["power_kw"], "kW") if a["power_kw"] else "- (no figure)"),
    ]
    if a["tiers"]:
        info.append(("scale-up domain", plural(a["scale_up_domain_chips"], "chip")))
        info.append(("tiers", ", ".join(f"{t['interconnect']} ({t['tier']}, {plural(t['domain_chips'], 'chip')}, "
                                        f"{number(t['per_direction_gb_s'])} GB/s per chip one way)"
                                        for t in a["tiers"])))  # fmt: skip
    if a.get("sparsity_note"):
        info.append(("sparsity", a["sparsity_note"]))
    for c in a["claims"]:
        info.append(
            ("claim", f"{c['metric']} = {number(c['value'])} [{c['status']}: {c['source']['title']}] {c['note']}")
        )
    if a["rests_on_non_official"]:
        info.append(("not official", ", ".join(a["rests_on_non_official"])))
    if a.get("provider"):
        info.append(("from", f"{a['provider']}: {a.get('origin', '')}"))
    headers = ["precision", "dense PFLOPS", "sparse PFLOPS", "per chip TFLOPS"]
    return [Table(headers, rows, title=title), Pairs(info, footer=LEGEND)]
