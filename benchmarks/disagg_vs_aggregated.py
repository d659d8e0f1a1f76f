"""Disaggregated against aggregated serving on one 8-GPU system, as aiconfigurator 0.12 frames it:
Llama 3.1 70B, 4,000 prompt and 500 output tokens, TTFT <= 1 s and TPOT <= 50 ms, fp8 weights and KV
cache; the figure of merit is output tokens/s per GPU at the most requests/s served within the
targets (hwprof: at the 90th percentile under Poisson arrivals; aiconfigurator: its own static
model). aiconfigurator's figures are the ones quoted in issue 20.

    .venv/bin/python benchmarks/disagg_vs_aggregated.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

AICONFIGURATOR = {  # system: (best disaggregated tokens/s per GPU, its layout, best aggregated, ratio)
    "p5en.48xlarge": (633.0, "6 prefill x tp1 + 1 decode x tp2", 498.0, 1.27),
    "p5.48xlarge": (None, "", None, 1.04),
}


def main() -> None:
    import attrs

    from hwprof.data import registry
    from hwprof.perf.serve import cases, search
    from hwprof.perf.serve import layout as sl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reg = registry.get(registry.Settings.from_env())
    k = attrs.evolve(sl.SHIPPED, evidence=cases.evidence_of(reg))  # each chip's stack floors, as the CLI's
    work = reg.workload("llama3.1-70b")
    search.KV = ("fp8",)  # aiconfigurator's runs keep the KV cache in fp8: the search is held to it here
    rows = []
    for system_id, (aic_split, aic_layout, aic_agg, aic_ratio) in AICONFIGURATOR.items():
        system = reg.system(system_id)
        start = time.process_time()
        plan = search.plan_serve(
            search.ServeRequest(work, 1.0, 4000, 500, 1.0, 0.05, precisions=("fp8",), max_count=1),
            [(system, reg.chip(system.chip), None)],
            reg.interconnects,
            k,
        )
        seconds = time.process_time() - start
        best = {v.kind: v for v in plan.systems[0].versus}
        agg, split = best.get(search.AGGREGATED), best.get(search.DISAGGREGATED)
        rows.append({
            "system": system_id, "cpu_s": seconds,
            "aggregated": {"layout": agg.layout, "tokens_per_s_per_gpu": agg.tokens_per_s_per_chip} if agg else None,
            "disaggregated": {"layout": split.layout, "tokens_per_s_per_gpu": split.tokens_per_s_per_chip}
            if split else None,
            "ratio": split.tokens_per_s_per_chip / agg.tokens_per_s_per_chip if agg and split else None,
            "aiconfigurator": {"disaggregated": aic_split, "layout": aic_layout, "aggregated": aic_agg,
                               "ratio": aic_ratio},
        })  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        agg, split, aic = row["aggregated"], row["disaggregated"], row["aiconfigurator"]
        print(f"{row['system']} ({row['cpu_s']:.2f} s CPU)")
        print(f"  aggregated:    {agg['tokens_per_s_per_gpu']:6.0f} tokens/s per GPU  {agg['layout']}"
              + (f"   (aiconfigurator {aic['aggregated']:.0f})" if aic["aggregated"] else ""))  # fmt: skip
        print(f"  disaggregated: {split['tokens_per_s_per_gpu']:6.0f} tokens/s per GPU  {split['layout']}"
              + (f"   (aiconfigurator {aic['disaggregated']:.0f}, {aic['layout']})" if aic["disaggregated"] else ""))  # fmt: skip
        print(f"  disaggregated / aggregated: {row['ratio']:.2f}   (aiconfigurator {aic['ratio']:.2f})")


if __name__ == "__main__":
    main()
