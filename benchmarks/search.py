"""Layout search speed: layouts evaluated per second by the vectorised search (numpy, one core)
against the same search as a loop over the scalar estimator.

    .venv/bin/python benchmarks/search.py [--seconds 3]

The workload is Llama 3.1 405B on 2,048 p5.48xlarge (16,384 H100): every tp, pp, vpp, cp, mb, ZeRO
stage and recompute choice the chip count allows. "evaluated" means rules, memory and step time
computed for the layout (``search.evaluate``); the full ``search`` adds building the candidates.
For reference, Calculon's llm-optimal-execution evaluates about 400 executions per second.
"""

from __future__ import annotations

import argparse
import os
import time

# One core: numpy's own threads would flatter the figure.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    import numpy as np

    from hwprof.data import registry
    from hwprof.perf import arith, cluster
    from hwprof.perf.train import search, training

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    reg = registry.build(registry.Settings(profile_dirs=()))
    system = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 16384, system, reg.interconnects)
    job = training.make_job(reg.workload("llama3.1-405b"), target, reg.interconnects, "bf16",
                            None, None)  # fmt: skip
    rows = list(search.candidates(job))
    table = np.array(rows, dtype=np.int64).T
    grid = search.Grid(*table)

    def rate(fn: object, per_call: int) -> float:
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()  # type: ignore[operator]
            calls += 1
        return calls * per_call / (time.perf_counter() - start)

    def vectorised() -> None:
        search.evaluate_arrays(table, job, np)

    def vectorised_all() -> None:  # memory and step time for every candidate, refused or not
        with np.errstate(divide="ignore", invalid="ignore"):
            search.evaluate(grid, job, np)

    layouts = [search.to_layout(r) for r in rows[:2000]]

    def scalar_loop() -> None:
        for one in layouts:
            if search._safe(one, job):
                search.evaluate(one, job, arith.SCALAR)

    vec = rate(vectorised, len(rows))
    every = rate(vectorised_all, len(rows))
    loop = rate(scalar_loop, len(layouts))
    whole = rate(lambda: search.search(job), len(rows))
    found = search.search(job)
    print(f"candidates: {len(rows):,} layouts of llama3.1-405b on 16,384 x h100-sxm; best {found.layouts[0]}")
    print(f"vectorised evaluate (numpy, 1 core)   {vec:14,.0f} layouts/s   (rules on all, time on the valid)")
    print(f"  the same, time on every candidate   {every:14,.0f} layouts/s")
    print(f"search() incl. building candidates    {whole:14,.0f} layouts/s")
    print(
        f"scalar loop (same formulas, floats)   {loop:14,.0f} layouts/s   ({vec / loop:,.0f}x slower than vectorised)"
    )


if __name__ == "__main__":
    main()
