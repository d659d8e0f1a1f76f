"""Megatron-Bridge (NeMo's Megatron recipes): ``scripts/training/run_recipe.py`` with KEY=VALUE
overrides of the recipe's ConfigContainer.

Written against Megatron-Bridge v0.6.0: scripts/training/run_recipe.py (recipe selection, trailing
KEY=VALUE overrides); the fields are those of the Megatron Core dataclasses the container holds
(``model``: TransformerConfig / ModelParallelConfig, ``ddp``: DistributedDataParallelConfig,
``optimizer``: OptimizerConfig), ``train`` (TrainingConfig) and ``dataset.seq_length``;
``mixed_precision`` names a recipe registered in src/megatron/bridge/training/mixed_precision.py.
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

TARGETS = "Megatron-Bridge v0.6.0 (scripts/training/run_recipe.py; ConfigContainer fields)"
# Compatibility recipe names (src/megatron/bridge/recipes/llama/llama3.py) for the presets that have one.
RECIPES = {"llama3-8b": "llama3_8b_pretrain_config", "llama3-70b": "llama3_70b_pretrain_config",
           "llama3.1-8b": "llama31_8b_pretrain_config", "llama3.1-70b": "llama31_70b_pretrain_config",
           "llama3.1-405b": "llama31_405b_pretrain_config"}  # fmt: skip


def set_(key: str, value: object, means: str) -> Arg:
    text = "true" if value is True else "false" if value is False else "null" if value is None else str(value)
    return arg(f"{key}={text}", means=means)


def stages_text(counts: list[int]) -> str:
    return f"{len(counts)} virtual stages of {min(counts)} or {max(counts)} layers"


def overrides(pick: TrainPick) -> tuple[list[Arg], list[str]]:
    lay, shape = pick.layout, pick.model
    out = [
        set_("model.tensor_model_parallel_size", lay.tp, f"tp={lay.tp}"),
        set_("model.pipeline_model_parallel_size", lay.pp, f"pp={lay.pp}"),
        set_("model.virtual_pipeline_model_parallel_size", lay.vpp if lay.vpp > 1 else None, f"vpp={lay.vpp}"),
        set_("model.context_parallel_size", lay.cp, f"cp={lay.cp}"),
        set_("model.sequence_parallel", bool(lay.sp and lay.tp > 1), f"sp={lay.sp}"),
    ]
    missing: list[str] = []
    if lay.ep > 1:
        out += [set_("model.expert_model_parallel_size", lay.ep, f"ep={lay.ep}"),
                set_("model.expert_tensor_parallel_size", lay.etp, f"etp={lay.etp}")]  # fmt: skip
    if lay.pp > 1 and shape.layers and shape.layers % (lay.pp * lay.vpp):
        ends = uneven_ends(shape.layers, lay.pp, lay.vpp)
        if ends is None:
            counts = interleaved_counts(shape.layers, lay.pp, lay.vpp)
            out[2] = set_("model.virtual_pipeline_model_parallel_size", None, "set by the layout below")
            out.append(set_("model.pipeline_model_parallel_layout", megatron_layout(counts),
                            f"uneven=1: {stages_text(counts)}"))  # fmt: skip
        else:
            out += [set_("model.num_layers_in_first_pipeline_stage", ends[0], "uneven=1: first stage"),
                    set_("model.num_layers_in_last_pipeline_stage", ends[1], "uneven=1: last stage")]  # fmt: skip
    granularity = {"none": None, "selective": "selective", "full": "full"}[lay.recompute]
    out.append(set_("model.recompute_granularity", granularity, f"recompute={lay.recompute}"))
    if lay.recompute == "full":
        out += [set_("model.recompute_method", "uniform", "every layer ..."),
                set_("model.recompute_num_layers", 1, "... one layer per unit")]  # fmt: skip
    out += [
        set_("train.micro_batch_size", lay.mb, f"mb={lay.mb}"),
        set_("train.global_batch_size", pick.global_batch_seqs, "sequences per step"),
        set_("dataset.seq_length", pick.seq_len, "sequence length (the runner copies it to model.seq_length)"),
    ]
    sharded = lay.zero >= 1
    out += [set_("ddp.use_distributed_optimizer", sharded, f"zero={lay.zero}: distributed optimizer"),
            set_("optimizer.use_distributed_optimizer", sharded, "(both must agree)")]  # fmt: skip
    if lay.zero in (2, 3):
        out += [set_("ddp.use_megatron_fsdp", True, f"zero={lay.zero}: Megatron-FSDP"),
                set_("ddp.data_parallel_sharding_strategy", "optim_grads" if lay.zero == 2 else "optim_grads_params",
                     "what FSDP shards"),
                set_("checkpoint.ckpt_format", "fsdp_dtensor", "the checkpoint format Megatron-FSDP requires")]  # fmt: skip
    precision = {"bf16": "bf16_mixed", "fp8": "bf16_with_fp8_delayed_scaling_mixed"}.get(pick.precision)
    if precision is None:
        missing.append(f"matmuls in {pick.precision}: no mixed-precision recipe maps to it here")
    else:
        out.append(set_("mixed_precision", precision, f"matmuls in {pick.precision}"))
    if lay.grads == 16:
        out.append(set_("ddp.grad_reduce_in_fp32", False, "grads=16: gradients reduced in 16 bits"))
    return out, missing


def write(pick: TrainPick) -> Emitted:
    out, missing = overrides(pick)
    recipe = RECIPES.get(pick.model.id)
    if recipe is None:
        missing.append(f"the recipe: Megatron-Bridge has no recipe named for {pick.model.id}; pass yours with --recipe")
    lines = ["#!/usr/bin/env bash", *header("Megatron-Bridge recipe overrides for this training run.", TARGETS, pick,
                                             missing)]  # fmt: skip
    lines += bash_array("BRIDGE_OVERRIDES", out)
    lines.append(
        f"# torchrun --nnodes {pick.nodes} --nproc-per-node {pick.ranks_per_node} scripts/training/run_recipe.py \\"
    )
    lines.append(f'#   --recipe {recipe or "YOUR_RECIPE"} --mode pretrain "${{BRIDGE_OVERRIDES[@]}}"')
    return Emitted("bridge", TARGETS, "\n".join(lines) + "\n", flat(out), tuple(missing), ".sh")


EMITTER = Emitter("bridge", "train", "Megatron-Bridge (NeMo) recipe overrides, KEY=VALUE", write)
