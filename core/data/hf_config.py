"""A Hugging Face ``config.json`` read into a ``records.Workload``, read locally, never fetched.

Parameters are counted the way each family's transformers code lays out its weights: attention
(grouped-query, with the family's biases and norms, or DeepSeek's multi-head latent attention),
the gated MLP, mixture of experts (routed, shared, routers, dense layers between), embeddings tied
or not. So a family is read only once its layout is written down here (``FAMILIES``): any other
``model_type`` is refused by name, never counted as a dense model. A multimodal config (Gemma 3,
Llama 4) is read for its language model (``text_config``); the vision encoder, which does not run
per generated token, is left out. Layers that keep only a window of the cache (sliding or chunked
attention) are counted in ``sliding_layers`` with their ``sliding_window``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ..errors import HwprofError
from . import checks, records, shape

MAX_CONFIG_BYTES = 10_000_000  # a config.json is a few kB; tokenizer files are not configs
CONFIG_LIMITS = {"num_hidden_layers": 100_000, "max_position_embeddings": 1_000_000_000}
# 0 reads as "none" for an optional count (no shared experts, no dense layers); not for these.
NEVER_ZERO = ("max_position_embeddings",)  # 0 would turn the context check off
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")

# A config.json gives the longest context (max_position_embeddings: 163,840 for DeepSeek-V3), not the
# sequence a run trains on; taken as that, attention FLOPs came out +437%. Without --seq-len, this.
DEFAULT_TRAIN_SEQ = 4096


class Family(NamedTuple):
    """What a model_type's transformers code builds beyond what its config.json says. Every family
    here has a gated MLP (gate, up and down: 3 matrices; Gemma's is gated with GELU)."""

    experts: str = ""  # the key counting the routed experts; "" for a dense family
    expert_width: str = "intermediate_size"  # the key giving one routed expert's MLP width
    tied: bool = False  # the config class's tie_word_embeddings, for a file that leaves it out
    norms: int = 2  # norm weight vectors of hidden_size per layer (Gemma 2 and 3 also norm after)
    qk_norm: bool = False  # a norm over each query and key head: 2 x head_dim weights per layer
    qkv_bias: bool = False  # biases on Q, K and V whatever attention_bias says (Qwen2's code)
    defaults: dict[str, Any] = {}  # the config class's defaults for keys published files leave out


FAMILIES = {
    "llama": Family(),
    "mistral": Family(defaults={"sliding_window": 4096}),
    "mixtral": Family(experts="num_local_experts"),
    "qwen2": Family(qkv_bias=True),
    "qwen2_moe": Family(experts="num_experts", expert_width="moe_intermediate_size", qkv_bias=True),
    "qwen3": Family(qk_norm=True),
    "qwen3_moe": Family(experts="num_experts", expert_width="moe_intermediate_size", qk_norm=True),
    "deepseek_v2": Family(experts="n_routed_experts", expert_width="moe_intermediate_size"),
    "deepseek_v3": Family(experts="n_routed_experts", expert_width="moe_intermediate_size",
                          defaults={"first_k_dense_replace": 3, "n_shared_experts": 1}),
    "gemma": Family(tied=True),
    "gemma2": Family(tied=True, norms=4, defaults={"sliding_window": 4096}),
    "gemma3_text": Family(tied=True, norms=4, qk_norm=True, defaults={
        "vocab_size": 262_208, "max_position_embeddings": 131_072, "sliding_window": 4096,
        "sliding_window_pattern": 6}),
    "gpt_oss": Family(experts="num_local_experts", defaults={"sliding_window": 128}),
    "llama4_text": Family(experts="num_local_experts", defaults={
        "intermediate_size_mlp": 16_384, "interleave_moe_layer_step": 1, "attention_chunk_size": 8192}),
}  # fmt: skip
WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text"}  # the language model is their text_config
ARCHITECTURES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2", "Qwen2MoeForCausalLM": "qwen2_moe", "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe", "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3", "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3_text", "Gemma3ForConditionalGeneration": "gemma3", "GptOssForCausalLM": "gpt_oss",
    "Llama4ForCausalLM": "llama4_text", "Llama4ForConditionalGeneration": "llama4",
}  # fmt: skip
EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def from_hf_config(path: Path) -> records.Workload:
    """Read a Hugging Face ``config.json`` (read locally, never fetched) into a Workload."""
    import json

    from .files import read_text

    def fail(message: str) -> HwprofError:
        return HwprofError(message, subject="model_config", value=path)

    try:
        text = read_text(path, MAX_CONFIG_BYTES, "Hugging Face config.json")
    except HwprofError as exc:  # says the path itself: keep only what follows it
        raise fail(str(exc).removeprefix(f"{path}: ")) from None
    try:
        config: dict[str, Any] = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or an integer of over 4,300 digits
        raise fail(f"not valid JSON ({str(exc).split('; use')[0][:120]}); pass a Hugging Face config.json") from None
    if not isinstance(config, dict):
        raise fail("expected a JSON object")
    model_type = _model_type(config, fail)
    if model_type in WRAPPERS:
        inner = config.get("text_config")
        if not isinstance(inner, dict):
            raise fail(f"model_type {model_type} keeps its language model in text_config, which is missing")
        config = {**{k: config[k] for k in ("tie_word_embeddings",) if k in config}, **inner}
        model_type = WRAPPERS[model_type]
    family = FAMILIES[model_type]
    config = {**family.defaults, **config}

    def get(key: str, required: bool = False) -> int | None:
        """``key``'s whole number; absent, null or an optional 0 is None; anything else is an error."""
        value = config.get(key)
        if value is None and required:
            raise fail(f"needs {key} to count a {model_type} model's parameters")
        if value is None or (value == 0 and not required and key not in NEVER_ZERO and not isinstance(value, bool)):
            return None
        if (problem := checks.count(key, 1, CONFIG_LIMITS.get(key, 10_000_000)).problem(value)) is not None:
            raise fail(problem)
        return int(value)

    if any(config.get(key) is None for key in REQUIRED):
        raise fail(f"needs {', '.join(REQUIRED[:-1])} and {REQUIRED[-1]} to count parameters")
    hidden, layers, heads, ffn, vocab = (get(key, required=True) or 0 for key in REQUIRED)
    if not family.experts and (extra := [k for k in EXPERT_KEYS if get(k)]):
        raise fail(f"gives {extra[0]}, but model_type {model_type} has no experts; check model_type")
    kv_heads = get("num_key_value_heads") or heads
    head_dim = get("head_dim")
    names = {"hidden": "hidden_size", "heads": "num_attention_heads", "kv_heads": "num_key_value_heads",
             "layers": "num_hidden_layers", "experts": family.experts or "experts",
             "experts_per_token": "num_experts_per_tok"}  # fmt: skip
    if found := shape.problems(names, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim):
        raise fail(found[0][1])
    attention, kv_elements, head_dim = _attention(model_type, family, config, get, hidden, heads, kv_heads, head_dim)

    def mlp(width: int) -> int:
        return 3 * hidden * width

    experts = get(family.experts) if family.experts else None
    per_token = (get("num_experts_per_tok") or get("experts_per_token") or 1) if experts else None
    moe = _moe_layers(model_type, config, get, layers) if experts else [False] * layers
    dense = mlp((get("intermediate_size_mlp") or ffn) if model_type == "llama4_text" else ffn)
    expert = mlp(get(family.expert_width) or ffn) if experts else 0
    shared = {"qwen2_moe": mlp(get("shared_expert_intermediate_size") or 0) + hidden,  # and its 1-wide gate
              "deepseek_v2": (get("n_shared_experts") or 0) * expert, "deepseek_v3": (get("n_shared_experts") or 0) * expert,
              "llama4_text": expert}.get(model_type, 0)  # fmt: skip
    router = hidden * (experts or 0)
    moe_count = sum(moe)
    tied = config.get("tie_word_embeddings")
    embed = vocab * hidden * (1 if (tied if isinstance(tied, bool) else family.tied) else 2)
    norms = layers * family.norms * hidden + hidden
    base = layers * attention + (layers - moe_count) * dense + moe_count * (shared + router) + embed + norms
    total = base + moe_count * (experts or 0) * expert
    active = base + moe_count * (per_token or 0) * expert
    if found := shape.problems(names, experts=experts, experts_per_token=per_token):
        raise fail(found[0][1])
    window, local = _sliding(model_type, config, get, layers, fail)
    width = expert // (3 * hidden) if moe_count == layers else dense // (3 * hidden)  # as the presets give it
    source = records.Source(
        key=path.stem,
        title=f"{path}, parameters counted from its {model_type} layout; training sequence {DEFAULT_TRAIN_SEQ:,} "
        "assumed (--seq-len to change; max_position_embeddings is the longest context)",
    )
    return records.Workload(id=path.stem, name=path.stem, params=float(total), active_params=float(active),
                            source=source, status="derived", layers=layers, hidden=hidden, heads=heads,
                            kv_heads=None if kv_elements else kv_heads, head_dim=head_dim,
                            kv_elements_per_layer=kv_elements, ffn_hidden=width, vocab=vocab, seq_len=DEFAULT_TRAIN_SEQ,
                            max_context=get("max_position_embeddings"), experts=experts,
                            experts_per_token=per_token, sliding_window=window, sliding_layers=local)  # fmt: skip


