"""The report page in a real browser: Debian's Chromium, driven by Playwright, opens a training and a
serving plan's page offline; the tables and charts render (their text there, each chart drawn at a
real size) with no console error, and a screenshot is kept (HWPROF_TEST_ARTEFACTS, else the test's
temporary folder). Skips, saying why, where Playwright or Chromium is missing (.ci/run installs both)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunCli

BROWSER = os.environ.get("HWPROF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

PLANS = {
    "train": ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems",
              "p5.48xlarge,trn2.48xlarge", "--deadline-days", "20"),
    "serve": ("plan", "serve", "--model", "llama3.1-70b", "--rate", "5", "--ttft-slo", "2", "--tpot-slo", "0.05",
              "--systems", "p5.48xlarge,trn2.48xlarge"),
}  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> object:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    if not Path(BROWSER).exists():
        pytest.skip(f"no Chromium at {BROWSER} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, args=ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("kind", ["train", "serve"])
def test_report_renders_in_chromium(kind: str, chromium: object, run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.html"
    made = run_cli(*PLANS[kind], "--report", str(path))
    assert made.code == 0, made.err
    page = chromium.new_page(viewport={"width": 1150, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append(f"loads {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    text = page.inner_text("body")
    for heading in ("The question", "The pick", "Charts", "The range and what it rests on", "Sources of every figure",
                    "Prices"):  # fmt: skip
        assert heading in text
    assert ("pretrain_gpt.py" if kind == "train" else "vllm serve") in text  # the launch arguments
    assert "official" in text and "observed" in text  # figures' status, prices' dates
    assert len(page.query_selector_all("table")) >= 4
    charts = page.query_selector_all("svg")
    assert len(charts) == 2
    for chart in charts:
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    assert len(page.query_selector_all("svg circle")) >= 3
    assert problems == []
    artefacts = Path(os.environ.get("HWPROF_TEST_ARTEFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / f"report-{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()
