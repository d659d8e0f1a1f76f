"""The report page as text: well-formed, self-contained (no script, no file or font it loads), every
given string escaped, the charts sized; and the SVG charts place points where the arithmetic says."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hwprof.report import page, para, table
from hwprof.report.svg import HEIGHT, LEFT, RIGHT, TOP, WIDTH, Point, bars, scatter

VOID = {"meta", "br", "img", "hr", "link", "input"}
SVG_EMPTY = {"rect", "line", "circle", "polyline", "path"}


class Balance(HTMLParser):
    """Every element closed in order; what loads from elsewhere is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.loads: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.loads += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href") and v]
        if tag == "script":
            self.problems.append("script")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.loads += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def checked(html: str) -> Balance:
    b = Balance()
    b.feed(html)
    b.close()
    return b


def test_page_is_well_formed_and_self_contained() -> None:
    chart = scatter([Point(1, 2, "a"), Point(3, 4, "b", chosen=True)], "x", "y", [Point(1, 2), Point(3, 4)])
    html = page("T <1>", "sub & more", [("One", [table(["h"], [["<b>bold?</b>"], [3.5], [7]]), para("p")]),
                                        ("Two", [chart, bars([("compute", 3.0), ("wait", 1.0)], "s")])])  # fmt: skip
    b = checked(html)
    assert b.problems == [] and b.stack == [] and b.loads == []
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "T &lt;1&gt;" in html and "sub &amp; more" in html
    assert "@media print" in html  # tables and charts kept whole on paper


def test_scatter_places_points_by_the_scale() -> None:
    # linear axes: x 0..10 padded 6% each side -> 0 (clamped) .. 10.6; y from 0 to max 5 x 1.08 = 5.4
    svg = scatter([Point(5, 2.7, "mid")], "x", "y", [Point(0.0001, 0.0), Point(10, 5)])
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - 56
    cx = LEFT + (5 - 0) / 10.6 * w
    cy = TOP + h - 2.7 / 5.4 * h
    assert re.search(rf'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4"', svg), svg
    assert f'viewBox="0 0 {WIDTH} {HEIGHT}"' in svg and ">mid</text>" in svg


def test_log_axis_ticks_are_1_2_5() -> None:
    # 0.3 to 40 days, widened by 1.25 each way: 0.24 to 50, so 1-2-5 ticks from 0.5 to 50
    svg = scatter([Point(0.3, 1), Point(40, 2)], "days", "cost", log_x=True)
    ticks = re.findall(r'text-anchor="middle" class="tick">([^<]+)</text>', svg)
    assert ticks == ["0.5", "1", "2", "5", "10", "20", "50"]


def test_bars_show_value_and_share() -> None:
    svg = bars([("compute", 3.0), ("wait", 1.0)], "s")
    assert "3 s (75%)" in svg and "1 s (25%)" in svg


def test_labels_never_overlap() -> None:
    # twenty points on one spot: at most one label fits beside each, none over another
    pts = [Point(1 + i * 0.001, 1, f"label {i}") for i in range(20)]
    svg = scatter(pts, "x", "y")
    boxes = [(float(x), float(y)) for x, y in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" class="label">', svg)]
    texts = re.findall(r'class="label">([^<]+)<', svg)
    for i, (x, y) in enumerate(boxes):
        for j in range(i):
            ox, oy = boxes[j]
            wide = max(len(texts[i]), len(texts[j])) * 6.2
            assert abs(x - ox) >= wide or abs(y - oy) >= 13, (texts[i], texts[j])
