"""SGLang: ``python -m sglang.launch_server`` arguments for a serving pick.

Written against SGLang v0.5 (python/sglang/srt/server_args.py, ServerArgs: each field ``foo_bar`` is
``--foo-bar``). In SGLang --tp-size counts every rank of one server; --dp-size with
--enable-dp-attention splits attention over them (and must divide tp).
"""

from __future__ import annotations

from hwprof.emit.base import Emitted, Emitter, ServePick, arg, bash_array, flat, header

TARGETS = "SGLang v0.5 (python/sglang/srt/server_args.py: ServerArgs)"
KV = {"bf16": "auto", "fp16": "auto", "fp8": "fp8_e4m3"}


def write(pick: ServePick) -> Emitted:
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
    if pick.prefill:
        missing.append(f"the split into {pick.prefill} prefill-only and {pick.dp - pick.prefill} decode replicas: "
                       "start those servers with --disaggregation-mode prefill / decode and a router")  # fmt: skip
    if pick.dp > 1:
        missing.append(f"{pick.dp} replicas: start {pick.dp} servers like this behind a router (sglang_router)")
    lines = ["#!/usr/bin/env bash", *header("SGLang server arguments for this deployment.", TARGETS, pick, missing)]
    lines += bash_array("SGLANG_ARGS", out)
    lines.append('# python -m sglang.launch_server --model-path "$MODEL" "${SGLANG_ARGS[@]}"')
    return Emitted("sglang", TARGETS, "\n".join(lines) + "\n", flat(out), tuple(missing), ".sh")


EMITTER = Emitter("sglang", "serve", "SGLang launch_server arguments (bash array)", write)
