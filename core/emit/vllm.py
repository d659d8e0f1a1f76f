"""vLLM: ``vllm serve`` arguments for a serving pick.

Written against vLLM v0.11 (vllm/engine/arg_utils.py, EngineArgs.add_cli_args: the ParallelConfig,
CacheConfig, SchedulerConfig and ModelConfig groups). Data parallel with --enable-expert-parallel
spreads the experts over all tp x dp ranks; attention data parallel (adp) is vLLM's data parallel
attention with expert parallel MoE layers (-dp N -tp 1 --enable-expert-parallel).
"""

from __future__ import annotations

from hwprof.emit.base import Arg, Emitted, Emitter, ServePick, arg, bash_array, flat, header

TARGETS = "vLLM v0.11 (vllm/engine/arg_utils.py: EngineArgs.add_cli_args)"
KV = {"bf16": "auto", "fp16": "auto", "fp8": "fp8"}
ONLINE = {"bf16": None, "fp16": None, "fp8": "fp8"}  # weights vLLM quantizes itself at load


def replica_args(pick: ServePick, replicas: int) -> tuple[list[Arg], list[str]]:
    """One engine of ``replicas`` data-parallel copies of the pick's replica."""
    missing: list[str] = []
    if pick.adp:
        # attention data parallel over the tensor ranks, experts over them (vLLM's DP attention + EP)
        out = [
            arg("--tensor-parallel-size", 1, means=f"adp={pick.adp}: attention not split ..."),
            arg("--data-parallel-size", pick.tp * replicas, means=f"... each of the {pick.tp} ranks attends to its own sequences"),
            arg("--enable-expert-parallel", means=f"ep={pick.ep}: experts spread over those ranks"),
        ]  # fmt: skip
        if pick.adp == 2:
            missing.append(
                "adp=2 (prompts balanced over the attention ranks): vLLM's scheduler balances on its own terms"
            )
    else:
        out = [arg("--tensor-parallel-size", pick.tp, means=f"tp={pick.tp}: each layer split over {pick.tp} ranks")]
        if replicas > 1:
            out.append(arg("--data-parallel-size", replicas, means=f"{replicas} replicas behind one endpoint"))
        if pick.ep > 1:
            out.append(arg("--enable-expert-parallel", means=f"ep={pick.ep}: experts over the tensor ranks"))
    if pick.pp > 1:
        out.append(arg("--pipeline-parallel-size", pick.pp, means=f"pp={pick.pp} pipeline stages"))
    out += [
        arg(
            "--max-num-seqs", pick.max_num_seqs, means="sequences in flight per replica (as many as its KV cache holds)"
        ),
        arg("--max-model-len", pick.max_model_len, means="prompt + output tokens of a request"),
        arg("--max-num-batched-tokens", pick.chunk_tokens, means="prompt tokens per iteration (chunked prefill)"),
    ]
    if pick.kv_cache in KV:
        out.append(arg("--kv-cache-dtype", KV[pick.kv_cache], means=f"KV cache in {pick.kv_cache}"))
    else:
        missing.append(f"a {pick.kv_cache} KV cache: vLLM's --kv-cache-dtype has no such choice")
    if pick.weights in ONLINE:
        if ONLINE[pick.weights]:
            out.append(arg("--quantization", ONLINE[pick.weights], means="fp8 weights, quantized by vLLM at load"))
    else:
        missing.append(f"{pick.weights} weights: serve a checkpoint already quantized to {pick.weights} "
                       "(vLLM reads the method from its config)")  # fmt: skip
    return out, missing


def write(pick: ServePick) -> Emitted:
    missing: list[str] = []
    # With experts spread over data-parallel ranks vLLM pools all replicas' ranks into one
    # expert-parallel group: separate engines keep the estimate's replicas.
    separate = pick.dp > 1 and (pick.ep > 1 or pick.adp > 0)
    pools = [("prefill", pick.prefill), ("decode", pick.dp - pick.prefill)] if pick.prefill else [("engine", pick.dp)]
    if pick.prefill:
        missing.append(
            f"the split into {pick.prefill} prefill-only and {pick.dp - pick.prefill} decode replicas: run the two "
            "pools below with a KV connector (--kv-transfer-config) and a router in front; neither is set here"
        )
    body: list[str] = []
    args: tuple[str, ...] = ()
    per_node = pick.chips_per_node * pick.ranks_per_chip
    for name, replicas in pools:
        engines, per_engine = (replicas, 1) if separate else (1, replicas)
        out, more = replica_args(pick, per_engine)
        missing += [m for m in more if m not in missing]
        ranks = pick.replica_ranks * per_engine
        if ranks > per_node:
            missing.append(f"one engine spans {ranks} ranks, more than a node's {per_node}: start it across nodes "
                           "(a Ray cluster, --distributed-executor-backend ray)")  # fmt: skip
        variable = f"VLLM_{name.upper()}"
        body += bash_array(variable, out)
        body.append(f'# vllm serve "$MODEL" "${{{variable}[@]}}"   # {engines} engine(s) like this, {ranks} ranks each')
        args = args or flat(out)
    if separate:
        missing.append(
            f"{pick.dp} separate engines (experts stay within each replica's ranks): put a load balancer in front"
        )
    lines = ["#!/usr/bin/env bash", *header("vLLM serve arguments for this deployment.", TARGETS, pick, missing), *body]
    return Emitted("vllm", TARGETS, "\n".join(lines) + "\n", args, tuple(missing), ".sh")


EMITTER = Emitter("vllm", "serve", "vllm serve arguments (bash array)", write)
