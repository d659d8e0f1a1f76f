"""Speed of the `plan serve` search: deployments evaluated per second, vectorised (numpy, one core)
against the same deployments estimated one at a time with the scalar estimator.

    .venv/bin/python benchmarks/serve_search.py            # Llama 3.1 70B at 10 requests/s, 2000/500
    .venv/bin/python benchmarks/serve_search.py --max-count 1024 --json

The vectorised figure counts every candidate the grid holds (system x count x tp x pp x weights x
KV cache x chunk budget), valid or not, as `plan serve` does; the scalar figure
estimates a sample of the valid ones through `serving.estimate_serve` (a rate, so the same open-loop
formulas).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    import numpy as np

    from hwprof.data import registry
    from hwprof.errors import HwprofError
    from hwprof.perf import cluster
    from hwprof.perf.serve import layout as serve_layout
    from hwprof.perf.serve import search as serve_search
    from hwprof.perf.serve import serving

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama3.1-70b")
    parser.add_argument("--max-count", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scalar", type=int, default=300, help="deployments estimated one at a time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    reg = registry.get(registry.Settings.from_env())
    work = reg.workload(args.model)
    systems = [reg.system(s) for s in ("trn2.48xlarge", "p5.48xlarge", "p5en.48xlarge")]
    best = float("inf")
    total = 0
    request = serve_search.ServeRequest(work, rate=10.0, input_tokens=2000, output_tokens=500, ttft_target_s=1.0,
                                        tpot_target_s=0.05, max_count=args.max_count)  # fmt: skip
    candidates = [serve_search.candidate(request, s, reg.chip(s.chip), None, reg.interconnects) for s in systems]
    for _ in range(args.repeat):
        start = time.perf_counter()
        total = 0
        for c in candidates:
            grid = serve_search._grid(np, np.arange(1, args.max_count + 1), c.system.chips, c.weights)
            ev = serve_search.evaluate(request, c, grid)
            total += grid["tp"].size
            assert ev["ttft_p90"].shape == grid["tp"].shape
        best = min(best, time.perf_counter() - start)
    vector_rate = total / best

    rng = np.random.default_rng(0)
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    done = 0
    start = time.perf_counter()
    while done < args.scalar:
        count = int(rng.integers(1, 9))
        tp = int(rng.choice([1, 2, 4, 8]))
        target = cluster.cluster_for(chip, count * system.chips, system, reg.interconnects)
        lay = serve_layout.ServeLayout(tp=tp, dp=count * system.chips // tp, weights="fp8", kv_cache="fp8")
        with contextlib.suppress(HwprofError):  # an invalid pick still costs its checks, as in the search
            serving.estimate_serve(work, target, lay, serving.Traffic(2000, 500, rate_per_s=10.0))
        done += 1
    scalar_rate = done / (time.perf_counter() - start)
    result = {"deployments": total, "vectorised_seconds": best, "vectorised_per_s": vector_rate,
              "scalar_per_s": scalar_rate, "speed_up": vector_rate / scalar_rate}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"vectorised: {total:,} deployments in {best:.3f} s = {vector_rate:,.0f} per second (best of {args.repeat})")
    print(f"scalar:     {scalar_rate:,.0f} per second ({done} estimate_serve calls)")
    print(f"speed-up:   {vector_rate / scalar_rate:,.0f}x")


if __name__ == "__main__":
    main()