def _model_type(config: dict[str, Any], fail: Any) -> str:
    """config.json's model_type, or the one its first architecture names; refused unless known."""
    named, architectures = config.get("model_type"), config.get("architectures")
    if isinstance(named, str):
        model_type = named
    elif isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        model_type = ARCHITECTURES.get(architectures[0], architectures[0])
    else:
        model_type = ""
    if model_type in FAMILIES or model_type in WRAPPERS:
        return model_type
    said = f"model_type {model_type!r}" if model_type else "no model_type or architectures"
    raise fail(f"{said}: hwprof counts the parameters of {', '.join(sorted(FAMILIES | WRAPPERS))}; for another "
               "model give its counts instead (`params`, `active_params`, `layers`, `hidden`, `heads`, `kv_heads`)")  # fmt: skip


def _attention(model_type: str, family: Family, config: dict[str, Any], get: Any, hidden: int, heads: int,
               kv_heads: int, head_dim: int | None) -> tuple[int, int | None, int]:  # fmt: skip
    """(attention weights per layer, latent cache elements per layer or None, head_dim)."""
    if model_type.startswith("deepseek"):  # multi-head latent attention: low-rank query, K and V from a latent
        latent, rope = get("kv_lora_rank", True), get("qk_rope_head_dim", True)
        nope, value = get("qk_nope_head_dim", True), get("v_head_dim", True)
        q_lora = get("q_lora_rank")
        query = hidden * q_lora + q_lora + q_lora * heads * (nope + rope) if q_lora else hidden * heads * (nope + rope)
        key_value = hidden * (latent + rope) + latent + latent * heads * (nope + value)
        return query + key_value + heads * value * hidden, latent + rope, value  # the cache: latent + rope key
    head_dim = head_dim or hidden // heads
    width, kv_width = heads * head_dim, kv_heads * head_dim
    weights = 2 * hidden * width + 2 * hidden * kv_width
    if family.qkv_bias:
        weights += width + 2 * kv_width
    elif config.get("attention_bias") is True:
        weights += width + 2 * kv_width + hidden
    if family.qk_norm:
        weights += 2 * head_dim
    return weights, None, head_dim


