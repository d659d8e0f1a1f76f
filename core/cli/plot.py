"""Charts for ``--plot FILE``: a plan's frontier, a comparison's ratios, an estimate's breakdown.

matplotlib is an optional extra (``pip install 'hwprof[plot]'``) and heavy to import, so it is
imported inside ``_figure`` only, never at module level (ruff TID253 bans it). The functions take
plain points and bars, not results: each command hands over what its typed result holds, so the
charts do not change when a result grows a field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from ..errors import HwprofError

SUFFIXES = (".png", ".svg", ".pdf")
CHOSEN_COLOUR, OTHER_COLOUR, RANGE_COLOUR = "#d62728", "#1f77b4", "#7f7f7f"
SERIES_COLOURS = (OTHER_COLOUR, "#2ca02c", "#9467bd", "#ff7f0e")


@attrs.frozen
class Point:
    """One option on a frontier: ``label`` names its system and layout."""

    x: float
    y: float
    label: str
    chosen: bool = False
    note: str = ""  # e.g. "misses deadline": drawn hollow and said in the label
    series: str = ""  # points of one series share a colour and a frontier line of their own, named in the legend
    x_range: tuple[float, float] | None = None  # (low, high) of x: drawn as a whisker


@attrs.frozen
class Bar:
    """One ratio (or one part of a whole) with its range; ``low``/``high`` None where there is none."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None


NEEDS_MATPLOTLIB = "--plot needs matplotlib: pip install 'hwprof[plot]'"


