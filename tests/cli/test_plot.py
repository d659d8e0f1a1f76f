"""Charts are files a reader can open: the tests render them and read them back (PNG signature and
size, SVG text holding every label), and the frontier is the one hand-picked from the points.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hwprof.cli.plot import Bar, Point, breakdown, check_path, frontier, pareto, ratios
from hwprof.errors import HwprofError
from tests import ROOT
from tests.facts import error_line, facts

pytest.importorskip("matplotlib")

POINTS = [
    Point(30.0, 23.6, "p5e.48xlarge x758 tp=8,pp=4", chosen=True),
    Point(30.0, 30.0, "p5.48xlarge x758"),
    Point(25.0, 40.0, "p5en.48xlarge x900"),
    Point(40.0, 20.0, "trn2.48xlarge x600", note="misses deadline"),
]


def test_pareto_keeps_the_points_nothing_beats() -> None:
    # p5 (30 days, 30 M) is beaten by p5e (30 days, 23.6 M); the other three each win somewhere.
    assert [p.label.split()[0] for p in pareto(POINTS)] == ["p5en.48xlarge", "p5e.48xlarge", "trn2.48xlarge"]
    up = [Point(1, 10, "a"), Point(2, 5, "b"), Point(3, 8, "c")]  # larger y is better: b is beaten by a
    assert [p.label for p in pareto(up, up=True)] == ["a"]
    tie = [Point(1, 5, "sooner"), Point(2, 5, "later, same cost")]  # the same cost, later: beaten
    assert [p.label for p in pareto(tie)] == ["sooner"]
    serving = [Point(10, 100, "a"), Point(20, 50, "b"), Point(15, 40, "c")]  # more of both is better: c is beaten
    assert [p.label for p in pareto(serving, up=True, right=True)] == ["a", "b"]


def test_frontier_svg_holds_every_label_and_marks_the_chosen_one(tmp_path: Path) -> None:
    path = frontier(POINTS, tmp_path / "plan.svg", title="llama3.1-70b, 15T tokens", xlabel="days", ylabel="M USD")
    svg = path.read_text(encoding="utf-8")
    for p in POINTS:
        assert p.label in svg
    assert "p5e.48xlarge x758 tp=8,pp=4 (chosen)" in svg
    assert "(misses deadline)" in svg and "llama3.1-70b, 15T tokens" in svg
    assert 5_000 < path.stat().st_size < 500_000


def test_frontier_png_is_a_png(tmp_path: Path) -> None:
    path = frontier(POINTS, tmp_path / "plan.png", title="t", xlabel="days", ylabel="M USD")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed into place


def test_ratio_bars_carry_their_ranges(tmp_path: Path) -> None:
    items = [Bar("p5en.48xlarge", 1.0, 0.9, 1.1), Bar("trn2.48xlarge", 1.42, 1.1, 1.8)]
    panels = [("speed vs p5en", [Bar("p5en.48xlarge", 1.0), Bar("trn2.48xlarge", 0.8, 0.7, 0.9)]),
              ("price-performance vs p5en", items)]  # fmt: skip
    svg = ratios(panels, tmp_path / "r.svg", title="llama3.1-70b").read_text()
    assert "trn2.48xlarge" in svg and "1.42" in svg and "0.80" in svg and "baseline" in svg
    assert "speed vs p5en" in svg and "price-performance vs p5en" in svg


def test_stacked_breakdown_labels_each_part(tmp_path: Path) -> None:
    parts = [Bar("compute", 1.2), Bar("tensor parallel (nvlink4)", 0.3), Bar("pipeline bubble", 0.1)]
    svg = breakdown(parts, tmp_path / "b.svg", title="step time").read_text()
    # 1.2 + 0.3 + 0.1 = 1.6 s: shares 75%, 19%, 6%
    for label, share in (("compute", " 1.2 s (75%)"), ("tensor parallel (nvlink4)", " 0.3 s (19%)"),
                         ("pipeline bubble", " 0.1 s (6%)")):  # fmt: skip
        assert label in svg and share in svg
    assert "total 1.6 s" in svg


@pytest.mark.parametrize(("name", "message"), [("plan.jpg", "must end in .png, .svg, .pdf"),
                                               ("nosuch/plan.png", "does not exist")])  # fmt: skip
def test_bad_paths_are_refused_before_any_work(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(HwprofError, match=message):
        check_path(tmp_path / name)


def test_without_matplotlib_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    with pytest.raises(HwprofError) as caught:
        frontier(POINTS, tmp_path / "plan.png", title="t", xlabel="x", ylabel="y")
    facts(str(caught.value), "--plot", "matplotlib", "pip install 'hwprof[plot]'")
    assert not (tmp_path / "plan.png").exists()


def test_matplotlib_is_not_imported_at_start(tmp_path: Path) -> None:
    import subprocess

    code = "import hwprof.cli.plot, hwprof.cli.app, sys; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ----------------------------------------------------------------------------- the commands


COMPARE = ("compare", "train", "--model", "llama3.1-70b", "--tokens", "1e12",
           "--systems", "p5en.48xlarge,trn2.48xlarge", "--cost-model", "aws")  # fmt: skip


def test_compare_plot_draws_the_ratios_the_table_prints(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "compare.svg"
    result = run_cli(*COMPARE, "--plot", path)
    assert result.code == 0, result.err
    rows = {r["system"]: r for r in run_cli(*COMPARE, "--json").json()["rows"]}
    svg = path.read_text(encoding="utf-8")
    assert "speed vs p5en.48xlarge" in svg and "price-performance vs p5en.48xlarge" in svg
    assert f"{rows['trn2.48xlarge']['price_performance']:.2f}" in svg
    assert f"{1 / rows['trn2.48xlarge']['time_ratio']:.2f}" in svg  # speed: baseline time / its time
    assert "chart written to" in result.err


def test_compare_serve_plot(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "serve.png"
    args = ("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge", "--plot", path)
    assert run_cli(*args).code == 0
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 10_000


def test_a_bad_plot_path_fails_before_the_work(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(*COMPARE, "--plot", tmp_path / "chart.gif")
    assert result.code == 1 and result.out == ""
    error_line(result.err, f"--plot {tmp_path / 'chart.gif'}", ".png, .svg, .pdf")


def test_without_matplotlib_the_command_says_how_to_get_it(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = run_cli(*COMPARE, "--plot", tmp_path / "c.png")
    assert (result.code, result.out) == (1, "")  # refused before any work, with one line
    error_line(result.err, "--plot", "matplotlib", "pip install 'hwprof[plot]'")


def test_estimate_serve_plot_splits_one_requests_time(run_cli: Any, tmp_path: Path) -> None:
    args = ("estimate", "serve", "--model", "llama3.1-70b", "--system", "trn2.48xlarge", "--concurrency", "8",
            "--input-tokens", "2000", "--output-tokens", "500")  # fmt: skip
    data = run_cli(*args, "--json").json()
    path = tmp_path / "request.svg"
    assert run_cli(*args, "--plot", path).code == 0
    svg = path.read_text(encoding="utf-8")
    decode = 499 * data["tpot_s"]["expected"]  # the 499 tokens after the first, at the mean time per token
    assert "decode (499 more tokens)" in svg and f" {decode:.3g} s (" in svg
    assert "prompt (to first token)" in svg and "queue wait" in svg


def test_plan_serve_plot_marks_the_cheapest_pick_among_the_frontier(run_cli: Any, tmp_path: Path) -> None:
    args = ("plan", "serve", "--model", "llama3.1-8b", "--rate", "2", "--ttft-slo", "1", "--tpot-slo", "0.05",
            "--systems", "p5.48xlarge,trn2.48xlarge", "--max-count", "2")  # fmt: skip
    plan = run_cli(*args, "--json").json()
    path = tmp_path / "serve.svg"
    result = run_cli(*args, "--plot", path)
    assert result.code == 0, result.err
    svg = path.read_text(encoding="utf-8")
    picks = {s["system"]: s["best"] for s in plan["systems"] if s["best"]}
    chosen = picks[plan["cheapest"]]
    assert f"{chosen['system']} x{chosen['count']} {chosen['layout']} {chosen['weights']} (pick) (chosen)" in svg
    for system, best in picks.items():
        assert f"{system} x{best['count']} {best['layout']}" in svg
    assert "output tokens/s per chip" in svg and "output tokens/s per user" in svg
    # one frontier line per kind of deployment, each named in the legend
    assert "aggregated frontier" in svg and "disaggregated frontier" in svg


def test_one_pareto_line_per_series(tmp_path: Path) -> None:
    from hwprof.cli.plot import Point, frontier, pareto

    points = [Point(1, 10, "a1", series="a"), Point(2, 5, "a2", series="a"), Point(3, 1, "", series="a"),
              Point(1, 4, "b1", series="b"), Point(2, 8, "b2", series="b")]  # fmt: skip
    # each series' own edge (more per user and per chip is better): b2 beats b1, nothing in a beats another
    assert [p.label for p in pareto([p for p in points if p.series == "b"], up=True, right=True)] == ["b2"]
    assert len(pareto([p for p in points if p.series == "a"], up=True, right=True)) == 3
    svg = frontier(points, tmp_path / "two.svg", title="t", xlabel="x", ylabel="y", up=True,
                   right=True).read_text(encoding="utf-8")  # fmt: skip
    assert "a frontier" in svg and "b frontier" in svg


def test_ratio_bars_by_hand() -> None:
    from hwprof.cli.plot import ratio_bars

    rows = [{"system": "base", "time_s": {"low": 80.0, "expected": 100.0, "high": 125.0}},
            {"system": "other", "time_s": {"low": 40.0, "expected": 50.0, "high": None}},
            {"system": "unpriced"}]  # fmt: skip
    bars = ratio_bars(rows, "base", "time_s", smaller_is_better=True)
    # speed-up = base expected / time: 100/125 = 0.8 to 100/80 = 1.25; 100/50 = 2, optimistic end 100/40 = 2.5
    assert bars == [Bar("base", 1.0, 0.8, 1.25), Bar("other", 2.0, None, 2.5)]
    throughput = [{"system": "base", "tps": {"low": 90.0, "expected": 100.0, "high": 110.0}},
                  {"system": "x", "tps": {"low": 150.0, "expected": 200.0, "high": 220.0}}]  # fmt: skip
    assert ratio_bars(throughput, "base", "tps", smaller_is_better=False)[1] == Bar("x", 2.0, 1.5, 2.2)


def test_estimate_train_plot_is_the_step_breakdown(run_cli: Any, tmp_path: Path) -> None:
    args = ("estimate", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--system", "trn2.48xlarge",
            "--count", "64")  # fmt: skip
    step = run_cli(*args, "--json").json()["step"]
    path = tmp_path / "step.svg"
    assert run_cli(*args, "--plot", path).code == 0
    svg = path.read_text(encoding="utf-8")
    parts = {"compute": "compute_s", "tensor parallel": "tensor_parallel_s", "pipeline bubble": "pipeline_bubble_s",
             "data parallel (exposed)": "data_parallel_s"}  # fmt: skip
    total = sum(v for k, v in step.items() if k.endswith("_s") and k != "total_s")
    for label, key in parts.items():
        if step[key] > 0:
            assert label in svg and f" {step[key]:.3g} s ({step[key] / total:.0%})" in svg
    assert "neuronlink-v3" in svg  # the links the job crosses


def test_estimate_train_plot_needs_the_layout_model(run_cli: Any, tmp_path: Path) -> None:
    args = (
        "estimate",
        "train",
        "--model",
        "llama3.1-8b",
        "--tokens",
        "1e12",
        "--system",
        "p5.48xlarge",
        "--mfu",
        "0.4",
    )
    result = run_cli(*args, "--plot", tmp_path / "s.png")
    assert result.code == 1 and "no step breakdown" in result.err


def test_plan_train_plot_labels_the_options_and_marks_the_chosen_one(run_cli: Any, tmp_path: Path) -> None:
    from hwprof.cli.plan import short_layout
    from hwprof.perf.train.layout import Layout

    args = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30",
            "--purchase", "on-demand,capacity-block", "--systems", "p5e.48xlarge,p5en.48xlarge")  # fmt: skip
    plan = run_cli(*args, "--json").json()
    path = tmp_path / "plan.svg"
    result = run_cli(*args, "--plot", path)
    assert result.code == 0, result.err
    svg = path.read_text(encoding="utf-8")
    chosen = plan["cheapest"]
    label = (
        f"{chosen['system']} x{chosen['count']} {chosen['purchase']} {short_layout(Layout(**chosen['layout_fields']))}"
    )
    assert f"{label} (chosen)" in svg
    for option in plan["options"]:
        assert f"{option['system']} x{option['count']} {option['purchase']}" in svg
    assert "deadline 30 days" in svg and "days (expected; log scale)" in svg


def test_short_layout_drops_the_defaults() -> None:
    from hwprof.cli.plan import short_layout
    from hwprof.perf.train.layout import parse

    full = "tp=2,pp=2,dp=1024,cp=2,ep=1,vpp=8,mb=1,zero=2,recompute=selective,sp=1"
    assert short_layout(parse(full)) == "tp=2,pp=2,dp=1024,cp=2,vpp=8,zero=2,recompute=selective"
    assert short_layout(parse("tp=1,pp=1,dp=8,recompute=none")) == "dp=8"
    assert short_layout(parse("tp=4,dp=2,etp=1,grads=16")) == "tp=4,dp=2,recompute=selective,grads=16"


# ----------------------------------------------------------------------------- the README's charts


def test_the_readme_shows_the_plan_chart_with_the_command_that_draws_it(tmp_path: Path) -> None:
    import importlib.util

    root = ROOT
    spec = importlib.util.spec_from_file_location("charts", root / "docs" / "charts.py")
    assert spec and spec.loader
    charts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(charts)
    tour = (root / "docs" / "tour.md").read_text(encoding="utf-8")
    assert "](docs/plan-train.png)" in (root / "README.md").read_text(encoding="utf-8")
    for name, _args in charts.CHARTS:
        assert f"]({name})" in tour, f"docs/tour.md does not show docs/{name}"
        assert charts.command(name) in tour, f"docs/tour.md does not print the command that draws docs/{name}"
        image = (root / "docs" / name).read_bytes()
        assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 20_000
    assert charts.CHARTS[0][1][:2] == ["plan", "train"]  # the README's first chart is made by plan train --plot


def test_labels_of_crowded_points_do_not_overlap(tmp_path: Path) -> None:
    """Issue 21: a plan's options crowd (three systems at one spot, neighbours a day apart); every
    label gets a spot of its own, inside the axes, measured on the laid-out figure."""
    from matplotlib.figure import Figure

    from hwprof.cli import plot

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.subplots()
    crowd = [(30.0, 23.6), (30.0, 23.6), (30.0, 23.6), (31.0, 24.0), (29.0, 23.0), (60.0, 10.0), (10.0, 40.0)]
    ax.scatter([x for x, _ in crowd], [y for _, y in crowd])
    labels = [ax.annotate(f"system-{i} x{700 + i} tp=8,pp=4,dp=32", xy, textcoords="offset points", xytext=(6, 4),
                          fontsize=7) for i, xy in enumerate(crowd)]  # fmt: skip
    for label in labels:
        label.set_in_layout(False)
    plot.place_labels(fig, ax, labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # the Agg canvas place_labels measured on
    boxes = [label.get_window_extent(renderer) for label in labels]
    frame = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1, i
        for j, b in enumerate(boxes[:i]):
            assert not a.overlaps(b), (labels[i].get_text(), labels[j].get_text())
    # before placing, the three labels at one spot sat on top of each other
    assert len({(label.xyann, label.get_horizontalalignment()) for label in labels[:3]}) == 3
