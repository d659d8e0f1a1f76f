"""Small inline SVG charts for the report page: a scatter with a frontier line and a horizontal bar
chart. Plain text out, no plotting library; every label is escaped, sizes are fixed in the viewBox so a
browser (and a printer) scales them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import attrs

WIDTH, HEIGHT = 720, 420
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
    """Points (the chosen one a larger ring, labelled ones named), the frontier as a line, an optional
    vertical guide (a deadline)."""
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
    line = sorted(frontier, key=lambda p: p.x)
    if len(line) > 1:
        path = " ".join(f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="#3a6ea5" stroke-width="1.5"/>')
    for p in line:
        out.append(f'<circle cx="{sx(p.x):.1f}" cy="{sy(p.y):.1f}" r="2.5" fill="#3a6ea5"/>')
    placed: list[tuple[float, float]] = []
    for p in sorted(points, key=lambda p: p.chosen):
        cx, cy = sx(p.x), sy(p.y)
        colour = "#bbb" if p.faded else "#222"
        r = 7 if p.chosen else 4
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{"#f2b705" if p.chosen else colour}" '
                   f'stroke="#222"><title>{escape(p.label)}</title></circle>')  # fmt: skip
        if p.label:
            ly = cy - 9
            while any(abs(ly - y) < 12 and abs(cx - x) < 160 for x, y in placed):
                ly += 13  # step down past labels already placed nearby
            placed.append((cx, ly))
            anchor = "end" if cx > LEFT + w * 0.6 else "start"
            dx = -9 if anchor == "end" else 9
            out.append(
                f'<text x="{cx + dx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" class="label">{escape(p.label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


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
