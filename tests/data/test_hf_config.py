"""Model shapes read from published Hugging Face config.json files (tests/fixtures/configs; its README
says where each file and each figure came from): the parameter count, the active parameters and the
KV cache per token against the model cards, and configs hwprof cannot read refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwprof.data.hf_config import from_hf_config
from hwprof.errors import HwprofError
from tests import FIXTURES, find
from tests.conftest import RunCli

CONFIGS = FIXTURES / "configs"


class Card(NamedTuple):
    file: str
    total: float  # the card's total parameters
    kv_bytes: int  # K and V cached per token over all layers at 2 bytes, worked out by hand
    active: float | None = None  # the card's active parameters; None for a dense model (all of them)
    active_rel: float = 0.01  # how far the card's rounding lets them be: "3.3B" is two digits
    unembedding_only: bool = False  # the card counts the output matrix, not the embedding table (a lookup)
    beside: float = 0.0  # weights the card counts and hwprof leaves out: a vision encoder, by hand


CARDS = [
    # Llama 2 7B: the Hub's count; 32 layers x 2 (K, V) x 32 KV heads x 128 x 2 bytes = 524,288
    Card("llama-2-7b", 6_738_415_616, 524_288),
    # Llama 3 8B: 32 x 2 x 8 x 128 x 2 = 131,072
    Card("llama-3-8b", 8.03e9, 131_072),
    Card("llama-3.1-8b", 8.03e9, 131_072),
    # 126 layers x 2 x 8 x 128 x 2 = 516,096
    Card("llama-3.1-405b", 405e9, 516_096),
    # 80 x 2 x 8 x 128 x 2 = 327,680
    Card("llama-3.3-70b", 70e9, 327_680),
    # Llama 4: 48 x 2 x 8 x 128 x 2 = 196,608 (at most 8,192 tokens of it on 36 chunked layers). The card's
    # 109B and 400B include the vision encoder, 871,932,416 from Scout's published vision_config: 34
    # layers x (4 x (1408^2 + 1408) + 2 x 1408 x 5632 + 5632 + 1408 + 4 x 1408) = 809,467,648; patch
    # 3 x 14 x 14 x 1408 = 827,904; class 1,408; positions 577 x 1408 = 812,416; two layer norms 5,632;
    # pixel-shuffle MLP 5632 x 4096 + 4096 x 4096 = 39,845,888; projector 4096 x 5120 = 20,971,520.
    Card("llama-4-scout", 109e9, 196_608, active=17e9, active_rel=0.03, beside=871_932_416),
    Card("llama-4-maverick", 400e9, 196_608, active=17e9, active_rel=0.03, beside=871_932_416),
    # Mistral 7B: "7.3B" in the announcement (the Hub: 7.24B); 32 x 2 x 8 x 128 x 2 = 131,072
    Card("mistral-7b-v0.1", 7.3e9, 131_072),
    Card("mixtral-8x7b", 46.7e9, 131_072, active=12.9e9),
    # 56 x 2 x 8 x 128 x 2 = 229,376
    Card("mixtral-8x22b", 141e9, 229_376, active=39e9),
    # Qwen2.5 7B: 28 x 2 x 4 x 128 x 2 = 57,344
    Card("qwen2.5-7b-instruct", 7.61e9, 57_344),
    Card("qwen2.5-72b-instruct", 72.7e9, 327_680),
    # Qwen2-57B-A14B: 28 x 2 x 4 x 128 x 2 = 57,344; "14B" active is 13.5B-14.5B
    Card("qwen2-57b-a14b", 57e9, 57_344, active=14e9, active_rel=0.036),
    # 36 x 2 x 8 x 128 x 2 = 147,456
    Card("qwen3-8b", 8.2e9, 147_456),
    # 48 x 2 x 4 x 128 x 2 = 98,304; "3.3B" active: 3.25B-3.35B, ours 3.35B
    Card("qwen3-30b-a3b", 30.5e9, 98_304, active=3.3e9, active_rel=0.02),
    # 94 x 2 x 4 x 128 x 2 = 192,512
    Card("qwen3-235b-a22b", 235e9, 192_512, active=22e9, active_rel=0.023),
    # DeepSeek caches the latent and the rope key, once for all heads: 60 x (512 + 64) x 2 = 69,120
    Card("deepseek-v2", 236e9, 69_120, active=21e9, active_rel=0.024),
    # 27 x 576 x 2 = 31,104; "2.4B" counts the output matrix, not the embedding table
    Card("deepseek-v2-lite", 15.7e9, 31_104, active=2.4e9, active_rel=0.03, unembedding_only=True),
    # 61 x 576 x 2 = 70,272; 671B without the 14B multi-token prediction module
    Card("deepseek-v3", 671e9, 70_272, active=37e9, active_rel=0.02),
    # gpt-oss: 24 x 2 x 8 x 64 x 2 = 49,152 (128 tokens of it on the 12 sliding layers)
    Card("gpt-oss-20b", 20.91e9, 49_152, active=3.61e9, unembedding_only=True),
    Card("gpt-oss-120b", 116.83e9, 73_728, active=5.13e9, unembedding_only=True),
    # Gemma reports give embedding + the rest: 786,825,216 + 7,751,248,896; 28 x 2 x 16 x 256 x 2 = 458,752
    Card("gemma-7b", 786_825_216 + 7_751_248_896, 458_752),
    # 917,504,000 + 8,324,201,984; 42 x 2 x 8 x 256 x 2 = 344,064
    Card("gemma-2-9b-it", 917_504_000 + 8_324_201_984, 344_064),
    # language model 1,416M + 25,600M (the 417M vision encoder apart); 62 x 2 x 16 x 128 x 2 = 507,904
    Card("gemma-3-27b-it", 1_416e6 + 25_600e6, 507_904),
]


@pytest.mark.parametrize("card", CARDS, ids=[c.file for c in CARDS])
def test_a_published_config_counts_its_model_cards_parameters(card: Card) -> None:
    shape = from_hf_config(CONFIGS / f"{card.file}.json")
    assert shape.params + card.beside == pytest.approx(card.total, rel=0.01)
    embedding = (shape.vocab or 0) * (shape.hidden or 0) if card.unembedding_only else 0
    assert shape.active - embedding == pytest.approx(card.active or card.total - card.beside, rel=card.active_rel)
    assert shape.is_moe == (card.active is not None)
    assert 2 * (shape.kv_elements_per_token() or 0) == card.kv_bytes


def test_counts_follow_each_familys_layout_to_the_weight() -> None:
    # Exact where the publisher gives an exact count. Llama 2 7B, the Hub's 6,738,415,616: 32 layers x
    # (4 x 4096^2 attention + 3 x 4096 x 11008 gated MLP + 2 x 4096 norms) + 4096 + 2 x 32000 x 4096.
    assert from_hf_config(CONFIGS / "llama-2-7b.json").params == 6_738_415_616
    # Gemma 2 9B's report: 8,324,201,984 besides the (tied) embedding table of 256000 x 3584.
    gemma = from_hf_config(CONFIGS / "gemma-2-9b-it.json")
    assert gemma.params - 256_000 * 3584 == 8_324_201_984
    # Qwen2.5 7B puts biases on Q, K and V (3584 + 2 x 512 per layer) with no config key saying so.
    qwen = from_hf_config(CONFIGS / "qwen2.5-7b-instruct.json")
    per_layer = 2 * 3584 * 3584 + 2 * 3584 * 512 + 3584 + 2 * 512 + 3 * 3584 * 18944 + 2 * 3584
    assert qwen.params == 28 * per_layer + 3584 + 2 * 152064 * 3584


def test_qwen3_moe_reads_its_experts() -> None:
    # The bug: num_experts was ignored and Qwen3-30B-A3B read as a 3.3B dense model.
    shape = from_hf_config(CONFIGS / "qwen3-30b-a3b.json")
    assert (shape.experts, shape.experts_per_token) == (128, 8)
    # 48 layers x 128 experts x 3 x 2048 x 768 (moe_intermediate_size) are the routed experts
    assert shape.params - shape.active == 48 * (128 - 8) * 3 * 2048 * 768


def serve_memory(run_cli: RunCli, *model: str | Path) -> dict[str, float]:
    result = run_cli("estimate", "serve", *model, "--system", "p5en.48xlarge", "--precision", "fp8",
                     "--kv-precision", "fp8", "--layout", "tp=8", "--json")  # fmt: skip
    assert result.code == 0, result.err
    return result.json()["memory"]  # type: ignore[call-overload, no-any-return]


def test_qwen3_moe_weights_per_gpu(run_cli: RunCli) -> None:
    # Issue 20: 0.42 GB per GPU before (read as a 3.34B dense model); 30,532,122,624 at 1 byte over 8 GPUs.
    memory = serve_memory(run_cli, "--model-config", CONFIGS / "qwen3-30b-a3b.json")
    assert memory["weights_bytes_per_chip"] == pytest.approx(30_532_122_624 / 8)
    # 4 KV heads over tp=8 (copied past 4): 48 x 2 x 4 x 128 x 1 byte / 4 = 12,288 per token per GPU
    assert memory["kv_bytes_per_token_per_chip"] == 12_288


def test_a_latent_cache_is_whole_on_every_tensor_rank(run_cli: RunCli) -> None:
    shape = from_hf_config(CONFIGS / "deepseek-v3.json")
    assert shape.latent_cache and shape.kv_heads is None
    # Every head reads the whole latent, so each of the 8 GPUs holds it: 61 x (512 + 64) x 1 byte = 35,136
    # per token, as the preset says (the config was split 8 ways: 4.4 kB).
    config = serve_memory(run_cli, "--model-config", CONFIGS / "deepseek-v3.json")["kv_bytes_per_token_per_chip"]
    assert config == 35_136 == serve_memory(run_cli, "--model", "deepseek-v3")["kv_bytes_per_token_per_chip"]


@pytest.mark.parametrize(
    ("file", "context", "kv_bytes"),
    [
        # Gemma 3 27B: 10 global layers x 8,192 B + 52 local layers x 8,192 B x 1,024 / 131,072 = 85,248
        ("gemma-3-27b-it", 131_072, 85_248),
        # gpt-oss-120b: 18 x 2,048 + 18 x 2,048 x 128 / 131,072 = 36,900
        ("gpt-oss-120b", 131_072, 36_900),
        # Gemma 2 9B: 21 x 8,192 + 21 x 8,192 x 4,096 / 8,192 = 258,048
        ("gemma-2-9b-it", 8192, 258_048),
        # Llama 4 Scout: 12 x 4,096 + 36 chunked x 4,096 x 8,192 / 131,072 = 58,368
        ("llama-4-scout", 131_072, 58_368),
        # Mistral 7B v0.1, every layer a 4,096 window: 32 x 4,096 x 4,096 / 32,768 = 16,384
        ("mistral-7b-v0.1", 32_768, 16_384),
        # Below the window the cache is whole: Gemma 3 27B at 1,024 tokens, 62 x 8,192 = 507,904
        ("gemma-3-27b-it", 1024, 507_904),
    ],
)
def test_sliding_layers_keep_only_their_window(file: str, context: int, kv_bytes: int) -> None:
    shape = from_hf_config(CONFIGS / f"{file}.json")
    assert 2 * (shape.kv_elements_per_token(context) or 0) == pytest.approx(kv_bytes)


def write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


LLAMA = json.loads((CONFIGS / "llama-3-8b.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"model_type": "phi3", "architectures": ["Phi3ForCausalLM"]}, "model_type 'phi3'"),
        ({"model_type": None, "architectures": ["JambaForCausalLM"]}, "model_type 'JambaForCausalLM'"),
        ({"model_type": None, "architectures": None}, "no model_type or architectures"),
        ({"num_local_experts": 8}, "gives num_local_experts, but model_type llama has no experts"),
        ({"model_type": "gemma3"}, "keeps its language model in text_config"),
    ],
)
def test_a_config_hwprof_cannot_read_is_refused_by_name(
    run_cli: RunCli, tmp_path: Path, changes: dict[str, object], said: str
) -> None:
    config = {k: v for k, v in {**LLAMA, **changes}.items() if v is not None}
    result = run_cli("estimate", "train", "--model-config", write(tmp_path, config), "--tokens", "1e12",
                     "--system", "p5.48xlarge")  # fmt: skip
    assert result.code == 1 and said in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_a_config_without_the_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HwprofError, match="needs hidden_size, num_hidden_layers"):
        from_hf_config(write(tmp_path, {"model_type": "llama", "hidden_size": 4096}))
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(HwprofError, match="not valid JSON"):
        from_hf_config(path)


READ_KEYS = sorted({key for file in CONFIGS.glob("*.json") for key in json.loads(file.read_text(encoding="utf-8"))}
                   | {"mlp_only_layers", "moe_layers", "no_rope_layers", "layer_types", "text_config", "head_dim",
                      "sliding_window_pattern", "use_sliding_window", "max_window_layers", "decoder_sparse_step",
                      "shared_expert_intermediate_size", "intermediate_size_mlp", "attention_chunk_size"})  # fmt: skip
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.one_of(st.integers(-5, 200), st.text(max_size=4), st.none()), max_size=80),
    st.dictionaries(st.sampled_from(["hidden_size", "model_type", "num_hidden_layers"]), st.integers(0, 99)),
    st.sampled_from(["llama", "gemma3_text", "sliding_attention", "full_attention", "qwen3_moe"]),
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(sorted(CONFIGS.glob("*.json"))), changes=st.dictionaries(st.sampled_from(READ_KEYS), ODD,
       max_size=4))  # fmt: skip
def test_a_published_config_with_any_key_changed_reads_or_is_refused(
    tmp_path: Path, file: Path, changes: dict[str, object]
) -> None:
    config = json.loads(file.read_text(encoding="utf-8"))
    target = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    target.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    try:
        shape = from_hf_config(path)
    except HwprofError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 800
        return
    assert 0 < shape.active <= shape.params < 1e30
    assert (shape.kv_elements_per_token() or 0) >= 0 and (shape.kv_elements_per_token(1e6) or 0) >= 0


def test_layer_lists_that_are_not_lists_of_numbers_name_no_layer(tmp_path: Path) -> None:
    # mlp_only_layers "abc" crashed the layer loop (TypeError: an internal error, exit 70).
    config = json.loads((CONFIGS / "qwen3-30b-a3b.json").read_text(encoding="utf-8"))
    expected = from_hf_config(CONFIGS / "qwen3-30b-a3b.json").params
    for odd in ("abc", [None, "3", True], {"0": 1}):
        assert from_hf_config(write(tmp_path, {**config, "mlp_only_layers": odd})).params == expected
    # a real list is read: layers 0 and 1 dense (intermediate_size 6144) instead of 128 experts of 768
    dense = from_hf_config(write(tmp_path, {**config, "mlp_only_layers": [0, 1]}))
    assert expected - dense.params == 2 * (128 * 3 * 2048 * 768 + 2048 * 128 - 3 * 2048 * 6144)


def test_a_zero_longest_context_is_refused_not_read_as_none(tmp_path: Path) -> None:
    # Issue 24 (low): max_position_embeddings 0 read as "not given" and turned the context check off.
    with pytest.raises(HwprofError, match="max_position_embeddings must be"):
        from_hf_config(write(tmp_path, {**LLAMA, "max_position_embeddings": 0}))
    # elsewhere 0 still means none: DeepSeek-V3 without its shared expert, 58 MoE layers x 3 x 7168 x 2048 fewer
    deepseek = json.loads((CONFIGS / "deepseek-v3.json").read_text(encoding="utf-8"))
    unshared = from_hf_config(write(tmp_path, {**deepseek, "n_shared_experts": 0}))
    assert from_hf_config(CONFIGS / "deepseek-v3.json").params - unshared.params == 58 * 3 * 7168 * 2048


def train_time(run_cli: Any, *model: str) -> float:
    args = ("estimate", "train", *model, "--tokens", "14.8e12", "--system", "p5.48xlarge", "--count", "256", "--json")
    result = run_cli(*args)
    assert result.code == 0, result.err
    return float(find(result.json(), "time_s")["expected"])


def test_model_config_does_not_train_at_its_longest_context(run_cli: Any) -> None:
    # DeepSeek-V3's max_position_embeddings is 163,840: as the training sequence, attention was +437%.
    preset = train_time(run_cli, "--model", "deepseek-v3")
    config = train_time(run_cli, "--model-config", str(CONFIGS / "deepseek-v3.json"))
    assert config == pytest.approx(preset, rel=0.05)


def test_model_config_without_hidden_act_takes_the_model_types_default(run_cli: Any, tmp_path: Path) -> None:
    # LlamaConfig defaults hidden_act to "silu" (a gated MLP): without it Llama 405B was counted as 296B.
    config = {"model_type": "llama", "hidden_size": 16384, "intermediate_size": 53248, "num_hidden_layers": 126,
              "num_attention_heads": 128, "num_key_value_heads": 8, "vocab_size": 128256}  # fmt: skip
    path = tmp_path / "llama-405b.json"
    path.write_text(json.dumps(config))
    result = run_cli("estimate", "train", "--model-config", path, "--tokens", "1e12", "--system", "p5.48xlarge",
                     "--count", "128", "--json")  # fmt: skip
    assert result.code == 0, result.err
    # Per layer: attention 16384 x 128 x 128 x 2 + 16384 x 8 x 128 x 2 = 570,425,344; gated MLP
    # 3 x 16384 x 53248 = 2,617,245,696; 2 norms of 16384; x 126 layers, plus the final norm and
    # untied embeddings 2 x 128256 x 16384.
    expected = 126 * (570_425_344 + 2_617_245_696 + 2 * 16_384) + 16_384 + 2 * 128_256 * 16_384
    assert find(result.json(), "params") == pytest.approx(expected)
    assert expected == pytest.approx(405.85e9, rel=1e-3)
