"""Megatron-LM: ``pretrain_gpt.py`` flags for a training pick.

Written against Megatron-LM core_v0.19.0 (the megatron-core 0.19 package also ships
megatron.training): megatron/training/arguments.py adds the hand-written flags and builds the rest
from dataclasses (megatron/training/argument_utils.py: field ``foo_bar`` becomes ``--foo-bar``):
ModelParallelConfig (megatron/core/model_parallel_config.py), TransformerConfig
(megatron/core/transformer/transformer_config.py), TrainingConfig and DistributedInitConfig
(megatron/training/config/). docs/emit.md lists each flag with its source line.
"""

from __future__ import annotations

from .base import (
    Arg,
    Emitted,
    Emitter,
    TrainPick,
    arg,
    bash_array,
    flat,
    header,
    interleaved_counts,
    megatron_layout,
    uneven_ends,
)

TARGETS = "Megatron-LM core_v0.19.0 (megatron/training/arguments.py and the config dataclasses it builds flags from)"
FP8 = ("fp8",)


def parallel_args(pick: TrainPick) -> tuple[list[Arg], list[str]]:
    """The split, batch, recompute, optimizer sharding and precision flags; what has no flag."""
    lay, shape = pick.layout, pick.model
    out: list[Arg] = [
        arg("--tensor-model-parallel-size", lay.tp, means=f"tp={lay.tp}: each layer's matmuls over {lay.tp} ranks"),
        arg("--pipeline-model-parallel-size", lay.pp, means=f"pp={lay.pp}: layers over {lay.pp} pipeline ranks"),
    ]
    missing: list[str] = []
    stages = lay.pp * lay.vpp
    uneven = lay.pp > 1 and bool(shape.layers) and shape.layers % stages != 0
    ends = uneven_ends(shape.layers, lay.pp, lay.vpp) if uneven else None
    if uneven and ends is None:
        # Per virtual stage: the first/last-stage flags cannot split chunks unevenly, the layout can.
        counts = interleaved_counts(shape.layers, lay.pp, lay.vpp)
        out.append(arg("--pipeline-model-parallel-layout", megatron_layout(counts),
                       means=f"uneven=1: {shape.layers} layers over {stages} virtual stages of {min(counts)} or "
                             f"{max(counts)}, at most {-(-shape.layers // lay.pp)} per rank (sets vpp={lay.vpp} too)"))  # fmt: skip
    elif lay.vpp > 1:
        out.append(arg("--num-virtual-stages-per-pipeline-rank", lay.vpp,
                       means=f"vpp={lay.vpp}: interleaved 1F1B, {lay.vpp} model chunks per pipeline rank"))  # fmt: skip
    if ends is not None:
        first, last = ends
        middle = -(-shape.layers // lay.pp)
        out += [
            arg("--decoder-first-pipeline-num-layers", first,
                means=f"uneven=1: {first} layers on the first stage, {middle} on each middle one"),
            arg("--decoder-last-pipeline-num-layers", last, means=f"uneven=1: {last} layers on the last stage"),
        ]  # fmt: skip
    if lay.cp > 1:
        out.append(
            arg("--context-parallel-size", lay.cp, means=f"cp={lay.cp}: each sequence split over {lay.cp} ranks")
        )
    if lay.ep > 1:
        out.append(
            arg("--expert-model-parallel-size", lay.ep, means=f"ep={lay.ep}: routed experts over {lay.ep} ranks")
        )
        out.append(arg("--expert-tensor-parallel-size", lay.etp,
                       means=f"etp={lay.etp}: each expert {'whole on a rank' if lay.etp == 1 else f'split over {lay.etp}'}"))  # fmt: skip
    if lay.sp and lay.tp > 1:
        out.append(arg("--sequence-parallel", means="sp=1: norms and dropout split over the tensor ranks"))
    out += [
        arg("--micro-batch-size", lay.mb, means=f"mb={lay.mb} sequences per micro-batch"),
        arg("--global-batch-size", pick.global_batch_seqs,
            means=f"{pick.global_batch_seqs:,} sequences ({pick.global_batch_seqs * pick.seq_len:,} tokens) per step"),
        arg("--seq-length", pick.seq_len, means="training sequence length"),
    ]  # fmt: skip
    if lay.recompute == "selective":
        out.append(arg("--recompute-granularity", "selective",
                       means="recompute=selective: recompute core attention (recompute_modules default core_attn)"))  # fmt: skip
    elif lay.recompute == "full":
        out += [
            arg(
                "--recompute-granularity", "full", means="recompute=full: keep each layer's input, recompute the layer"
            ),
            arg("--recompute-method", "uniform", means="every layer ..."),
            arg("--recompute-num-layers", 1, means="... one layer per recompute unit"),
        ]
    if lay.zero == 1:
        out.append(arg("--use-distributed-optimizer", means="zero=1: optimizer state sharded over data-parallel ranks"))
    elif lay.zero in (2, 3):
        strategy = "optim_grads" if lay.zero == 2 else "optim_grads_params"
        out += [
            arg("--use-megatron-fsdp", means=f"zero={lay.zero}: Megatron-FSDP over the data-parallel ranks"),
            arg("--data-parallel-sharding-strategy", strategy,
                means="shard optimizer state and gradients" + (" and weights" if lay.zero == 3 else "")),
            arg("--ckpt-format", "fsdp_dtensor", means="the checkpoint format Megatron-FSDP requires (validate_args)"),
        ]  # fmt: skip
    out.append(arg("--bf16", means="16-bit (bf16) weights and activations"))
    if pick.precision in FP8:
        out += [
            arg("--fp8-format", "hybrid", means="fp8 matmuls: e4m3 forward, e5m2 gradients (Transformer Engine)"),
            arg("--fp8-recipe", "delayed", means="delayed scaling, the default recipe (the estimate models no recipe)"),
        ]
    elif pick.precision not in ("bf16", "fp16"):
        missing.append(f"matmuls in {pick.precision}: no Megatron-LM precision flag maps to it here")
    if lay.grads == 16:
        out.append(arg("--grad-reduce-in-bf16", means="grads=16: gradients reduced in bf16"))
    return out, missing


def shape_args(pick: TrainPick) -> list[Arg]:
    """The model's shape as far as it sets the split (the rest comes from the model's recipe)."""
    s = pick.model
    out: list[Arg] = []
    if s.layers:
        out.append(arg("--num-layers", s.layers, means="transformer layers"))
    if s.hidden:
        out.append(arg("--hidden-size", s.hidden, means="model width"))
    if s.ffn_hidden:
        out.append(arg("--ffn-hidden-size", s.ffn_hidden, means="MLP inner width"))
    if s.heads:
        out.append(arg("--num-attention-heads", s.heads, means="attention heads"))
    if s.kv_heads and s.heads and s.kv_heads < s.heads:
        out.append(arg("--group-query-attention", means="grouped-query attention ..."))
        out.append(arg("--num-query-groups", s.kv_heads, means="... with this many key/value heads"))
    out.append(arg("--max-position-embeddings", max(s.max_context or 0, pick.seq_len), means="longest position"))
    if s.experts:
        out.append(arg("--num-experts", s.experts, means="routed experts"))
        if s.experts_per_token:
            out.append(arg("--moe-router-topk", s.experts_per_token, means="experts per token"))
    return out


def write(pick: TrainPick) -> Emitted:
    split, missing = parallel_args(pick)
    shape = shape_args(pick)
    missing = [*missing, "the architecture's other flags (normalisation, activation, position embedding, "
                         "tokenizer, data, optimizer, learning rate): take them from the model's own recipe"]  # fmt: skip
    if pick.ranks_per_chip > 1:
        missing.append(f"{pick.ranks_per_chip} ranks per chip: the degrees count ranks, not chips")
    nodes, per_node, lay = pick.nodes, pick.ranks_per_node, pick.layout
    lines = ["#!/usr/bin/env bash", *header("Megatron-LM flags for this training run.", TARGETS, pick, missing)]
    lines += bash_array("MEGATRON_SHAPE", shape) + bash_array("MEGATRON_SPLIT", split)
    # validate_args: tensor or context parallel needs CUDA_DEVICE_MAX_CONNECTIONS=1; Megatron-FSDP needs it unset
    env = "CUDA_DEVICE_MAX_CONNECTIONS=1 " if (lay.tp > 1 or lay.cp > 1) and lay.zero < 2 else ""
    lines.append(f"# {env}torchrun --nnodes {nodes} --nproc-per-node {per_node} pretrain_gpt.py \\")
    lines.append('#   "${MEGATRON_SHAPE[@]}" "${MEGATRON_SPLIT[@]}" <data, tokenizer and optimizer flags>')
    return Emitted("megatron", TARGETS, "\n".join(lines) + "\n", flat(shape) + flat(split), tuple(missing), ".sh")


EMITTER = Emitter("megatron", "train", "Megatron-LM pretrain_gpt.py flags (bash array)", write)
