"""--emit on the plan commands: the emitted flags, read back into a layout and fed to the estimate,
give the plan's own figures; --report writes one page, never over a file without --force."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.facts import facts


def flags(args: list[str]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    for i, a in enumerate(args):
        if a.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) else None
            out[a] = nxt if nxt is not None and not nxt.startswith("--") else True
    return out


def unrolled(layout: str) -> list[str]:
    """A pipeline layout's stages, its repeats written out as Megatron Core reads them
    (pipeline_parallel_layer_layout.py: commas are cosmetic, ``(x)*n`` and then ``x*n`` repeat)."""
    text = layout.replace(",", "")
    for pattern in (r"\(([^)]+)\)\*(\d+)", r"(.)\*(\d+)"):
        text = re.sub(pattern, lambda m: m.group(1) * int(m.group(2)), text)
    return text.split("|")


def layout_from_megatron(f: dict[str, str | bool], chips: int) -> str:
    """Megatron-LM's flags as an hwprof layout, read the way Megatron reads them (docs/emit.md)."""
    tp = int(f.get("--tensor-model-parallel-size", 1))
    pp = int(f.get("--pipeline-model-parallel-size", 1))
    cp = int(f.get("--context-parallel-size", 1))
    vpp = int(f.get("--num-virtual-stages-per-pipeline-rank", 1))
    if "--pipeline-model-parallel-layout" in f:
        vpp = len(unrolled(str(f["--pipeline-model-parallel-layout"]))) // pp  # stages / pp
    strategy = f.get("--data-parallel-sharding-strategy")
    zero = {"optim_grads": 2, "optim_grads_params": 3}[str(strategy)] if "--use-megatron-fsdp" in f else \
        1 if "--use-distributed-optimizer" in f else 0  # fmt: skip
    recompute = str(f.get("--recompute-granularity", "none"))
    uneven = int(any(k in f for k in ("--decoder-first-pipeline-num-layers", "--pipeline-model-parallel-layout")))
    sp = int("--sequence-parallel" in f or tp == 1)
    grads = 16 if "--grad-reduce-in-bf16" in f else 32
    return (f"tp={tp},pp={pp},dp={chips // (tp * pp * cp)},cp={cp},ep={f.get('--expert-model-parallel-size', 1)},"
            f"vpp={vpp},mb={f['--micro-batch-size']},zero={zero},recompute={recompute},sp={sp},uneven={uneven},"
            f"grads={grads}")  # fmt: skip


def test_plan_train_emit_megatron_reproduces_the_pick(run_cli: RunCli) -> None:
    plan = run_cli("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge",
                   "--deadline-days", "30", "--emit", "megatron", "--json")  # fmt: skip
    assert plan.code == 0, plan.err
    data = plan.json()
    pick, launch = data["cheapest"], data["launch"]
    assert launch["framework"] == "megatron" and "core_v0.19.0" in launch["targets"]
    f = flags(launch["args"])
    layout = layout_from_megatron(f, pick["chips"])
    batch_tokens = int(f["--global-batch-size"]) * int(f["--seq-length"])
    again = run_cli("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", pick["system"],
                    "--count", str(pick["count"]), "--layout", layout, "--global-batch-tokens", str(batch_tokens),
                    "--json")  # fmt: skip
    assert again.code == 0, again.err
    run = again.json()
    assert run["inputs"]["global_batch_seqs"] == pick["global_batch_seqs"]
    assert run["time_s"]["expected"] == pytest.approx(pick["time_s"]["expected"], rel=1e-9)
    assert run["mfu"]["expected"] == pytest.approx(pick["mfu"], rel=1e-9)


def test_plan_train_emit_prints_the_launch_text_instead_of_the_table(run_cli: RunCli) -> None:
    plan = run_cli("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge",
                   "--emit", "torchtitan")  # fmt: skip
    assert plan.code == 0, plan.err
    assert plan.out.startswith("# torchtitan job config") and "[parallelism]" in plan.out
    assert "time-cost frontier" not in plan.out


def arrays(text: str) -> dict[str, list[str]]:
    """The bash arrays of an emitted file, comments dropped, as bash reads them."""
    found: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        if line.endswith("=("):
            name = line[:-2]
            found[name] = []
        elif line == ")":
            name = ""
        elif name:
            found[name] += shlex.split(line, comments=True)
    return found


