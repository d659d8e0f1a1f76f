"""Whole plans: CPU seconds of `hwprof plan train` and `plan serve` over every system, as a user runs
them (a fresh process: start-up, profiles, searches, output), and layouts evaluated per CPU second as
a ratio to the vectorised search's own rate (`benchmarks/search.py`'s first figure) in the same run.

    .venv/bin/python benchmarks/plan.py [--repeat 3] [--json] [--profile 70b]

Each command runs `--repeat` times, round-robin (a busy spell hits them all alike), with numpy on one
thread; the CPU time is the child's user + system time (`os.wait4`), which other work on a shared
machine moves far less than the wall time (also shown). Targets (issue 21): 405B <= 5 s of CPU and at
least 2.5M layouts per CPU second end to end, 70B <= 2 s, `plan serve` <= 1 s. `--profile 70b` (or
405b, serve) prints where one run's time goes (cProfile, in process, the top functions by own time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Bytecode cached as on a user's machine (this sandbox sets PYTHONDONTWRITEBYTECODE: every module would be
# compiled on every run, about 0.3 s), numpy on one thread.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
HWPROF = [sys.executable, "-c", "import sys; from hwprof.cli.console import run; sys.exit(run())"]
COMMANDS = {
    "405b": ["plan", "train", "--model", "llama3.1-405b", "--tokens", "15.6e12", "--deadline-days", "60"],
    "70b": ["plan", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--deadline-days", "30"],
    "serve": ["plan", "serve", "--model", "llama3.1-70b", "--rate", "10", "--ttft-slo", "1", "--tpot-slo", "0.05"],
}
TARGET_CPU_S = {"405b": 5.0, "70b": 2.0, "serve": 1.0}


def run(args: list[str]) -> tuple[float, float, dict]:  # type: ignore[type-arg]
    """(CPU seconds, wall seconds, the command's JSON output) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([*HWPROF, *args, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise SystemExit(f"{' '.join(args)} failed (status {status})")
    return usage.ru_utime + usage.ru_stime, wall, json.loads(out)


def evaluated(name: str, data: dict) -> int:  # type: ignore[type-arg]
    return int(data["evaluated"] if name == "serve" else data["evaluated_layouts"])


def profile(name: str, top: int = 18) -> None:
    import contextlib
    import cProfile
    import io
    import pstats

    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    from hwprof.cli.app import main

    prof = cProfile.Profile()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        prof.runcall(main, [*COMMANDS[name], "--json"])
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumtime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds for each search.py rate")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", choices=sorted(COMMANDS))
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    count: dict[str, int] = {}
    for command in COMMANDS.values():  # warm-up: writes the bytecode and the profile cache
        run(command)
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            c, w, data = run(command)
            cpu[name].append(c)
            wall[name].append(w)
            count[name] = evaluated(name, data)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    import search as search_bench  # benchmarks/search.py

    rates = search_bench.rates(args.seconds)
    reference = rates["vectorised"]
    rows = []
    for name in COMMANDS:
        median = statistics.median(cpu[name])
        per_s = count[name] / median
        rows.append({"plan": name, "command": "hwprof " + " ".join(COMMANDS[name]), "cpu_s_median": median,
                     "cpu_s_min": min(cpu[name]), "wall_s_median": statistics.median(wall[name]),
                     "evaluated": count[name], "per_cpu_s": per_s, "ratio_to_search": per_s / reference,
                     "target_cpu_s": TARGET_CPU_S[name], "meets": median <= TARGET_CPU_S[name]})  # fmt: skip
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"search_rates": rates, "plans": rows, "load": load, "repeat": args.repeat}, indent=2))
        return
    print(f"benchmarks/search.py in this run: {reference:,.0f} layouts per CPU second (vectorised evaluate), "
          f"staged search() {rates['search']:,.0f}; load average {load:.1f}")  # fmt: skip
    print(f"{'plan':6} {'CPU s (median, min)':>20} {'wall s':>7} {'evaluated':>12} {'per CPU s':>12} "
          f"{'x search.py':>11} target")  # fmt: skip
    for r in rows:
        print(f"{r['plan']:6} {r['cpu_s_median']:11.2f} {r['cpu_s_min']:8.2f} {r['wall_s_median']:7.1f} "
              f"{r['evaluated']:12,} {r['per_cpu_s']:12,.0f} {r['ratio_to_search']:11.2f} "
              f"<= {r['target_cpu_s']:g} s {'ok' if r['meets'] else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
