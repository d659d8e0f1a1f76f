"""vLLM: ``vllm serve`` arguments for a serving pick.

Written against vLLM v0.11 (vllm/engine/arg_utils.py, EngineArgs.add_cli_args: the ParallelConfig,
CacheConfig, SchedulerConfig and ModelConfig groups; a disaggregated deployment's pools as in the v0.11
docs' NixlConnector usage guide, --kv-transfer-config with kv_role kv_both on both sides). Data parallel with --enable-expert-parallel
spreads the experts over all tp x dp ranks; attention data parallel (adp) is vLLM's data parallel
attention with expert parallel MoE layers (-dp N -tp 1 --enable-expert-parallel).
"""

from __future__ import annotations

from .base import Arg, Emitted, Emitter, ServePick, arg, bash_array, flat, header

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


NIXL = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'


def write(pick: ServePick) -> Emitted:
    missing: list[str] = []
    pools = pick.split()
    if len(pools) > 1:
        missing.append(f"the router in front of the {pools[0].dp} prefill and {pools[1].dp} decode workers (the "
                       "proxy of vLLM's disaggregated-serving examples) and NIXL's transport settings")  # fmt: skip
    body: list[str] = []
    args: tuple[str, ...] = ()
    for pool in pools:
        # With experts spread over data-parallel ranks vLLM pools all replicas' ranks into one
        # expert-parallel group: separate engines keep the estimate's replicas.
        separate = pool.dp > 1 and (pool.ep > 1 or pool.adp > 0)
        engines, per_engine = (pool.dp, 1) if separate else (1, pool.dp)
        out, more = replica_args(pool, per_engine)
        if pool.role:
            out.append(arg("--kv-transfer-config", NIXL,
                           means=f"{pool.role} pool: KV caches handed over by NixlConnector"))  # fmt: skip
        missing += [m for m in more if m not in missing]
        ranks = pool.replica_ranks * per_engine
        per_node = pool.chips_per_node * pool.ranks_per_chip
        if ranks > per_node:
            missing.append(f"one engine spans {ranks} ranks, more than a node's {per_node}: start it across nodes "
                           "(a Ray cluster, --distributed-executor-backend ray)")  # fmt: skip
        if separate:
            missing.append(f"{pool.dp} separate engines{' of the ' + pool.role + ' pool' if pool.role else ''} "
                           "(experts stay within each replica's ranks): put a load balancer in front")  # fmt: skip
        variable = f"VLLM_{(pool.role or 'engine').upper()}"
        body += bash_array(variable, out)
        body.append(f'# vllm serve "$MODEL" "${{{variable}[@]}}"   # {engines} engine(s) like this, {ranks} ranks each')
        args = args or flat(out)
    lines = ["#!/usr/bin/env bash", *header("vLLM serve arguments for this deployment.", TARGETS, pick, missing), *body]
    return Emitted("vllm", TARGETS, "\n".join(lines) + "\n", args, tuple(missing), ".sh")


EMITTER = Emitter("vllm", "serve", "vllm serve arguments (bash array)", write)