def test_plan_serve_emit_vllm_reproduces_the_pick(run_cli: RunCli, reg: Any) -> None:
    args = ("--model", "llama3.1-70b", "--rate", "2", "--ttft-slo", "2", "--tpot-slo", "0.05", "--systems",
            "p5.48xlarge")  # fmt: skip
    plan = run_cli("plan", "serve", *args, "--emit", "vllm", "--json")
    assert plan.code == 0, plan.err
    data = plan.json()
    best = next(s["best"] for s in data["systems"] if s["best"])
    engines = arrays(data["launch"]["text"])
    for f in map(flags, engines.values()):
        assert int(f["--max-model-len"]) == 1000 + 500
        assert int(f["--max-num-batched-tokens"]) == best["chunk_tokens"]
        assert f["--kv-cache-dtype"] == {"bf16": "auto", "fp8": "fp8"}[best["kv_cache"]]
    if best["kind"] == "disaggregated":
        # Two pools, each read back from its own flags, estimated together: the plan's latencies, and the
        # decode pool's --max-num-seqs is what its KV cache holds.
        from hwprof.perf.cluster import cluster_for
        from hwprof.perf.serve import disagg, serving
        from hwprof.perf.serve.layout import ServeLayout

        system = reg.system(best["system"])
        chip = reg.chip(system.chip)
        pools = []
        for name in ("VLLM_PREFILL", "VLLM_DECODE"):
            f = flags(engines[name])
            assert f["--kv-transfer-config"] == '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
            lay = ServeLayout(tp=int(f["--tensor-parallel-size"]), dp=int(f.get("--data-parallel-size", 1)),
                              weights=best["weights"], kv_cache=best["kv_cache"],
                              chunk_tokens=int(f["--max-num-batched-tokens"]))  # fmt: skip
            pools.append(disagg.Pool(cluster_for(chip, lay.chips, system, reg.interconnects), lay))
        assert (pools[0].layout.dp, pools[1].layout.dp) == (best["prefill_replicas"], best["decode_replicas"])
        run = disagg.estimate_disaggregated(reg.workload("llama3.1-70b"), pools[0], pools[1],
                                            serving.Traffic(1000, 500, rate_per_s=2.0), reg.interconnects)  # fmt: skip
        assert run.decode.max_batch_per_worker == int(flags(engines["VLLM_DECODE"])["--max-num-seqs"])
        assert run.ttft_p90_s == pytest.approx(best["ttft_p90_s"], rel=0.02)
        assert run.tpot_p90_s == pytest.approx(best["tpot_p90_s"], rel=0.02)
        return
    f = flags(engines["VLLM_ENGINE"])
    tp = int(f["--tensor-parallel-size"])
    assert f"tp={tp}," in best["layout"]
    # Fed back, with the engine limited to --max-num-seqs, the estimate gives the plan's latencies
    # (the plan's search iterates 16 times, the estimate 30: within 2%).
    again = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", best["system"], "--count",
                    str(best["count"]), "--layout", best["layout"], "--precision", best["weights"], "--kv-precision",
                    best["kv_cache"], "--rate", "2", "--chunk-tokens", str(best["chunk_tokens"]), "--max-batch",
                    str(f["--max-num-seqs"]), "--json")  # fmt: skip
    assert again.code == 0, again.err
    run = again.json()
    assert run["memory"]["max_batch_per_replica"] == int(f["--max-num-seqs"])
    assert run["ttft_p90_s"] == pytest.approx(best["ttft_p90_s"], rel=0.02)
    assert run["tpot_p90_s"] == pytest.approx(best["tpot_p90_s"], rel=0.02)


