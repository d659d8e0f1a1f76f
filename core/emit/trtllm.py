"""TensorRT-LLM: ``trtllm-serve`` arguments and its extra LLM API options for a serving pick.

Written against TensorRT-LLM 1.2 (docs, commands/trtllm-serve: --tp_size, --pp_size, --ep_size,
--max_batch_size, --max_num_tokens, --max_seq_len, --extra_llm_api_options YAML with
kv_cache_config.dtype and enable_attention_dp).
"""

from __future__ import annotations

from .base import Emitted, Emitter, ServePick, arg, bash_array, flat, header

TARGETS = "TensorRT-LLM 1.2 (trtllm-serve, PyTorch backend)"


def write(whole: ServePick) -> Emitted:
    missing: list[str] = []
    pick = whole.split()[-1]  # one engine's arguments: a disaggregated deployment's decode pool
    if len(whole.split()) > 1:
        pools = " and ".join(f"{p.dp} {p.role} worker(s) of {p.tp * p.pp} ranks" for p in whole.split())
        missing.append(f"the disaggregated pools ({pools}): trtllm-serve's disaggregated mode and its config are "
                       "not written here; the arguments below are the decode pool's")  # fmt: skip
    out = [arg("--tp_size", pick.tp, means=f"tp={pick.tp}")]
    if pick.pp > 1:
        out.append(arg("--pp_size", pick.pp, means=f"pp={pick.pp}"))
    if pick.ep > 1:
        out.append(arg("--ep_size", pick.ep, means=f"ep={pick.ep}: experts over the tensor ranks"))
    out += [
        arg("--max_batch_size", pick.max_num_seqs, means="sequences in flight per replica"),
        arg("--max_num_tokens", pick.chunk_tokens, means="tokens per iteration (chunked prefill budget)"),
        arg("--max_seq_len", pick.max_model_len, means="prompt + output tokens of a request"),
        arg("--extra_llm_api_options", "extra_llm_api_options.yaml", means="the KV cache and attention settings below"),
    ]
    options = [f"enable_attention_dp: {'true' if pick.adp else 'false'}  # adp={pick.adp}"]
    if pick.kv_cache == "fp8":
        options += ["kv_cache_config:", "  dtype: fp8  # KV cache in fp8"]
    if pick.weights not in ("bf16", "fp16"):
        missing.append(f"{pick.weights} weights: serve a checkpoint quantized to {pick.weights} (TensorRT Model "
                       "Optimizer); trtllm-serve reads the method from it")  # fmt: skip
    if pick.dp > 1:
        missing.append(f"{pick.dp} replicas: start {pick.dp} servers like this behind a load balancer")
    lines = ["#!/usr/bin/env bash", *header("trtllm-serve arguments for this deployment.", TARGETS, whole, missing)]
    lines += ["cat > extra_llm_api_options.yaml <<'YAML'", *options, "YAML"]
    lines += bash_array("TRTLLM_ARGS", out)
    lines.append('# trtllm-serve "$MODEL" "${TRTLLM_ARGS[@]}"')
    return Emitted("trtllm", TARGETS, "\n".join(lines) + "\n", flat(out), tuple(missing), ".sh")


EMITTER = Emitter("trtllm", "serve", "trtllm-serve arguments and extra options YAML", write)