def _moe_layers(model_type: str, config: dict[str, Any], get: Any, layers: int) -> list[bool]:
    """Which layers route to experts (the others have a dense MLP), as each family's code decides."""
    if model_type in ("qwen2_moe", "qwen3_moe"):
        step, only_mlp = get("decoder_sparse_step") or 1, _indices(config.get("mlp_only_layers"))
        return [i not in only_mlp and (i + 1) % step == 0 for i in range(layers)]
    if model_type.startswith("deepseek"):
        first, every = get("first_k_dense_replace") or 0, get("moe_layer_freq") or 1
        return [i >= first and i % every == 0 for i in range(layers)]
    if model_type == "llama4_text":
        listed, step = config.get("moe_layers"), get("interleave_moe_layer_step") or 1
        return [i in _indices(listed) if isinstance(listed, list) else (i + 1) % step == 0 for i in range(layers)]
    return [True] * layers


def _indices(value: Any) -> set[int]:
    """The layer numbers a list key gives (anything else in it, or not a list: none)."""
    return {v for v in value if isinstance(v, int) and not isinstance(v, bool)} if isinstance(value, list) else set()


def _sliding(
    model_type: str, config: dict[str, Any], get: Any, layers: int, fail: Any
) -> tuple[int | None, int | None]:
    """(window, how many layers keep only that window of the cache), or (None, None)."""
    types = config.get("layer_types")
    if model_type == "llama4_text":  # chunked attention on the layers with rope: a chunk at most in the cache
        window, flags = get("attention_chunk_size"), config.get("no_rope_layers")
        local = sum(1 for f in flags if f) if isinstance(flags, list) and flags else layers - layers // 4
    elif isinstance(types, list) and types:
        if len(types) != layers:
            raise fail(f"layer_types lists {len(types)} layers, num_hidden_layers says {layers}")
        window, local = get("sliding_window"), sum(t == "sliding_attention" for t in types)
    elif model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):  # layers from max_window_layers on
        window = get("sliding_window") if config.get("use_sliding_window") is True else None
        local = max(0, layers - (get("max_window_layers") or 0))
    else:
        window = get("sliding_window")
        local = {"gemma2": (layers + 1) // 2, "gpt_oss": (layers + 1) // 2,
                 "gemma3_text": layers - layers // (get("sliding_window_pattern") or 6)}.get(model_type, layers)  # fmt: skip
    return (window, local) if window and local else (None, None)
