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
    from hwprof.data import registry
    from hwprof.perf import cluster
    from hwprof.perf.serve import serving
    from hwprof.perf.train import training

    reg = registry.build(registry.Settings(profile_dirs=()))
    system = reg.system("trn2.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 1024, system, reg.interconnects)
    work = reg.workload("llama3.1-70b")
    rates = []
    layout = "tp=4,pp=4,dp=64,vpp=5"  # a given layout: the single estimate, not the search
    for fn in (lambda: training.estimate_train(training.TrainRequest(work, target, 15e12, "bf16"), reg.interconnects, layout),
               lambda: serving.estimate_serve(work, target, "bf16", "bf16", 8, 2000, 500)):  # fmt: skip
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