def check_path(path: Path) -> Path:
    """Refuse a path the chart cannot be written to, or a missing matplotlib, before any work is done."""
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib.figure")
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise HwprofError(NEEDS_MATPLOTLIB)
    if path.suffix.lower() not in SUFFIXES:
        raise HwprofError(f"--plot {path}: the file name must end in {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise HwprofError(f"--plot {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise HwprofError(f"--plot {path}: folder {path.parent} does not exist; create it first")
    return path


def frontier(points: Sequence[Point], path: Path, *, title: str, xlabel: str, ylabel: str,
             log_x: bool = False, log_y: bool = False, legend: str = "", up: bool = False, right: bool = False,
             guides: Sequence[tuple[str, float]] = ()) -> Path:  # fmt: skip
    """Options as points (the chosen one marked), the ones nothing beats joined as the frontier:
    the lower-left edge when smaller is better on both axes (time and cost), the upper-left edge
    with ``up`` (larger y is better), the upper-right with ``up`` and ``right``. ``guides`` draws
    labelled vertical lines (a deadline). Points without a label are drawn small and unnamed."""
    if not points:
        raise HwprofError("nothing to plot: no option fits (see the table for why)")
    fig, (ax,) = _figure(path, width=10.0)
    series = list(dict.fromkeys(p.series for p in points))
    colours = {name: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, name in enumerate(series)}
    for name in series:
        edge = pareto([p for p in points if p.series == name], up=up, right=right)
        many = len(series) > 1
        ax.plot([p.x for p in edge], [p.y for p in edge], "-", color=colours[name] if many else RANGE_COLOUR, lw=1,
                zorder=1, label=f"{name} frontier" if name else "frontier")  # fmt: skip
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    labels = []
    for p in sorted(points, key=lambda p: not p.chosen):  # the chosen point's label is placed first
        colour = CHOSEN_COLOUR if p.chosen else colours[p.series]
        hollow = bool(p.note)
        ax.scatter([p.x], [p.y], s=120 if p.chosen else 40 if p.label else 12, marker="*" if p.chosen else "o",
                   zorder=3, facecolors="none" if hollow else colour, edgecolors=colour)  # fmt: skip
        if p.x_range is not None:
            ax.plot(p.x_range, (p.y, p.y), "-", color=RANGE_COLOUR, lw=0.8, alpha=0.6, zorder=2)
        if not p.label:
            continue  # an unlabelled point: part of the cloud, not named
        text = p.label + (f" ({p.note})" if p.note else "") + (" (chosen)" if p.chosen else "")
        label = ax.annotate(text, (p.x, p.y), textcoords="offset points", xytext=(6, 4), ha="left", fontsize=7,
                            color=colour if p.chosen else "black")  # fmt: skip
        label.set_in_layout(False)  # long labels must not squeeze the axes
        labels.append(label)
    for name, x in guides:
        ax.axvline(x, color=CHOSEN_COLOUR, lw=1, ls=":")
        ax.annotate(name, (x, 0), xycoords=("data", "axes fraction"), xytext=(3, 4), textcoords="offset points",
                    fontsize=7, color=CHOSEN_COLOUR)  # fmt: skip
    ax.set(title=_wrapped(title), xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    if legend:
        fig.supxlabel(_wrapped(legend, 150), fontsize=7, color=RANGE_COLOUR)
    place_labels(fig, ax, labels)
    return _save(fig, path)


# Where a label may sit beside its point, in points (x, y, alignment), nearest first: right or left of
# the point, then stepping up and down away from it.
SPOTS = [(dx, dy, ha) for dy in (4, -12, 16, -24, 28, -36, 40, -48, 52, -60)
         for dx, ha in ((6, "left"), (-6, "right"))]  # fmt: skip


def place_labels(fig: Any, ax: Any, labels: Sequence[Any]) -> None:
    """Move each label (in order) to the first spot beside its point where it overlaps no label
    placed before it and stays inside the axes; where none is free, to the spot overlapping least.
    Measured on the laid-out figure, so the boxes are the ones the saved file shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas: Any = FigureCanvasAgg(fig)  # measures text as the saved file draws it (same font metrics)
    canvas.draw()  # runs the layout: positions are final from here on (labels are out of the layout)
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []

    def cost(box: Any) -> float:
        overlap = sum(max(0.0, min(box.x1, b.x1) - max(box.x0, b.x0)) * max(0.0, min(box.y1, b.y1) - max(box.y0, b.y0))
                      for b in placed)  # fmt: skip
        outside = box.width * box.height - max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0)) * max(
            0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))  # fmt: skip
        return float(overlap + outside)

    for label in labels:
        best: tuple[float, Any, Any] | None = None
        for dx, dy, ha in SPOTS:
            label.set_position((dx, dy))
            label.set_horizontalalignment(ha)
            box = label.get_window_extent(renderer)
            c = cost(box)
            if best is None or c < best[0]:
                best = (c, (dx, dy, ha), box)
            if c == 0:
                break
        assert best is not None
        dx, dy, ha = best[1]
        label.set_position((dx, dy))
        label.set_horizontalalignment(ha)
        placed.append(best[2])


def pareto(points: Sequence[Point], up: bool = False, right: bool = False) -> list[Point]:
    """The points no other point beats on both axes: smaller x and smaller y by default; larger y with
    ``up``, larger x with ``right`` (serving: more tokens/s per user and per chip). Ordered by x."""
    sx, sy = (-1 if right else 1), (-1 if up else 1)
    edge: list[Point] = []
    for p in sorted(points, key=lambda p: (sx * p.x, sy * p.y)):
        if not edge or sy * p.y < sy * edge[-1].y:
            edge.append(p)
    return sorted(edge, key=lambda p: p.x)


def ratios(panels: Sequence[tuple[str, Sequence[Bar]]], path: Path, *, title: str, note: str = "") -> Path:
    """One panel per ratio (speed, price-performance ...): a bar per option with its range as an error
    bar, and a dashed line at 1.0, the baseline."""
    panels = [(name, items) for name, items in panels if items]
    if not panels:
        raise HwprofError("nothing to plot: no ratio could be computed (see the table for why)")
    fig, axes = _figure(path, columns=len(panels))
    for ax, (name, items) in zip(axes, panels, strict=True):
        xs = list(range(len(items)))
        values = [b.value for b in items]
        lower = [max(b.value - b.low, 0.0) if b.low is not None else 0.0 for b in items]
        upper = [max(b.high - b.value, 0.0) if b.high is not None else 0.0 for b in items]
        ax.bar(xs, values, color=OTHER_COLOUR, width=0.6)
        ax.errorbar(xs, values, yerr=[lower, upper], fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(xs, [b.label for b in items], rotation=20, ha="right", fontsize=8)
        for x, b in zip(xs, items, strict=True):
            ax.text(x - 0.28, b.value, f"{b.value:.2f}", ha="right", va="bottom", fontsize=8)
        ax.axhline(1.0, color=CHOSEN_COLOUR, lw=1, ls="--", label="baseline")
        ax.set(title=name, ylabel="x baseline (above 1 is better)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(_wrapped(title, 120), fontsize=10)
    if note:
        fig.supxlabel(note, fontsize=7, color=RANGE_COLOUR)
    return _save(fig, path)


def breakdown(parts: Sequence[Bar], path: Path, *, title: str, unit: str = "s", note: str = "") -> Path:
    """Where the time of one whole goes (a training step: compute, each communication tier, the
    bubble; a request: queue, prompt, decode): a horizontal bar per part, labelled with its value and
    its share, so a part a hundred times smaller than another still reads."""
    parts = [p for p in parts if p.value > 0]
    if not parts:
        raise HwprofError("nothing to plot: the estimate has no time breakdown")
    fig, (ax,) = _figure(path)
    total = sum(p.value for p in parts)
    ys = list(range(len(parts)))[::-1]  # first part on top
    ax.barh(ys, [p.value for p in parts], color=[f"C{i % 10}" for i in range(len(parts))], height=0.6)
    for y, part in zip(ys, parts, strict=True):
        ax.text(part.value, y, f" {part.value:.3g} {unit} ({part.value / total:.0%})", va="center", fontsize=8)
    ax.set_yticks(ys, [p.label for p in parts], fontsize=8)
    ax.set_xlim(0, max(p.value for p in parts) * 1.3)
    ax.set(title=_wrapped(title), xlabel=f"{unit} (total {total:.3g} {unit})")
    ax.grid(True, axis="x", alpha=0.3)
    if note:
        fig.supxlabel(_wrapped(note, 150), fontsize=7, color=RANGE_COLOUR)
    return _save(fig, path)


def _wrapped(title: str, width: int = 70) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width))


def _figure(path: Path, columns: int = 1, width: float = 8.0) -> tuple[Any, list[Any]]:
    check_path(path)
    try:
        from matplotlib.figure import Figure  # the object API: no pyplot, no GUI backend chosen
    except ImportError:
        raise HwprofError(NEEDS_MATPLOTLIB) from None
    fig = Figure(figsize=(width if columns == 1 else 5.5 * columns, 5.5), layout="constrained")
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, list(axes)


def _save(fig: Any, path: Path) -> Path:
    """Write through a temporary file in the same folder, so a failed save leaves no half chart."""
    import os
    import tempfile

    import matplotlib

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        # Text stays text in SVG (searchable, and checked by the tests); no date, so files are reproducible.
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hwprof"}):
            fig.savefig(tmp, dpi=120, metadata={"Date": None} if path.suffix.lower() in (".svg", ".pdf") else None)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a chart is an ordinary file
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HwprofError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


RATIO_NOTE = "bars: expected values; whiskers: each option's own low-high range against the baseline's expected value"


def ratio_bars(rows: list[dict[str, Any]], baseline: str, key: str, smaller_is_better: bool) -> list[Bar]:
    """Each row's ``key`` range (JSON: low, expected, high) as a ratio to the baseline's expected
    value, oriented so above 1 is better (baseline time / row time: a speed-up). Rows without the
    figure (no price) are left out, and so is the panel when the baseline has none."""
    base = next((r[key] for r in rows if baseline in (r["system"], r.get("label")) and r.get(key)), None)
    if base is None:
        return []
    bars = []
    for row in rows:
        value = row.get(key)
        if not value:
            continue
        # An unbounded end (None: the load cannot be served there) gets no whisker on that side.
        ends = [
            value.get(k) for k in (("high", "expected", "low") if smaller_is_better else ("low", "expected", "high"))
        ]
        low, mid, high = ((base["expected"] / v if smaller_is_better else v / base["expected"]) if v else None
                          for v in ends)  # fmt: skip
        if mid is not None:
            bars.append(Bar(row.get("label", row["system"]), mid, low, high))
    return bars
