"""Layout search speed: layouts evaluated per second by the vectorised search (numpy, one core)
against the same search as a loop over the scalar estimator.

    .venv/bin/python benchmarks/search.py [--seconds 3]

The workload is Llama 3.1 405B on 2,048 p5.48xlarge (16,384 H100): every tp, pp, vpp, cp, mb, ZeRO
stage and recompute choice the chip count allows. "evaluated" means rules, memory and step time
computed for the layout (``search.evaluate``) over a table of every candidate; ``search()`` itself builds
no such table (it runs the rules per degree set and micro-batch, then memory and time on the survivors
broadcast over ZeRO stage x recompute: ``search`` module docstring), so it can beat the first figure.
``benchmarks/plan.py`` compares whole plans with the first figure.
For reference, Calculon's llm-optimal-execution evaluates about 400 executions per second.
"""

from __future__ import annotations

import argparse
import os
import time

# One core: numpy's own threads would flatter the figure.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def rates(seconds: float = 3.0) -> dict[str, float]:
    """Layouts per second of each path (one core), measured for about ``seconds`` each."""
    import numpy as np

    from hwprof.data import registry
    from hwprof.perf import arith, cluster
    from hwprof.perf.train import search, training

    reg = registry.build(registry.Settings(profile_dirs=()))
    system = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 16384, system, reg.interconnects)
    job = training.make_job(training.TrainRequest(reg.workload("llama3.1-405b"), target, 15.6e12, "bf16"),
                            reg.interconnects)  # fmt: skip
    table = search.candidate_table(job)
    rows = [tuple(int(v) for v in col) for col in table.T[:2000]]
    grid = search.Grid(*table)
    n = table.shape[1]

    def rate(fn: object, per_call: int) -> float:
        # CPU seconds of this process: on a shared machine wall time would also count the others' work.
        calls, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            fn()  # type: ignore[operator]
            calls += 1
        return calls * per_call / (time.process_time() - start)

    def vectorised() -> None:
        search.evaluate_arrays(table, job, np)

    def vectorised_all() -> None:  # memory and step time for every candidate, refused or not
        with np.errstate(divide="ignore", invalid="ignore"):
            search.evaluate(grid, job, np)

    layouts = [search.to_layout(r) for r in rows]

    def scalar_loop() -> None:
        for one in layouts:
            if search._safe(one, job):
                search.evaluate(one, job, arith.SCALAR)

    def listed() -> None:  # the flat search as it ran before it was staged: list, table, evaluate, sort
        flat = np.array(list(search.candidates(job)), dtype=np.int64).T
        np.argsort(search.evaluate_arrays(flat, job, np)[0], kind="stable")

    return {
        "candidates": n,
        "vectorised": rate(vectorised, n),
        "vectorised_all": rate(vectorised_all, n),
        "search": rate(lambda: search.search(job), n),
        "listed": rate(listed, n),
        "scalar": rate(scalar_loop, len(layouts)),
        "best": str(search.search(job).layouts[0]),  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    r = rates(parser.parse_args().seconds)
    vec = r["vectorised"]
    print(f"candidates: {r['candidates']:,} layouts of llama3.1-405b on 16,384 x h100-sxm; best {r['best']}")
    print(f"vectorised evaluate (numpy, 1 core)   {vec:14,.0f} layouts/s   (rules on all, time on the valid)")
    print(f"  the same, time on every candidate   {r['vectorised_all']:14,.0f} layouts/s")
    print(f"search() end to end (staged)          {r['search']:14,.0f} layouts/s")
    print(f"  listing candidates one by one       {r['listed']:14,.0f} layouts/s   (the search before it was staged)")
    print(f"scalar loop (same formulas, floats)   {r['scalar']:14,.0f} layouts/s   "
          f"({vec / r['scalar']:,.0f}x slower than vectorised)")  # fmt: skip


if __name__ == "__main__":
    main()
