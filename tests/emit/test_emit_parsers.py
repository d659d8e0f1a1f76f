"""The emitted arguments read by each framework's own parser, where that framework is installed: a flag
it renamed or dropped fails here. Each test skips when its framework cannot be imported (none is a
dependency of hwprof: they pull PyTorch or a GPU stack).

How to run them (docs/emit.md): torchtitan 0.2.2 imports on the CPU build of PyTorch
(`pip install torch==2.13.0 torchtitan==0.2.2 triton`); Megatron-LM's parser ships in megatron-core 0.17+
(a Python 3.12 venv: `pip install megatron-core==0.19.2`, 5.5 GB with PyTorch); vLLM in a Python 3.12 venv
(`pip install vllm`, 8 GB); SGLang's server arguments import its GPU kernels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import attrs
import pytest

from hwprof import emit
from tests.emit.test_emit import LLAMA70, LLAMA405, MOE, train


def test_torchtitan_reads_the_toml(tmp_path: Path) -> None:
    manager = pytest.importorskip("torchtitan.config").ConfigManager
    for pick in (train("tp=8,pp=4,dp=16,vpp=5,zero=3,recompute=full"),
                 train("tp=8,pp=1,dp=64,mb=2,zero=1,recompute=selective", precision="fp8"),
                 train("tp=2,pp=1,dp=32,ep=8,etp=1,zero=3", MOE, chips=64),
                 train("tp=8,pp=16,dp=8,uneven=1", LLAMA405, 2048, chips=1024)):  # fmt: skip
        path = tmp_path / "job.toml"
        path.write_text(emit.write("torchtitan", "train", pick).text, encoding="utf-8")
        config = manager().parse_args(["--job.config_file", str(path)])  # refuses a key it does not know
        lay = pick.layout
        assert config.parallelism.tensor_parallel_degree == lay.tp
        assert config.parallelism.pipeline_parallel_degree == lay.pp
        assert config.parallelism.data_parallel_shard_degree == lay.dp
        assert config.training.global_batch_size == pick.global_batch_seqs


def test_megatron_parses_the_flags() -> None:
    arguments = pytest.importorskip("megatron.training.arguments")
    for pick in (train("tp=8,pp=4,dp=16,vpp=5,recompute=selective"), train("tp=8,pp=4,dp=16,vpp=8,uneven=1"),
                 train("tp=8,pp=16,dp=8,uneven=1,recompute=full", LLAMA405, 2048, chips=1024),
                 train("tp=2,pp=1,dp=32,ep=8,etp=1,zero=3,grads=16", MOE, precision="fp8", chips=64)):  # fmt: skip
        parser = argparse.ArgumentParser(allow_abbrev=False)
        arguments.add_megatron_arguments(parser)
        args = parser.parse_args(list(emit.write("megatron", "train", pick).args))
        assert args.tensor_model_parallel_size == pick.layout.tp
        assert args.pipeline_model_parallel_size == pick.layout.pp
        assert args.global_batch_size == pick.global_batch_seqs


def test_vllm_parses_the_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's own engine-argument parser (its defaults need a platform: on a machine without a GPU the
    CPU one stands in), for every engine of an aggregated, an attention-data-parallel MoE and a
    disaggregated pick: each flag known, each value of the type and choices vLLM declares, the
    NixlConnector setting a valid KVTransferConfig."""
    platforms = pytest.importorskip("vllm.platforms")
    monkeypatch.setattr(platforms, "_current_platform", pytest.importorskip("vllm.platforms.cpu").CpuPlatform())
    arg_utils = pytest.importorskip("vllm.engine.arg_utils")
    parser_type = pytest.importorskip("vllm.utils.argparse_utils").FlexibleArgumentParser
    from tests.cli.test_launch import arrays

    common = {"max_model_len": 1500, "chunk_tokens": 8192, "chips_per_node": 8}
    dense = emit.ServePick(LLAMA70, tp=4, pp=2, dp=2, weights="fp8", kv_cache="fp8", max_num_seqs=300, chips=16,
                           **common)  # fmt: skip
    moe = emit.ServePick(MOE, tp=8, pp=1, dp=1, weights="bf16", kv_cache="bf16", max_num_seqs=64, chips=8, ep=8,
                         adp=1, **common)  # fmt: skip
    prefill = attrs.evolve(dense, tp=2, pp=1, dp=2, max_num_seqs=38, role="prefill")
    decode = attrs.evolve(dense, tp=4, pp=1, dp=1, max_num_seqs=339, role="decode")
    split = attrs.evolve(decode, role="", pools=(prefill, decode))
    parser = arg_utils.EngineArgs.add_cli_args(parser_type())
    for pick in (dense, moe, split):
        for name, tokens in arrays(emit.write("vllm", "serve", pick).text).items():
            args = parser.parse_args(tokens)  # exits on an unknown flag or a bad value
            engine = {"VLLM_PREFILL": prefill, "VLLM_DECODE": decode}.get(name, pick)
            assert args.max_num_seqs == engine.max_num_seqs and args.max_model_len == 1500
            if engine.adp:
                assert (args.tensor_parallel_size, args.data_parallel_size) == (1, engine.tp)
                assert args.enable_expert_parallel
            else:
                assert (args.tensor_parallel_size, args.pipeline_parallel_size) == (engine.tp, engine.pp)
            if engine.role:
                assert args.kv_transfer_config.kv_connector == "NixlConnector"
                assert args.kv_transfer_config.kv_role == "kv_both"


