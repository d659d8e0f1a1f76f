"""Start-up time of the hwprof CLI against a bare ``import typer``, measured in one run.

    .venv/bin/python benchmarks/startup.py            # 20 fresh processes per command
    .venv/bin/python benchmarks/startup.py -n 50 --json
    .venv/bin/python benchmarks/startup.py --max-ratio 2   # exit 1 if `hwprof chips list` is slower
    .venv/bin/python benchmarks/startup.py --against /tmp/old/.venv/bin/python   # two installs, one run

Typer is the floor every typer CLI pays; what hwprof adds on top is what we can cut. Commands run
round-robin so a slow spell on the machine hits them all alike. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def commands(python: str = sys.executable) -> dict[str, list[str]]:
    script = Path(python).parent / "hwprof"
    hwprof = [str(script)] if script.exists() else [python, "-m", "hwprof.cli.app"]
    return {
        'python -c "import typer"': [python, "-c", "import typer"],
        # The floor of any typer CLI that takes an option value (typer 0.29 validates it with pydantic).
        "typer app, one str option": [python, "-c", TINY_APP, "--name", "x"],
        "hwprof --help": [*hwprof, "--help"],
        # What a shell runs on <TAB> after `hwprof chips show tr` (completion of ids reads the registry).
        "complete chip ids (bash)": [
            "env",
            "_HWPROF_COMPLETE=complete_bash",
            "COMP_WORDS=hwprof chips show tr",
            "COMP_CWORD=3",
            *hwprof,
        ],  # fmt: skip
        "hwprof chips list": [*hwprof, "chips", "list"],  # last: --max-ratio checks this row
    }


TINY_APP = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    pass
app()
"""


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall-clock ms, CPU ms: user + system) of one run of ``argv``.

    CPU time is what the process itself spent, so it moves less than the wall clock when other
    work shares the machine; both are reported.
    """
    # Written .pyc files are part of a real start; a sandbox's PYTHONDONTWRITEBYTECODE=1 would
    # compile every module on every run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(
                f"{' '.join(argv)} failed ({process.returncode}): {errors.read().decode(errors='replace')}"
            )
    return elapsed * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def measure(runs: int, pythons: list[str]) -> list[dict[str, list[tuple[float, float]]]]:
    """(wall, CPU) times per command for each interpreter (a venv with hwprof installed), all round-robin."""
    todo = [commands(python) for python in pythons]
    for argv in (argv for each in todo for argv in each.values()):  # warm the file cache, write .pyc files
        run_once(argv)
    times: list[dict[str, list[tuple[float, float]]]] = [{name: [] for name in each} for each in todo]
    for _ in range(runs):
        for each, out in zip(todo, times, strict=True):
            for name, argv in each.items():
                out[name].append(run_once(argv))
    return times


def summarise(times: dict[str, list[tuple[float, float]]]) -> list[dict[str, object]]:
    baseline = next(iter(times.values()))
    base_median = statistics.median(w for w, _ in baseline)
    base_min = min(w for w, _ in baseline)
    base_cpu = statistics.median(c for _, c in baseline)
    rows = []
    for name, runs in times.items():
        wall, cpu = [w for w, _ in runs], [c for _, c in runs]
        rows.append({
            "command": name,
            "runs": len(runs),
            "median_ms": round(statistics.median(wall), 1),
            "min_ms": round(min(wall), 1),
            "ratio_median": round(statistics.median(wall) / base_median, 2),
            "ratio_min": round(min(wall) / base_min, 2),
            "cpu_median_ms": round(statistics.median(cpu), 1),
            "ratio_cpu": round(statistics.median(cpu) / base_cpu, 2),
        })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="fresh processes per command (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--max-ratio", type=float, help="exit 1 if `hwprof chips list` median exceeds this x typer")
    parser.add_argument("--against", metavar="PYTHON", action="append", default=[],
                        help="also measure the hwprof installed with this interpreter (another checkout's venv), "
                        "in the same round-robin; repeatable")  # fmt: skip
    args = parser.parse_args()

    pythons = [sys.executable, *args.against]
    results = [summarise(times) for times in measure(args.runs, pythons)]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else dict(zip(pythons, results, strict=True)), indent=2))
    else:
        print(f"python {sys.version.split()[0]}, {args.runs} runs each, HWPROF_* set: "
              f"{sorted(k for k in os.environ if k.startswith('HWPROF_')) or 'none'}")  # fmt: skip
        for python, rows in zip(pythons, results, strict=True):
            if len(pythons) > 1:
                print(f"\n{python}")
            print(f"{'command':28} {'median ms':>10} {'min ms':>8} {'x typer (median)':>17} {'x typer (min)':>14} "
                  f"{'CPU ms':>7} {'x typer (CPU)':>14}")  # fmt: skip
            for r in rows:
                print(f"{r['command']:28} {r['median_ms']:>10} {r['min_ms']:>8} "
                      f"{r['ratio_median']:>17} {r['ratio_min']:>14} {r['cpu_median_ms']:>7} {r['ratio_cpu']:>14}")  # fmt: skip
    chips = results[0][-1]
    if args.max_ratio is not None and float(chips["ratio_median"]) > args.max_ratio:  # type: ignore[arg-type]
        print(f"hwprof chips list is {chips['ratio_median']}x a bare typer import (limit {args.max_ratio}x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
