"""Hand-made picks map to the frameworks' own arguments: each expected flag written out here from the
framework's source (docs/emit.md), the layer splits counted by hand."""

from __future__ import annotations

import re
import tomllib

import pytest

from hwprof import emit
from hwprof.data import records
from hwprof.errors import HwprofError
from hwprof.perf.train.layout import parse
from hwprof.plugins import neuron_frameworks
from tests.facts import facts

LLAMA70 = records.Workload.given(70.6e9, id="llama3.1-70b", layers=80, hidden=8192, heads=64, kv_heads=8,
                                 head_dim=128, ffn_hidden=28672, vocab=128256, seq_len=8192, max_context=131072)  # fmt: skip
LLAMA405 = records.Workload.given(405e9, id="llama3.1-405b", layers=126, hidden=16384, heads=128, kv_heads=8,
                                  head_dim=128, ffn_hidden=53248, seq_len=8192)  # fmt: skip
MOE = records.Workload.given(46.7e9, id="moe", active_params=12.9e9, layers=32, hidden=4096, heads=32, kv_heads=8,
                             head_dim=128, ffn_hidden=14336, experts=8, experts_per_token=2, seq_len=4096)  # fmt: skip


def train(layout: str, work: records.Workload = LLAMA70, batch: int = 512, precision: str = "bf16", chips: int = 512,
          per_node: int = 8, ranks: int = 1) -> emit.TrainPick:  # fmt: skip
    return emit.TrainPick(work, parse(layout, chips * ranks), work.seq_len or 4096, batch, precision, chips, per_node,
                          ranks)  # fmt: skip


def flags(args: tuple[str, ...]) -> dict[str, str | bool]:
    """--flag value pairs (a flag followed by another flag is a switch)."""
    out: dict[str, str | bool] = {}
    for i, a in enumerate(args):
        if a.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) else None
            out[a] = nxt if nxt is not None and not nxt.startswith("--") else True
    return out


def test_megatron_flags_of_a_dense_pick() -> None:
    # 512 chips = tp 8 x pp 4 x dp 16; 80 layers over 4 x 5 = 20 virtual stages of 4: even, no split flags.
    e = emit.write("megatron", "train", train("tp=8,pp=4,dp=16,vpp=5,mb=1,zero=1,recompute=selective"))
    f = flags(e.args)
    assert f["--tensor-model-parallel-size"] == "8"
    assert f["--pipeline-model-parallel-size"] == "4"
    assert f["--num-virtual-stages-per-pipeline-rank"] == "5"
    assert f["--micro-batch-size"] == "1" and f["--global-batch-size"] == "512" and f["--seq-length"] == "8192"
    assert f["--sequence-parallel"] is True and f["--use-distributed-optimizer"] is True and f["--bf16"] is True
    assert f["--recompute-granularity"] == "selective"
    assert f["--num-query-groups"] == "8" and f["--group-query-attention"] is True
    for absent in ("--context-parallel-size", "--decoder-first-pipeline-num-layers", "--fp8-format",
                   "--expert-model-parallel-size", "--use-megatron-fsdp", "--pipeline-model-parallel-layout"):  # fmt: skip
        assert absent not in f
    # 512 chips in nodes of 8: 64 nodes of 8 processes
    assert "torchrun --nnodes 64 --nproc-per-node 8" in e.text
    assert "Targets Megatron-LM core_v0.19.0" in e.text


def test_the_emitted_text_runs_as_bash_arrays() -> None:
    """Every flag line sits inside an array, its comment after it: stripping the comments leaves the
    arguments exactly."""
    e = emit.write("megatron", "train", train("tp=8,pp=4,dp=16,vpp=5"))
    inside, tokens = False, []
    for line in e.text.splitlines():
        if line.endswith("=("):
            inside = True
        elif line == ")":
            inside = False
        elif inside:
            tokens += line.split("#", 1)[0].split()
    assert tuple(tokens) == e.args


def test_uneven_pipeline_of_405b_first_and_last_stage() -> None:
    # 126 layers over pp=16: ceil(126/16) = 8 on each of the 14 middle ranks (112), 14 left for the two
    # ends, as 6 and 8: no rank above 8, the slowest stage the estimate assumes.
    e = emit.write("megatron", "train", train("tp=8,pp=16,dp=8,uneven=1,recompute=full", LLAMA405, 2048, chips=1024))
    f = flags(e.args)
    assert f["--decoder-first-pipeline-num-layers"] == "6" and f["--decoder-last-pipeline-num-layers"] == "8"
    assert 6 + 14 * 8 + 8 == 126
    assert f["--recompute-granularity"] == "full" and f["--recompute-method"] == "uniform"
    assert f["--recompute-num-layers"] == "1"


