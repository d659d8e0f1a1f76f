"""Small inline SVG charts for the report page: a scatter with a frontier line and a horizontal bar
chart. Plain text out, no plotting library; every label is escaped, sizes are fixed in the viewBox so a
browser (and a printer) scales them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import attrs

WIDTH, HEIGHT = 720, 420
COLOURS = ("#3a6ea5", "#8a5a9e", "#2f8f6a")
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 20, 56


@attrs.frozen
class Point:
    x: float
    y: float
    label: str = ""
    chosen: bool = False
    faded: bool = False  # misses the goal


def _ticks(low: float, high: float, log: bool, count: int = 5) -> list[float]:
    if log:
        lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
        ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5) if low <= m * 10.0**e <= high]
        return ticks if len(ticks) >= 2 else [low, high]
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def scatter(points: Sequence[Point], xlabel: str, ylabel: str, frontier: Sequence[Point] = (), log_x: bool = False,
            guide: tuple[str, float] | None = None, title: str = "") -> str:  # fmt: skip
    """Points (the chosen one a larger ring, labelled ones named), the frontier as a line (one line and
    legend entry per distinct label of its points), an optional vertical guide (a deadline)."""
    allp = [*points, *frontier]
    xs = [p.x for p in allp if p.x > 0 or not log_x] + ([guide[1]] if guide else [])
    ys = [p.y for p in allp]
    if not xs or not ys:
        return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 60" role="img"><text x="10" y="30">no points</text></svg>'
    x0, x1 = min(xs), max(xs)
    y0, y1 = 0.0, max(ys) * 1.08 or 1.0
    if log_x:
        x0, x1 = x0 / 1.25, x1 * 1.25
    else:
        pad = (x1 - x0) * 0.06 or abs(x1) * 0.1 or 1.0
        x0, x1 = max(0.0, x0 - pad), x1 + pad
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        if log_x:
            return LEFT + (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * w
        return LEFT + (x - x0) / ((x1 - x0) or 1) * w

    def sy(y: float) -> float:
        return TOP + h - (y - y0) / ((y1 - y0) or 1) * h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-label="{escape(title or ylabel + " against " + xlabel)}" '
           'class="chart">']  # fmt: skip
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
    for t in _ticks(x0, x1, log_x):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{TOP + h}" x2="{x:.1f}" y2="{TOP + h + 5}" stroke="#888"/>'
                   f'<text x="{x:.1f}" y="{TOP + h + 18}" text-anchor="middle" class="tick">{_fmt(t)}</text>')  # fmt: skip
    for t in _ticks(y0, y1, False):
        y = sy(t)
        out.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT + w}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')  # fmt: skip
    out.append(f'<text x="{LEFT + w / 2}" y="{HEIGHT - 14}" text-anchor="middle" class="axis">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(16 {TOP + h / 2}) rotate(-90)" text-anchor="middle" class="axis">'
               f"{escape(ylabel)}</text>")  # fmt: skip
    if guide:
        gx = sx(guide[1])
        out.append(f'<line x1="{gx:.1f}" y1="{TOP}" x2="{gx:.1f}" y2="{TOP + h}" stroke="#c33" stroke-dasharray="5 4"/>'
                   f'<text x="{gx + 4:.1f}" y="{TOP + 14}" class="guide">{escape(guide[0])}</text>')  # fmt: skip
    series = sorted({p.label for p in frontier})  # one line per kind the frontier points name ("" for one)
    for n, name in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        line = sorted((p for p in frontier if p.label == name), key=lambda p: p.x)
        if len(line) > 1:
            path = " ".join(f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in line)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for p in line:
            out.append(f'<circle cx="{sx(p.x):.1f}" cy="{sy(p.y):.1f}" r="2.5" fill="{colour}"/>')
        if name:
            out.append(f'<text x="{LEFT + w - 8}" y="{TOP + 16 + 14 * n}" text-anchor="end" class="label" '
                       f'style="fill:{colour}">{escape(name)}</text>')  # fmt: skip
    boxes: list[tuple[float, float, float, float]] = []  # labels placed so far: x0, y0, x1, y1
    marks = [(sx(p.x), sy(p.y)) for p in points]
    for p in sorted(points, key=lambda p: not p.chosen):  # the pick's label first, nearest its point
        cx, cy = sx(p.x), sy(p.y)
        colour = "#bbb" if p.faded else "#222"
        r = 7 if p.chosen else 4
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{"#f2b705" if p.chosen else colour}" '
                   f'stroke="#222"><title>{escape(p.label)}</title></circle>')  # fmt: skip
        if p.label:
            box = _place(p.label, cx, cy, boxes, marks, (LEFT, TOP, LEFT + w, TOP + h))
            if box is not None:
                boxes.append(box)
                left, top, right, _ = box
                out.append(f'<text x="{left:.1f}" y="{top + 10:.1f}" class="label">{escape(p.label)}</text>')
                lx, ly = (left if left > cx else right), top + 6
                if abs(lx - cx) > 12 or abs(ly - cy) > 12:  # moved away: a thin line back to its point
                    out.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{lx:.1f}" y2="{ly:.1f}" stroke="#999" '
                               'stroke-width="0.7"/>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


CHAR_W, LINE_H = 6.2, 13  # an 11px label's width per character and its height, near enough


def _place(label: str, cx: float, cy: float, boxes: list[tuple[float, float, float, float]],
           marks: list[tuple[float, float]], frame: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:  # fmt: skip
    """A spot for a point's label that overlaps no label placed before and no other point, inside the
    plot: beside the point first, then further out; None when there is no room (the point keeps a
    tooltip)."""
    width = len(label) * CHAR_W
    for dy in (-14, 4, -27, 17, -40, 30, -53, 43):
        for right in (True, False):
            x0 = cx + 8 if right else cx - 8 - width
            y0 = cy + dy
            box = (x0, y0, x0 + width, y0 + LINE_H)
            if box[0] < frame[0] or box[2] > frame[2] or box[1] < frame[1] or box[3] > frame[3]:
                continue
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
                continue
            if any(
                box[0] - 3 < mx < box[2] + 3 and box[1] - 3 < my < box[3] + 3
                for mx, my in marks
                if (mx, my) != (cx, cy)
            ):
                continue
            return box
    return None


def bars(parts: Sequence[tuple[str, float]], unit: str, title: str = "") -> str:
    """Horizontal bars, one per part, each with its value and share of the total."""
    total = sum(v for _, v in parts) or 1.0
    row, label_w, w = 26, 230, WIDTH - 230 - 140
    height = TOP + row * len(parts) + 10
    top = max((v for _, v in parts), default=1.0) or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'role="img" aria-label="{escape(title)}" class="chart">']  # fmt: skip
    for i, (name, value) in enumerate(parts):
        y = TOP + i * row
        length = max(0.0, value) / top * w
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(name)}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="#3a6ea5"/>'
                   f'<text x="{label_w + length + 6:.1f}" y="{y + 15}" class="tick">{_fmt(value)} {escape(unit)} '
                   f"({value / total:.0%})</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)