def test_sglang_parses_the_arguments() -> None:
    server_args = pytest.importorskip("sglang.srt.server_args")
    pick = emit.ServePick(MOE, tp=8, pp=1, dp=1, weights="bf16", kv_cache="fp8", max_num_seqs=128, max_model_len=3000,
                          chunk_tokens=8192, chips=8, chips_per_node=8, ep=8, adp=1)  # fmt: skip
    parser = argparse.ArgumentParser()
    server_args.ServerArgs.add_cli_args(parser)
    args = parser.parse_args(["--model-path", "x", *emit.write("sglang", "serve", pick).args])
    assert args.tp_size == 8 and args.dp_size == 8 and args.enable_dp_attention


def test_megatron_validates_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Megatron-LM's own validate_args on the emitted flags, at the pick's world size: it derives the
    data-parallel size, the virtual stages (from a pipeline layout too) and the micro-batches, and
    asserts the rules (uneven stages, FSDP's checkpoint format, CUDA_DEVICE_MAX_CONNECTIONS). On a CPU
    machine the device queries it makes are answered as a Hopper GPU would."""
    arguments = pytest.importorskip("megatron.training.arguments")
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (9, 0))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cases = [(train("tp=8,pp=4,dp=16,vpp=5,recompute=selective"), 16, 5),
             (train("tp=8,pp=4,dp=16,vpp=8,uneven=1"), 16, 8),
             (train("tp=8,pp=16,dp=8,uneven=1,recompute=full", LLAMA405, 2048, chips=1024), 8, None),
             (train("tp=2,pp=1,dp=32,ep=8,etp=1,zero=3,grads=16", MOE, precision="fp8", chips=64), 32, None)]  # fmt: skip
    for pick, dp, vpp in cases:
        emitted = emit.write("megatron", "train", pick)
        parser = argparse.ArgumentParser(allow_abbrev=False)
        arguments.add_megatron_arguments(parser)
        args = parser.parse_args([*emitted.args, "--tokenizer-type", "NullTokenizer", "--vocab-size", "128256",
                                  "--lr", "1e-4", "--train-iters", "10"])  # fmt: skip
        args._is_global_batch_size_explicitly_specified = True
        args.world_size, args.rank = pick.chips, 0
        monkeypatch.setenv("WORLD_SIZE", str(pick.chips))
        monkeypatch.delenv("CUDA_DEVICE_MAX_CONNECTIONS", raising=False)
        if "CUDA_DEVICE_MAX_CONNECTIONS=1 torchrun" in emitted.text:
            monkeypatch.setenv("CUDA_DEVICE_MAX_CONNECTIONS", "1")
        arguments.validate_args(args, {})
        assert (args.data_parallel_size, args.virtual_pipeline_model_parallel_size) == (dp, vpp)
        assert args.global_batch_size // (args.micro_batch_size * dp) == pick.global_batch_seqs // (pick.layout.mb * dp)
