"""A Hugging Face ``config.json`` read into a ``records.Workload``: parameters counted from the
shape (attention, gated or plain MLP, mixture of experts, multi-head latent attention), read locally,
never fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwprof.data import checks, records
from hwprof.errors import HwprofError

MAX_CONFIG_BYTES = 10_000_000  # a config.json is a few kB; tokenizer files are not configs
REQUIRED_CONFIG_KEYS = ("hidden_size", "n_embd", "d_model", "num_hidden_layers", "n_layer", "num_layers",
                        "num_attention_heads", "n_head", "vocab_size")  # fmt: skip
CONFIG_LIMITS = {"num_hidden_layers": 100_000, "n_layer": 100_000, "num_layers": 100_000,
                 "max_position_embeddings": 1_000_000_000}  # fmt: skip


# A config.json gives the longest context (max_position_embeddings: 163,840 for DeepSeek-V3), not the
# sequence a run trains on; taken as that, attention FLOPs came out +437%. Without --seq-len, this.
DEFAULT_TRAIN_SEQ = 4096

# Whether the MLP is gated (gate, up and down projections: 3 matrices, not 2) follows from the
# architecture, which transformers fixes per model_type; hidden_act alone misleads (Gemma is gated
# with GELU) and is often left out of config.json, where the config class's default applies
# (LlamaConfig, MistralConfig, Qwen2Config, DeepseekV3Config ... default to "silu").
GATED_MODEL_TYPES = frozenset({
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "deepseek_v2", "deepseek_v3",
    "gemma", "gemma2", "gemma3", "gemma3_text", "phi3", "olmo", "olmo2", "olmoe", "granite", "granitemoe",
    "cohere", "cohere2", "internlm2", "dbrx", "jamba", "nemotron_h", "glm", "glm4", "exaone", "minimax",
})  # fmt: skip
PLAIN_MLP_MODEL_TYPES = frozenset({
    "gpt2", "gpt_neox", "gptj", "gpt_bigcode", "falcon", "opt", "bloom", "mpt", "phi", "starcoder2", "nemotron",
})  # fmt: skip
GATED_ACTIVATIONS = ("silu", "swiglu", "swish", "geglu")


def _model_type(config: dict[str, Any]) -> str:
    """config.json's model_type, or the one its first architecture names (LlamaForCausalLM -> llama)."""
    if isinstance(config.get("model_type"), str):
        return str(config["model_type"]).lower()
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        name = architectures[0].lower()
        for suffix in ("forcausallm", "lmheadmodel", "forconditionalgeneration", "model"):
            name = name.removesuffix(suffix)
        known = {t.replace("_", ""): t for t in GATED_MODEL_TYPES | PLAIN_MLP_MODEL_TYPES}
        return known.get(name, name)
    return ""


def _gated(config: dict[str, Any]) -> bool:
    model_type = _model_type(config)
    if model_type in GATED_MODEL_TYPES:
        return True
    if model_type in PLAIN_MLP_MODEL_TYPES:
        return False
    act = config.get("hidden_act", config.get("activation_function", "silu"))  # unknown type: most LLMs now gate
    return isinstance(act, str) and act.lower() in GATED_ACTIVATIONS


def from_hf_config(path: Path) -> records.Workload:
    """Read a Hugging Face ``config.json`` (read locally, never fetched) into a Workload."""
    import json

    from hwprof.data.files import read_text

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

    def get(*keys: str) -> int | None:
        """The first of ``keys`` present; a value present but not a whole number in range is an error."""
        for key in keys:
            value = config.get(key)
            if value is None or (value == 0 and key not in REQUIRED_CONFIG_KEYS and not isinstance(value, bool)):
                continue  # absent, null, or 0 for an optional count (no shared experts, no dense layers)
            if (problem := checks.count(key, 1, CONFIG_LIMITS.get(key, 10_000_000)).problem(value)) is not None:
                raise fail(problem)
            return int(value)
        return None

    hidden, layers = get("hidden_size", "n_embd", "d_model"), get("num_hidden_layers", "n_layer", "num_layers")
    heads = get("num_attention_heads", "n_head")
    vocab, ffn = get("vocab_size"), get("intermediate_size", "n_inner", "ffn_dim")
    if not (hidden and layers and heads and vocab):
        raise HwprofError("needs hidden_size, num_hidden_layers, num_attention_heads and vocab_size to count "
                          "parameters", subject="model_config", value=path)  # fmt: skip
    kv_heads = get("num_key_value_heads") or heads
    if heads > hidden or kv_heads > heads:
        raise fail(f"{heads} attention heads and {kv_heads} key/value heads do not fit a width of {hidden} "
                   "(key/value heads <= heads <= hidden_size)")  # fmt: skip
    ffn = ffn or 4 * hidden
    gated = 3 if _gated(config) else 2
    kv_lora = get("kv_lora_rank")
    if kv_lora:  # multi-head latent attention: the cache holds the latent and the rope key
        rope, nope = get("qk_rope_head_dim") or 0, get("qk_nope_head_dim") or 0
        head_dim = get("v_head_dim") or hidden // heads
        q_lora = get("q_lora_rank")
        query = (hidden * q_lora + q_lora * heads * (nope + rope)) if q_lora else hidden * heads * (nope + rope)
        attention = query + hidden * (kv_lora + rope) + kv_lora * heads * (nope + head_dim) + heads * head_dim * hidden
        kv_elements: int | None = kv_lora + rope
    else:
        head_dim = get("head_dim") or hidden // heads
        attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
        kv_elements = None
    dense_mlp = gated * hidden * ffn
    experts = get("num_local_experts", "n_routed_experts")
    embed = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    if experts:
        per_token, shared = get("num_experts_per_tok") or 1, get("n_shared_experts") or 0
        if per_token > experts:
            raise fail(f"num_experts_per_tok ({per_token}) is more than the {experts} experts")
        expert_mlp = gated * hidden * (get("moe_intermediate_size") or ffn)
        dense_layers = min(get("first_k_dense_replace") or 0, layers)
        moe_layers = layers - dense_layers
        base = layers * attention + dense_layers * dense_mlp + embed + moe_layers * shared * expert_mlp
        total = base + moe_layers * experts * expert_mlp
        active = base + moe_layers * per_token * expert_mlp
    else:
        total = active = layers * (attention + dense_mlp) + embed
    source = records.Source(
        key=path.stem,
        title=f"{path}, parameters counted from the shape; training sequence {DEFAULT_TRAIN_SEQ:,} assumed "
        "(--seq-len to change; max_position_embeddings is the longest context)",
    )
    return records.Workload(id=path.stem, name=path.stem, params=float(total), active_params=float(active),
                            source=source, status="derived", layers=layers, hidden=hidden, heads=heads,
                            kv_heads=kv_heads, head_dim=head_dim, kv_elements_per_layer=kv_elements,
                            seq_len=DEFAULT_TRAIN_SEQ, max_context=get("max_position_embeddings"), experts=experts,
                            experts_per_token=(get("num_experts_per_tok") or 1) if experts else None, vocab=vocab)  # fmt: skip
