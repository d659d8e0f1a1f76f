"""Estimator speed: one estimate end to end (process start to output) against a bare
``python -c "import typer"``, and estimator calls per second in-process. Stdlib only.

    .venv/bin/python benchmarks/estimate.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HWPROF = str(Path(sys.executable).with_name("hwprof"))
ESTIMATE = [HWPROF, "estimate", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--system", "trn2.48xlarge",
            "--count", "64", "--json"]  # fmt: skip


def wall(cmd: list[str], runs: int) -> float:
    env = {**os.environ, "HWPROF_NO_USER_PROFILES": "1"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process(seconds: float = 2.0) -> tuple[float, float]:
    """Calls per second of the public API (``hwprof.estimate_train`` / ``estimate_serve``), so the
    benchmark follows what users call, not the models' internal signatures."""
    import hwprof

    hwprof.registry()  # built once and cached, as a notebook session would
    calls_of = (
        # a given layout: the single estimate, not the search (64 trn2.48xlarge = 1,024 chips, 4 ranks each)
        lambda: hwprof.estimate_train("llama3.1-70b", tokens=15e12, system="trn2.48xlarge", count=64,
                                      layout="tp=16,pp=4,dp=64,vpp=5"),
        lambda: hwprof.estimate_serve("llama3.1-70b", system="trn2.48xlarge", input_tokens=2000, output_tokens=500),
    )  # fmt: skip
    rates = []
    for fn in calls_of:
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            calls += 1
        rates.append(calls / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    typer_s = wall([sys.executable, "-c", "import typer"], runs)
    estimate_s = wall(ESTIMATE, runs)
    print(f"python -c 'import typer'    {typer_s * 1e3:7.1f} ms (median of {runs})")
    print(f"hwprof estimate train       {estimate_s * 1e3:7.1f} ms  = {estimate_s / typer_s:.2f}x bare typer import")
    train, serve = in_process()
    print(f"estimate_train in-process   {train:9,.0f} calls/s (a given layout)")
    print(f"estimate_serve in-process   {serve:9,.0f} calls/s")


if __name__ == "__main__":
    main()