def test_an_aggregated_pick_reproduces_too(run_cli: RunCli) -> None:
    """One system, a rate one replica serves: the aggregated path of the test above, whatever the plan's
    kinds (--max-count 1 leaves no room for two pools of one tp=8 engine each)."""
    args = ("--model", "llama3.1-70b", "--rate", "0.5", "--ttft-slo", "3", "--tpot-slo", "0.1", "--systems",
            "p5.48xlarge", "--max-count", "1", "--precisions", "bf16")  # fmt: skip
    plan = run_cli("plan", "serve", *args, "--emit", "vllm", "--json")
    assert plan.code == 0, plan.err
    data = plan.json()
    best = next(s["best"] for s in data["systems"] if s["best"])
    engines = arrays(data["launch"]["text"])
    if best["kind"] == "disaggregated":
        assert set(engines) == {"VLLM_PREFILL", "VLLM_DECODE"}
        return
    f = flags(engines["VLLM_ENGINE"])
    again = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", best["system"], "--count",
                    str(best["count"]), "--layout", best["layout"], "--precision", best["weights"], "--kv-precision",
                    best["kv_cache"], "--rate", "0.5", "--chunk-tokens", str(f["--max-num-batched-tokens"]),
                    "--max-batch", str(f["--max-num-seqs"]), "--json")  # fmt: skip
    assert again.code == 0, again.err
    run = again.json()
    assert run["memory"]["max_batch_per_replica"] == int(f["--max-num-seqs"])
    assert run["ttft_p90_s"] == pytest.approx(best["ttft_p90_s"], rel=0.02)
    assert run["tpot_p90_s"] == pytest.approx(best["tpot_p90_s"], rel=0.02)


def test_emit_of_the_wrong_kind_is_one_line(run_cli: RunCli) -> None:
    r = run_cli("plan", "serve", "--model", "llama3.1-8b", "--rate", "1", "--ttft-slo", "2", "--tpot-slo", "0.1",
                "--systems", "p5.48xlarge", "--emit", "megatron")  # fmt: skip
    assert r.code != 0
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    facts(last, "--emit megatron", "no serve launch format", "sglang, trtllm, vllm, vllm-neuron")
    assert "Traceback" not in r.err


def test_estimate_emits_too(run_cli: RunCli) -> None:
    r = run_cli("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "trn2.48xlarge",
                "--count", "4", "--layout", "tp=4,pp=1,zero=1", "--emit", "nxdt")  # fmt: skip
    assert r.code == 0, r.err
    # 4 systems of 16 chips, 4 ranks each: 64 ranks a node, dp = 256 / 4
    assert "  devices: 64  # ranks per node" in r.out and "  num_nodes: 4" in r.out
    assert "  tensor_model_parallel_size: 4  # tp" in r.out


def test_report_is_written_once(run_cli: RunCli, tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    args = ("plan", "serve", "--model", "llama3.1-8b", "--rate", "1", "--ttft-slo", "2", "--tpot-slo", "0.1",
            "--systems", "p5.48xlarge", "--report", str(page))  # fmt: skip
    first = run_cli(*args)
    assert first.code == 0, first.err
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "vllm serve" in html
    page.write_text("keep me", encoding="utf-8")
    second = run_cli(*args)
    assert second.code != 0 and "already exists; pass --force" in second.err
    assert "note:" not in second.err  # refused before planning
    assert page.read_text(encoding="utf-8") == "keep me"
    third = run_cli(*args, "--force")
    assert third.code == 0 and page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    json.loads(run_cli(*args[:-2], "--json").out)  # the plan's JSON is unchanged without --emit


def test_an_interleaved_uneven_layout_round_trips_through_megatron_flags(run_cli: RunCli) -> None:
    # 80 layers over pp=4 x vpp=8: no even split; Megatron gets a pipeline layout string, which read back
    # (32 stages / pp 4 = vpp 8) gives the estimate the same layout and so the same time.
    base = ("estimate", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--system", "p5.48xlarge",
            "--count", "64", "--global-batch-tokens", str(512 * 8192))  # fmt: skip
    given = "tp=8,pp=4,dp=16,cp=1,ep=1,vpp=8,mb=1,zero=1,recompute=selective,sp=1,uneven=1,grads=32"
    first = run_cli(*base, "--layout", given, "--emit", "megatron", "--json")
    assert first.code == 0, first.err
    f = flags(first.json()["launch"]["args"])
    stages = unrolled(str(f["--pipeline-model-parallel-layout"]))
    assert [s.count("t") for s in stages] == [2] * 16 + [3] * 16 and stages[0][0] == "E" and stages[-1][-1] == "L"
    assert layout_from_megatron(f, 512) == given
    again = run_cli(*base, "--layout", layout_from_megatron(f, 512), "--json")
    assert again.json()["time_s"] == first.json()["time_s"]
