"""torchtitan: a job TOML (``--job.config_file``) for a training pick.

Written against torchtitan v0.2.2: torchtitan/config/job_config.py (the [training], [parallelism],
[activation_checkpoint], [model] and [quantize] sections), torchtitan/train.py (gradient accumulation =
global_batch_size / (local_batch_size x data-parallel degree)), torchtitan/distributed/pipeline_parallel.py
(microbatches = local_batch_size / pipeline_parallel_microbatch_size; layers per stage) and
docs/float8.md (the converter name "quantize.linear.float8"). Later releases configure runs in Python
(torchtitan_recipes) but keep these fields.
"""

from __future__ import annotations

from typing import Any

from .base import Emitted, Emitter, TrainPick, header, stage_counts

TARGETS = "torchtitan v0.2.2 (torchtitan/config/job_config.py)"


def sections(pick: TrainPick) -> tuple[dict[str, dict[str, Any]], dict[str, str], list[str]]:
    """(TOML sections, a comment per key, what cannot be expressed)."""
    lay, shape = pick.layout, pick.model
    missing: list[str] = []
    notes: dict[str, str] = {}
    per_dp = pick.global_batch_seqs // lay.dp
    par: dict[str, Any] = {}
    if lay.zero == 3:
        par["data_parallel_replicate_degree"], par["data_parallel_shard_degree"] = 1, lay.dp
        notes["data_parallel_shard_degree"] = f"zero=3: FSDP over the {lay.dp} data-parallel ranks"
    elif lay.zero == 0 and lay.dp > 1:
        par["data_parallel_replicate_degree"], par["data_parallel_shard_degree"] = lay.dp, 1
        notes["data_parallel_replicate_degree"] = f"zero=0: {lay.dp} plain replicas (DDP)"
        if lay.tp * lay.pp * lay.cp > 1:
            missing.append("zero=0 with tp, pp or cp: torchtitan's DDP takes no other parallelism (parallelize.py); "
                           "use FSDP (zero=3) or HSDP instead")  # fmt: skip
    else:
        par["data_parallel_replicate_degree"], par["data_parallel_shard_degree"] = 1, lay.dp
        par["fsdp_reshard_after_forward"] = "never"
        notes["fsdp_reshard_after_forward"] = (f"zero={lay.zero}: weights kept whole between forward and backward, "
                                               "gradients and optimizer state sharded (ZeRO-2)")  # fmt: skip
        if lay.zero == 1:
            missing.append("zero=1 (optimizer state only): torchtitan shards gradients too (FSDP without resharding, "
                           "ZeRO-2); memory is lower than estimated, traffic the same")  # fmt: skip
    par["tensor_parallel_degree"] = lay.tp
    if lay.tp > 1 and not lay.sp:
        missing.append("sp=0: torchtitan's tensor parallel always splits the norms over the sequence")
    par["pipeline_parallel_degree"] = lay.pp
    training: dict[str, Any] = {"seq_len": pick.seq_len, "global_batch_size": pick.global_batch_seqs}
    if lay.pp > 1:
        training["local_batch_size"] = per_dp
        notes["local_batch_size"] = (
            f"the {per_dp} sequences of one data-parallel rank per step, split into micro-batches"
        )
        par["pipeline_parallel_microbatch_size"] = lay.mb
        par["pipeline_parallel_schedule"] = "Interleaved1F1B" if lay.vpp > 1 else "1F1B"
        stages = lay.pp * lay.vpp
        if shape.layers and (lay.vpp > 1 or shape.layers % stages):
            # torchtitan counts the embedding and the output as one layer each when it splits by a
            # layers-per-stage count (pipeline_parallel.py); where none gives exactly the stages, name
            # each stage's modules (Llama-style names: tok_embeddings, layers.N, norm, output).
            per_stage = -(-(shape.layers + 2) // stages)
            if -(-(shape.layers + 2) // per_stage) == stages:
                par["pipeline_parallel_layers_per_stage"] = per_stage
                notes["pipeline_parallel_layers_per_stage"] = (f"{stages} stages of at most {per_stage} "
                                                               "(embedding and output counted as a layer each)")  # fmt: skip
            else:
                counts = stage_counts(shape.layers, stages)
                parts, at = [], 0
                for n in counts:
                    parts.append([f"layers.{i}" for i in range(at, at + n)])
                    at += n
                parts[0].insert(0, "tok_embeddings")
                parts[-1] += ["norm", "output"]
                par["module_fqns_per_model_part"] = parts
                notes["module_fqns_per_model_part"] = (f"{stages} stages of {min(counts)} to {max(counts)} layers "
                                                       "(module names as torchtitan's Llama models)")  # fmt: skip
    else:
        training["local_batch_size"] = lay.mb
        notes["local_batch_size"] = (f"mb={lay.mb}; gradient accumulation "
                                     f"{pick.global_batch_seqs // max(1, lay.mb * lay.dp)} steps")  # fmt: skip
    par["context_parallel_degree"] = lay.cp
    if pick.seq_len % (lay.tp * 2 * lay.cp):
        # llama3/infra/parallelize.py: the sequence divides by tp x 2 x cp (its seq_len_divisor)
        missing.append(f"seq_len {pick.seq_len} does not divide by tp x 2 x cp = {lay.tp * 2 * lay.cp}, as "
                       "torchtitan requires")  # fmt: skip
    if lay.ep > 1:
        par["expert_parallel_degree"] = lay.ep
        par["expert_tensor_parallel_degree"] = lay.etp
    ac = {"none": {"mode": "none"}, "full": {"mode": "full"},
          "selective": {"mode": "selective", "selective_ac_option": "op"}}[lay.recompute]  # fmt: skip
    if lay.recompute == "selective":
        notes["selective_ac_option"] = ("op-level selective recompute: keeps matmul outputs, recomputes the rest; "
                                        "close to, not the same as, recomputing attention only")  # fmt: skip
    out: dict[str, dict[str, Any]] = {"job": {"description": f"{shape.id}, hwprof pick"}, "training": training,
                                      "parallelism": par, "activation_checkpoint": ac}  # fmt: skip
    if pick.precision == "fp8":
        out["model"] = {"converters": ["quantize.linear.float8"]}
        out["quantize.linear.float8"] = {"recipe_name": "tensorwise"}
        notes["converters"] = "fp8 matmuls through torchao's Float8Linear (docs/float8.md)"
    elif pick.precision not in ("bf16",):
        missing.append(f"matmuls in {pick.precision}: no torchtitan converter maps to it here")
    if lay.grads == 16:
        missing.append("grads=16: torchtitan reduces gradients in float32 (training.mixed_precision_reduce)")
    if pick.ranks_per_chip > 1:
        missing.append(f"{pick.ranks_per_chip} ranks per chip: the degrees count ranks")
    return out, notes, missing


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def write(pick: TrainPick) -> Emitted:
    out, notes, missing = sections(pick)
    lines = header("torchtitan job config for this training run (--job.config_file).", TARGETS, pick,
                   [*missing, "the model (model.name, model.flavor, hf_assets_path), data and optimizer sections"])  # fmt: skip
    for name, values in out.items():
        lines += ["", f"[{name}]"]
        for key, value in values.items():
            note = notes.get(key)
            lines.append(f"{key} = {_value(value)}" + (f"  # {note}" if note else ""))
    lines += ["", f"# torchrun --nnodes {pick.nodes} --nproc-per-node {pick.ranks_per_node} -m torchtitan.train "
              "--job.config_file THIS_FILE"]  # fmt: skip
    return Emitted("torchtitan", TARGETS, "\n".join(lines) + "\n", (), tuple(missing), ".toml")


EMITTER = Emitter("torchtitan", "train", "torchtitan job TOML", write)
