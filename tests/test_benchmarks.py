"""The benchmarks run against today's code: each one's hwprof half, at its smallest size, in process.
They measure speed, which no test asserts (a busy machine must not fail a test); these only keep them
from rotting when a model's signature changes."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from types import ModuleType
from typing import Any

import pytest

from tests import ROOT


def bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(module: ModuleType, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    monkeypatch.setattr(sys, "argv", [module.__file__, *argv])
    module.main()
    return json.loads(capsys.readouterr().out)


def test_the_aiconfigurator_cases_estimate_on_hwprof() -> None:
    side_by_side = bench("aiconfigurator_side_by_side")
    for case in side_by_side.CASES:
        got = side_by_side.hwprof(case)
        assert all(math.isfinite(v) and v > 0 for v in got.values()), (case.name, got)
        assert got["ttft_s"] > got["tpot_s"], case.name  # a 1,000-4,000-token prompt outlasts one decode step


def test_the_estimate_benchmark_calls_the_api() -> None:
    train, serve = bench("estimate").in_process(seconds=0.01)
    assert train > 0 and serve > 0


def test_the_serve_search_benchmark_counts_the_whole_grid(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    got = run_main(bench("serve_search"), ["--repeat", "1", "--scalar", "2", "--max-count", "2", "--json"],
                   monkeypatch, capsys)  # fmt: skip
    assert got["deployments"] > 0 and got["scalar_per_s"] > 0


def test_the_disaggregated_benchmark_finds_both_kinds(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from hwprof.perf.serve import search

    monkeypatch.setattr(search, "KV", search.KV)  # the benchmark narrows the search's KV caches: undone after
    rows = run_main(bench("disagg_vs_aggregated"), ["--json"], monkeypatch, capsys)
    assert rows and all(row["aggregated"] for row in rows)
