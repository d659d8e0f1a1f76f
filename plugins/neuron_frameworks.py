"""Built-in plugin. Launch configs for the Neuron SDK's frameworks (``--emit nxdt``, ``--emit vllm-neuron``):
NxD Training's YAML config and vLLM on NxD Inference. They live here, not in hwprof.emit, because
their keys name the SDK.

Sources: NxD Training 1.6.0 (docs/general/config_overview.rst; examples/conf/hf_llama3_70B_trn2_config.yaml
for trainer.devices per node at LNC=2); vLLM Neuron, Neuron SDK 2.34 (vllm-neuron docs
design/vllm/additional-config: --additional-config '{"neuron_config": {...}}' with num_seqs_buckets and
num_batched_tokens_buckets).
"""

from __future__ import annotations

import attrs

from hwprof import hookimpl
from hwprof.emit import Emitted, Emitter, ServePick, TrainPick, arg, bash_array, flat, header, uneven_ends

NXDT = "NxD Training 1.6.0 (docs/general/config_overview.rst)"
VLLM_NEURON = "vLLM on NxD Inference, Neuron SDK 2.34 (vllm-neuron additional_config.neuron_config)"


def nxdt(pick: TrainPick) -> Emitted:
    import json

    lay, shape = pick.layout, pick.model
    missing: list[str] = []
    strategy = [f"  tensor_model_parallel_size: {lay.tp}  # tp", f"  pipeline_model_parallel_size: {lay.pp}  # pp",
                f"  virtual_pipeline_model_parallel_size: {lay.vpp}  # vpp",
                f"  context_parallel_size: {lay.cp}  # cp (needs model.fusions.ring_attention when > 1)",
                f"  zero1: {'True' if lay.zero >= 1 else 'False'}  # zero={lay.zero}",
                f"  sequence_parallel: {'True' if lay.sp else 'False'}  # sp={lay.sp}"]  # fmt: skip
    if lay.ep > 1:
        strategy.append(f"  expert_model_parallel_size: {lay.ep}  # ep")
    if lay.zero > 1:
        missing.append(f"zero={lay.zero}: NxD Training shards only the optimizer state (zero1)")
    model = [
        f"  encoder_seq_length: {pick.seq_len}",
        f"  max_position_embeddings: {max(shape.max_context or 0, pick.seq_len)}",
    ]
    if shape.layers:
        model.append(f"  num_layers: {shape.layers}")
    if lay.pp > 1 and shape.layers and shape.layers % (lay.pp * lay.vpp):
        ends = uneven_ends(shape.layers, lay.pp, 1) if lay.vpp == 1 else None
        if ends is None:
            missing.append(f"the uneven split of {shape.layers} layers over pp={lay.pp} x vpp={lay.vpp}")
        else:
            middle = -(-shape.layers // lay.pp)
            counts = [ends[0]] + [middle] * (lay.pp - 2) + [ends[1]]
            cuts, at = [], 0
            for n in counts[:-1]:
                at += n
                cuts.append(f"model.layers.{at - 1}")  # a cut names the last layer of its stage
            model.append(f"  pipeline_cuts: {json.dumps(cuts)}  # uneven=1: {'/'.join(map(str, counts))} layers")
    granularity = {"none": "null", "selective": "selective", "full": "full"}[lay.recompute]
    model.append(f"  activations_checkpoint_granularity: {granularity}  # recompute={lay.recompute}")
    if lay.cp > 1:
        model += ["  fusions:", "    ring_attention: True  # cp > 1 needs it"]
    if pick.precision != "bf16":
        missing.append(f"matmuls in {pick.precision}: this config trains in bf16 (precision.type mixed_precision)")
    missing.append(f"trainer.lnc and the compiler flags: keep the chip's defaults (the estimate ran "
                   f"{pick.ranks_per_chip} rank(s) per chip)")  # fmt: skip
    lines = header("NxD Training config for this training run (merge into the model's example YAML).", NXDT, pick,
                   missing)  # fmt: skip
    lines += ["trainer:", f"  devices: {pick.ranks_per_node}  # ranks per node", f"  num_nodes: {pick.nodes}",
              "distributed_strategy:", *strategy, "data:", f"  micro_batch_size: {lay.mb}  # mb",
              f"  global_batch_size: {pick.global_batch_seqs}", "model:", *model, "precision:",
              "  type: 'mixed_precision'"]  # fmt: skip
    return Emitted("nxdt", NXDT, "\n".join(lines) + "\n", (), tuple(missing), ".yaml")


def _powers(top: int, start: int = 1) -> list[int]:
    out, n = [], start
    while n < top:
        out.append(n)
        n *= 2
    return [*out, top]


def vllm_neuron(pick: ServePick) -> Emitted:
    import json

    missing: list[str] = []
    if len(pick.split()) > 1:
        missing.append("the prefill/decode pools: not written here; the arguments below are the decode pool's")
        pick = attrs.evolve(pick.split()[-1], summary=pick.summary)
    config = {"neuron_config": {"num_seqs_buckets": _powers(pick.max_num_seqs),
                                "num_batched_tokens_buckets": _powers(pick.chunk_tokens, min(128, pick.chunk_tokens))}}  # fmt: skip
    out = [
        arg("--tensor-parallel-size", pick.tp, means=f"tp={pick.tp} ranks (logical cores)"),
        arg("--max-num-seqs", pick.max_num_seqs, means="sequences in flight per replica"),
        arg("--max-model-len", pick.max_model_len, means="prompt + output tokens"),
        arg("--max-num-batched-tokens", pick.chunk_tokens, means="prompt tokens per iteration"),
        arg("--additional-config", json.dumps(config, separators=(",", ":")),
            means="compiled buckets: batch sizes and prefill token counts up to the limits above"),
    ]  # fmt: skip
    if pick.pp > 1 or pick.ep > 1 or pick.adp:
        missing.append(f"pp={pick.pp}, ep={pick.ep}, adp={pick.adp}: only tensor parallel is written here")
    if pick.weights != "bf16" or pick.kv_cache != "bf16":
        missing.append(f"{pick.weights} weights / {pick.kv_cache} KV cache: set the quantization keys of "
                       "neuron_config by hand")  # fmt: skip
    if pick.dp > 1:
        missing.append(f"{pick.dp} replicas: start {pick.dp} servers like this behind a load balancer")
    lines = ["#!/usr/bin/env bash", *header("vLLM (NxD Inference backend) arguments for this deployment.",
                                             VLLM_NEURON, pick, missing)]  # fmt: skip
    lines += bash_array("VLLM_ARGS", out)
    lines.append('# vllm serve "$MODEL" "${VLLM_ARGS[@]}"')
    return Emitted("vllm-neuron", VLLM_NEURON, "\n".join(lines) + "\n", flat(out), tuple(missing), ".sh")


class _Frameworks:
    @hookimpl
    def hwprof_register_emitters(self) -> list[Emitter]:
        return [Emitter("nxdt", "train", "NxD Training YAML (distributed_strategy, data, model)", nxdt),
                Emitter("vllm-neuron", "serve", "vLLM on NxD Inference (--additional-config buckets)", vllm_neuron)]  # fmt: skip


plugin = _Frameworks()