def test_uneven_interleaved_split_is_written_as_a_layout() -> None:
    # 80 layers over pp=4 x vpp=8 = 32 virtual stages: 16 of 2 and 16 of 3 (2 x 16 + 3 x 16 = 80);
    # the 3s are stages 16-31, chunks 4-7 of every rank, so each rank holds 4 x 2 + 4 x 3 = 20 = 80 / 4.
    # Per-rank counts divide by nothing that lets --decoder-first/last-pipeline-num-layers say it (20 % 8).
    e = emit.write("megatron", "train", train("tp=8,pp=4,dp=16,vpp=8,uneven=1"))
    f = flags(e.args)
    assert f["--pipeline-model-parallel-layout"] == "E,t*2|(t*2|)*15(t*3|)*15t*3,L"
    assert "--num-virtual-stages-per-pipeline-rank" not in f  # the layout sets vpp; Megatron refuses both
    assert emit.uneven_ends(80, 4, 8) is None
    assert emit.interleaved_counts(80, 4, 8) == [2] * 16 + [3] * 16


def test_uneven_ends_by_hand() -> None:
    assert emit.uneven_ends(126, 16, 1) == (6, 8)
    assert emit.uneven_ends(61, 4, 1) == (13, 16)  # ceil(61/4) = 16: 2 middle x 16 = 32, ends 29 = 13 + 16
    assert emit.uneven_ends(10, 1, 1) is None  # no pipeline, nothing to split


def test_fsdp_fp8_and_experts() -> None:
    e = emit.write("megatron", "train", train("tp=2,pp=1,dp=32,ep=8,etp=1,zero=3,grads=16,recompute=none", MOE,
                                              precision="fp8", chips=64))  # fmt: skip
    f = flags(e.args)
    assert f["--use-megatron-fsdp"] is True and f["--data-parallel-sharding-strategy"] == "optim_grads_params"
    assert f["--ckpt-format"] == "fsdp_dtensor"  # Megatron's validate_args refuses FSDP without it
    assert f["--fp8-format"] == "hybrid" and f["--fp8-recipe"] == "delayed"
    assert f["--expert-model-parallel-size"] == "8" and f["--expert-tensor-parallel-size"] == "1"
    assert f["--num-experts"] == "8" and f["--moe-router-topk"] == "2"
    assert f["--grad-reduce-in-bf16"] is True
    assert "--recompute-granularity" not in f


def test_a_precision_megatron_cannot_take_is_said_not_emitted() -> None:
    e = emit.write("megatron", "train", train("tp=8,pp=1,dp=64", precision="fp4"))
    assert "--fp8-format" not in flags(e.args)
    assert any("fp4" in item for item in e.not_expressed)
    assert "fp4" in e.text.split("MEGATRON_SHAPE")[0]  # said in the header


def test_bridge_overrides() -> None:
    e = emit.write("bridge", "train", train("tp=8,pp=4,dp=16,cp=2,vpp=5,mb=2,zero=1", batch=1024, chips=1024))
    over = dict(a.split("=", 1) for a in e.args)
    assert over["model.tensor_model_parallel_size"] == "8"
    assert over["model.virtual_pipeline_model_parallel_size"] == "5"
    assert over["model.context_parallel_size"] == "2"
    assert over["train.micro_batch_size"] == "2" and over["train.global_batch_size"] == "1024"
    assert over["ddp.use_distributed_optimizer"] == "true" == over["optimizer.use_distributed_optimizer"]
    assert over["mixed_precision"] == "bf16_mixed" and over["model.sequence_parallel"] == "true"
    assert "--recipe llama31_70b_pretrain_config" in e.text


