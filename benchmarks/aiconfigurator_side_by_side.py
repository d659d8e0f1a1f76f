"""hwprof beside NVIDIA's aiconfigurator on a few dense and mixture-of-experts serving questions, same
model, GPUs, layout, batch and lengths: prints both answers and their ratio. A cross-check, never a
fit target nor a test: aiconfigurator is optional and may live in another venv.

    .venv/bin/python benchmarks/aiconfigurator_side_by_side.py                 # aiconfigurator on PATH
    .venv/bin/python benchmarks/aiconfigurator_side_by_side.py --aic /opt/aic/bin/aiconfigurator
    .venv/bin/python benchmarks/aiconfigurator_side_by_side.py --only qwen --json

Each aiconfigurator answer is one ``aiconfigurator cli estimate`` (static: one request alone, TTFT
and TPOT; agg: in-flight batching at a batch, tokens/s per GPU), 15-40 s each on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from typing import Any

import attrs

SYSTEM = "p5en.48xlarge"  # 8 x H200 SXM: aiconfigurator's h200_sxm


@attrs.frozen
class Case:
    name: str
    model: str  # hwprof preset
    hf: str  # aiconfigurator's model path
    mode: str  # "static" (one request alone) or "agg" (in-flight batching)
    layout: str  # hwprof serving layout of one replica
    aic_layout: tuple[str, ...]  # the same in aiconfigurator's flags
    batch: int  # aiconfigurator's batch per attention rank; hwprof's users = batch x attention ranks
    isl: int
    osl: int
    weights: str = "bf16"
    kv: str = "bf16"

    @property
    def users(self) -> int:
        ranks = int(re.search(r"tp=(\d+)", self.layout).group(1)) if "adp=" in self.layout else 1  # type: ignore[union-attr]
        return self.batch * ranks


QUANT = {"bf16": "bfloat16", "fp8": "fp8"}
CASES = (
    Case("llama-8b tp1 b1", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "static", "tp=1", ("--tp", "1"), 1, 1000,
         1000),
    Case("llama-70b tp4 b1", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "static", "tp=4", ("--tp", "4"), 1, 1000,
         1000),
    Case("qwen3-30b-a3b tp1 b1", "qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", "static", "tp=1",
         ("--tp", "1", "--ep", "1", "--etp", "1"), 1, 1000, 1000),
    Case("qwen3-30b-a3b dep2 b160", "qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", "agg", "tp=2,ep=2,adp=1",
         ("--tp", "1", "--dp", "2", "--ep", "2", "--etp", "1"), 160, 4000, 500),
    Case("deepseek-v3 tp8 ep8 b64", "deepseek-v3", "deepseek-ai/DeepSeek-V3", "agg", "tp=8,ep=8",
         ("--tp", "8", "--ep", "8", "--etp", "1"), 64, 4000, 500, "fp8", "fp8"),
    # TensorRT-LLM 1.2's perf overview, DeepSeek-R1 DEP8 at 1024/8192: 64 per rank, the max batch trtllm-bench set
    Case("deepseek-v3 dep8 b64 1024/8192", "deepseek-v3", "deepseek-ai/DeepSeek-V3", "agg", "tp=8,ep=8,adp=2",
         ("--tp", "1", "--dp", "8", "--ep", "8", "--etp", "1"), 64, 1024, 8192, "fp8", "fp8"),
)  # fmt: skip


def aiconfigurator(exe: str, case: Case) -> dict[str, float]:
    """One ``aiconfigurator cli estimate``: TTFT and TPOT in seconds, output tokens/s per GPU."""
    cmd = [exe, "cli", "estimate", "--model", case.hf, "--system", "h200_sxm", "--estimate-mode", case.mode,
           "--batch-size", str(case.batch), "--isl", str(case.isl), "--osl", str(case.osl), *case.aic_layout,
           "--kvcache-quant-mode", QUANT[case.kv], "--log-level", "ERROR"]  # fmt: skip
    if case.weights == "bf16":  # else the checkpoint's own (DeepSeek-V3: fp8 blocks)
        cmd += ["--gemm-quant-mode", "bfloat16"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout

    def number(label: str) -> float:
        found = re.search(rf"^\s*{re.escape(label)}:\s*([\d,.]+)", out, re.MULTILINE)
        if not found:
            raise SystemExit(f"aiconfigurator printed no {label!r} for {case.name}; its output:\n{out[-2000:]}")
        return float(found.group(1).replace(",", ""))

    return {
        "ttft_s": number("TTFT") / 1e3,
        "tpot_s": number("TPOT") / 1e3,
        "tokens_per_s_per_gpu": number("tokens/s/gpu"),
    }


def hwprof(case: Case) -> dict[str, float]:
    from hwprof.data import registry
    from hwprof.perf import cluster
    from hwprof.perf.serve import layout as sl
    from hwprof.perf.serve import serving

    reg = registry.get(registry.Settings.from_env())
    system = reg.system(SYSTEM)
    chips = int(re.search(r"tp=(\d+)", case.layout).group(1))  # type: ignore[union-attr]
    target = cluster.cluster_for(reg.chip(system.chip), chips, system, reg.interconnects)
    lay = sl.parse(case.layout, chips, case.weights, case.kv)
    load = serving.Traffic(case.isl, case.osl, concurrency=case.users)
    est = serving.estimate_serve(reg.workload(case.model), target, lay, load)
    return {"ttft_s": est.ttft_s.expected, "tpot_s": est.tpot_s.expected,
            "tokens_per_s_per_gpu": est.tokens_per_s_per_chip}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aic", default=shutil.which("aiconfigurator"), help="the aiconfigurator executable")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.aic:
        sys.exit("aiconfigurator is not installed (pip install aiconfigurator, in this venv or another: --aic PATH)")
    rows: list[dict[str, Any]] = []
    for case in (c for c in CASES if args.only in c.name):
        ours, theirs = hwprof(case), aiconfigurator(args.aic, case)
        metrics = ("ttft_s", "tpot_s") if case.mode == "static" else ("tokens_per_s_per_gpu", "tpot_s")
        for metric in metrics:
            rows.append({"case": case.name, "metric": metric, "hwprof": ours[metric], "aiconfigurator": theirs[metric],
                         "ratio": ours[metric] / theirs[metric]})  # fmt: skip
            if not args.json:
                r = rows[-1]
                print(f"{case.name:26s} {metric:22s} hwprof {r['hwprof']:10.4g}  aiconfigurator "
                      f"{r['aiconfigurator']:10.4g}  ratio {r['ratio']:5.2f}", flush=True)  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
