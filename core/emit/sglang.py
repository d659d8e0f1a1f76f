"""SGLang: ``python -m sglang.launch_server`` arguments for a serving pick.

Written against SGLang v0.5 (python/sglang/srt/server_args.py, ServerArgs: each field ``foo_bar`` is
``--foo-bar``). In SGLang --tp-size counts every rank of one server; --dp-size with
--enable-dp-attention splits attention over them (and must divide tp).
"""

from __future__ import annotations

from .base import Arg, Emitted, Emitter, ServePick, arg, bash_array, flat, header

TARGETS = "SGLang v0.5 (python/sglang/srt/server_args.py: ServerArgs)"
KV = {"bf16": "auto", "fp16": "auto", "fp8": "fp8_e4m3"}


def pool_args(pick: ServePick) -> tuple[list[Arg], list[str]]:
    missing: list[str] = []
    out = [arg("--tp-size", pick.tp, means=f"tp={pick.tp}: ranks of one server")]
    if pick.pp > 1:
        out.append(arg("--pp-size", pick.pp, means=f"pp={pick.pp} pipeline stages"))
    if pick.adp:
        out += [arg("--enable-dp-attention", means=f"adp={pick.adp}: attention data parallel over the tensor ranks"),
                arg("--dp-size", pick.tp, means="... one attention group per rank")]  # fmt: skip
    if pick.ep > 1:
        out.append(arg("--ep-size", pick.ep, means=f"ep={pick.ep}: experts over the tensor ranks"))
    out += [
        arg("--max-running-requests", pick.max_num_seqs, means="sequences in flight per replica"),
        arg("--context-length", pick.max_model_len, means="prompt + output tokens of a request"),
        arg("--chunked-prefill-size", pick.chunk_tokens, means="prompt tokens per iteration (chunked prefill)"),
    ]
    if pick.kv_cache in KV:
        out.append(arg("--kv-cache-dtype", KV[pick.kv_cache], means=f"KV cache in {pick.kv_cache}"))
    if pick.weights == "fp8":
        out.append(arg("--quantization", "fp8", means="fp8 weights, quantized at load"))
    elif pick.weights not in ("bf16", "fp16"):
        missing.append(f"{pick.weights} weights: serve a checkpoint already quantized to {pick.weights}")
    if pick.role:
        out.append(arg("--disaggregation-mode", pick.role, means=f"the {pick.role} pool of a disaggregated deployment"))
    if pick.dp > 1:
        where = f" of the {pick.role} pool" if pick.role else ""
        missing.append(f"{pick.dp} replicas{where}: start {pick.dp} servers like this behind a router (sglang_router)")
    return out, missing


def write(pick: ServePick) -> Emitted:
    missing: list[str] = []
    body: list[str] = []
    args: tuple[str, ...] = ()
    pools = pick.split()
    if len(pools) > 1:
        missing.append("the router in front of the prefill and decode servers (sglang_router, its PD mode) and the "
                       "KV transfer backend (--disaggregation-transfer-backend)")  # fmt: skip
    for pool in pools:
        out, more = pool_args(pool)
        missing += [m for m in more if m not in missing]
        variable = f"SGLANG_{pool.role.upper() or 'ARGS'}"
        body += bash_array(variable, out)
        body.append(f'# python -m sglang.launch_server --model-path "$MODEL" "${{{variable}[@]}}"')
        args = args or flat(out)
    lines = ["#!/usr/bin/env bash", *header("SGLang server arguments for this deployment.", TARGETS, pick, missing)]
    return Emitted("sglang", TARGETS, "\n".join([*lines, *body]) + "\n", args, tuple(missing), ".sh")


EMITTER = Emitter("sglang", "serve", "SGLang launch_server arguments (bash array)", write)