def test_torchtitan_toml_batch_and_split() -> None:
    # pp > 1: the data-parallel rank's whole batch (512 / 16 = 32) is the local batch, cut into micro-batches
    # of 1; 80 + 2 (embedding, output) over 4 x 5 = 20 stages: no single layers-per-stage count gives 20
    # (5 gives 17, 4 gives 21), so the stages are named: 20 stages of 4 layers.
    e = emit.write("torchtitan", "train", train("tp=8,pp=4,dp=16,vpp=5,zero=3,recompute=full"))
    doc = tomllib.loads(e.text)
    par = doc["parallelism"]
    assert doc["training"] == {"seq_len": 8192, "global_batch_size": 512, "local_batch_size": 32}
    assert par["data_parallel_shard_degree"] == 16 and par["data_parallel_replicate_degree"] == 1
    assert par["tensor_parallel_degree"] == 8 and par["pipeline_parallel_degree"] == 4
    assert par["pipeline_parallel_schedule"] == "Interleaved1F1B" and par["pipeline_parallel_microbatch_size"] == 1
    parts = par["module_fqns_per_model_part"]
    assert len(parts) == 20 and parts[0][:2] == ["tok_embeddings", "layers.0"] and parts[-1][-2:] == ["norm", "output"]
    assert sum(len([m for m in p if m.startswith("layers.")]) for p in parts) == 80
    assert doc["activation_checkpoint"] == {"mode": "full"}
    assert "fsdp_reshard_after_forward" not in par


def test_torchtitan_without_pipeline_accumulates_micro_batches() -> None:
    # pp = 1: local batch = mb = 2, so 512 / (2 x 64) = 4 accumulation steps
    e = emit.write("torchtitan", "train", train("tp=8,pp=1,dp=64,mb=2,zero=1", precision="fp8"))
    doc = tomllib.loads(e.text)
    assert doc["training"]["local_batch_size"] == 2 and "gradient accumulation 4 steps" in e.text
    assert doc["parallelism"]["fsdp_reshard_after_forward"] == "never"
    assert any("zero=1" in item for item in e.not_expressed)  # torchtitan shards gradients too
    assert doc["model"]["converters"] == ["quantize.linear.float8"]


def test_nxdt_yaml_from_the_plugin() -> None:
    # 64 chips of 4 ranks in nodes of 16 chips: 4 nodes of 64 ranks; 126 layers over pp=4 uneven:
    # ceil(126/4) = 32 on the two middle ranks, 62 left: 30 + 32 -> stages of 30 | 32 | 32 | 32 layers, each
    # cut naming the stage's last layer (the example config cuts 80 layers at 18, 39, 60: 19 | 21 | 21 | 19).
    pick = train("tp=32,pp=4,dp=2,uneven=1", LLAMA405, 256, chips=64, per_node=16, ranks=4)
    e = neuron_frameworks.nxdt(pick)
    assert "  devices: 64  # ranks per node" in e.text and "  num_nodes: 4" in e.text
    assert "  tensor_model_parallel_size: 32" in e.text and "  zero1: True" in e.text
    assert 'pipeline_cuts: ["model.layers.29", "model.layers.61", "model.layers.93"]' in e.text
    assert emit.uneven_ends(126, 4, 1) == (30, 32)  # 30 + 32 + 32 + 32 = 126


def test_vllm_dense_replicas_and_precisions() -> None:
    pick = emit.ServePick(LLAMA70, tp=4, pp=1, dp=2, weights="fp8", kv_cache="fp8", max_num_seqs=300,
                          max_model_len=1500, chunk_tokens=8192, chips=8, chips_per_node=8)  # fmt: skip
    f = flags(emit.write("vllm", "serve", pick).args)
    assert f == {"--tensor-parallel-size": "4", "--data-parallel-size": "2", "--max-num-seqs": "300",
                 "--max-model-len": "1500", "--max-num-batched-tokens": "8192", "--kv-cache-dtype": "fp8",
                 "--quantization": "fp8"}  # fmt: skip


def test_vllm_attention_data_parallel_with_experts() -> None:
    # adp=1 with ep = tp = 8: vLLM's data-parallel attention, experts over the 8 ranks
    pick = emit.ServePick(MOE, tp=8, pp=1, dp=1, weights="bf16", kv_cache="bf16", max_num_seqs=64, max_model_len=3000,
                          chunk_tokens=2048, chips=8, chips_per_node=8, ep=8, adp=1)  # fmt: skip
    f = flags(emit.write("vllm", "serve", pick).args)
    assert f["--tensor-parallel-size"] == "1" and f["--data-parallel-size"] == "8"
    assert f["--enable-expert-parallel"] is True and f["--kv-cache-dtype"] == "auto"


def test_int4_weights_are_not_emitted_as_a_flag() -> None:
    pick = emit.ServePick(LLAMA70, tp=2, pp=1, dp=1, weights="int4", kv_cache="bf16", max_num_seqs=8,
                          max_model_len=2000, chunk_tokens=2048, chips=2, chips_per_node=8)  # fmt: skip
    for name in ("vllm", "sglang", "trtllm"):
        e = emit.write(name, "serve", pick)
        assert "--quantization" not in e.args
        assert any("int4" in item for item in e.not_expressed), name


def test_sglang_and_trtllm() -> None:
    pick = emit.ServePick(MOE, tp=8, pp=1, dp=1, weights="bf16", kv_cache="fp8", max_num_seqs=128, max_model_len=3000,
                          chunk_tokens=8192, chips=8, chips_per_node=8, ep=8, adp=1)  # fmt: skip
    s = flags(emit.write("sglang", "serve", pick).args)
    assert s["--tp-size"] == "8" and s["--dp-size"] == "8" and s["--enable-dp-attention"] is True
    assert s["--ep-size"] == "8" and s["--max-running-requests"] == "128" and s["--kv-cache-dtype"] == "fp8_e4m3"
    t = emit.write("trtllm", "serve", pick)
    tf = flags(t.args)
    assert tf["--tp_size"] == "8" and tf["--ep_size"] == "8" and tf["--max_batch_size"] == "128"
    assert "enable_attention_dp: true" in t.text and re.search(r"kv_cache_config:\n  dtype: fp8", t.text)


def test_vllm_neuron_buckets() -> None:
    pick = emit.ServePick(LLAMA70, tp=64, pp=1, dp=1, weights="bf16", kv_cache="bf16", max_num_seqs=24,
                          max_model_len=1500, chunk_tokens=1024, chips=16, chips_per_node=16, ranks_per_chip=4)  # fmt: skip
    e = neuron_frameworks.vllm_neuron(pick)
    f = flags(e.args)
    assert f["--tensor-parallel-size"] == "64"
    assert f["--additional-config"] == ('{"neuron_config":{"num_seqs_buckets":[1,2,4,8,16,24],'
                                        '"num_batched_tokens_buckets":[128,256,512,1024]}}')  # fmt: skip


def test_an_unknown_framework_names_the_choices() -> None:
    with pytest.raises(HwprofError) as caught:
        emit.write("deepspeed", "train", train("tp=8,pp=1,dp=64"))
    facts(caught.value.for_cli(), "--emit deepspeed", "no train launch format", "bridge, megatron, torchtitan")
    with pytest.raises(HwprofError, match="use one of sglang, trtllm, vllm"):
        emit.write("megatron", "serve", train("tp=8,pp=1,dp=64"))


def test_a_plugin_cannot_replace_a_builtin() -> None:
    fake = emit.Emitter("megatron", "train", "impostor", lambda pick: None)  # type: ignore[arg-type,return-value]
    assert emit.emitters([fake])["megatron"] is not fake


def test_a_disaggregated_pick_is_two_pools() -> None:
    common = {"weights": "bf16", "kv_cache": "bf16", "max_model_len": 1500, "chunk_tokens": 8192, "chips_per_node": 8}
    prefill = emit.ServePick(LLAMA70, tp=2, pp=1, dp=2, max_num_seqs=38, chips=4, role="prefill", **common)
    decode = emit.ServePick(LLAMA70, tp=4, pp=1, dp=1, max_num_seqs=339, chips=4, role="decode", **common)
    pick = emit.ServePick(LLAMA70, tp=4, pp=1, dp=1, max_num_seqs=339, chips=8, pools=(prefill, decode), **common)
    v = emit.write("vllm", "serve", pick)
    assert "VLLM_PREFILL=(" in v.text and "VLLM_DECODE=(" in v.text
    assert v.text.count('{"kv_connector":"NixlConnector","kv_role":"kv_both"}') == 2
    assert flags(v.args)["--data-parallel-size"] == "2"  # the first pool: two prefill workers of tp=2
    assert any("router" in item for item in v.not_expressed)
    s = emit.write("sglang", "serve", pick)
    assert "--disaggregation-mode prefill" in s.text and "--disaggregation-mode decode" in s.text
    t = emit.write("trtllm", "serve", pick)
    assert flags(t.args)["--tp_size"] == "4" and any("disaggregated" in item for item in t.not_expressed)
    # the same-layout split (prefill=1 of dp=3) reads as two pools of that layout
    same = emit.ServePick(LLAMA70, tp=8, pp=1, dp=3, max_num_seqs=100, chips=24, prefill=1, **common)
    assert [(p.role, p.dp) for p in same.split()] == [("prefill", 1), ("decode", 2)]
