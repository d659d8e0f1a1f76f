"""What a model's shape implies for serving, independent of the layout: the attention weights,
the routed experts' share, a decoded token's attention FLOPs, and how a narrow matmul slows.
``serve_layout`` uses these; they take a ``Workload`` and numbers only."""

from __future__ import annotations

from typing import Any

from ...data import records


def width_share(width: Any, half_width: float) -> Any:
    """Share of a large matmul's rate a matmul reaches whose narrower side is ``width`` (training's
    ``step.size_factor``: ``w / (w + half_width)``)."""
    return width / (width + half_width)


def attention_params(shape: records.Workload) -> float:
    """Q, K, V and output projections over all layers (0 when the shape is unknown). A latent cache
    (multi-head latent attention) replaces the K and V projections by the latent's up-projections:
    ``latent x heads x 2 x head_dim`` per layer (its low-rank query is counted as full, an upper bound)."""
    if not (shape.layers and shape.hidden and shape.heads):
        return 0.0
    head_dim = shape.head_dim or shape.hidden // shape.heads
    query_and_output = 2 * shape.hidden * shape.heads * head_dim
    if shape.kv_elements_per_layer and not shape.kv_heads:
        key_value = shape.kv_elements_per_layer * shape.heads * 2 * head_dim
    else:
        key_value = 2 * shape.hidden * (shape.kv_heads or shape.heads) * head_dim
    return float(shape.layers * (query_and_output + key_value))


def expert_numbers(shape: records.Workload) -> tuple[float, float]:
    """(share of weights in routed experts, k / E). Routed expert weights are (params - active) /
    (1 - k/E): the active count holds k/E of them. Without E and k, the model reads as dense."""
    if not (shape.is_moe and shape.experts and shape.experts_per_token):
        return 0.0, 0.0
    pick = shape.experts_per_token / shape.experts
    experts = (shape.params - shape.active) / (1 - pick)
    return experts / shape.params, pick


def decode_attention_flops(shape: records.Workload, context: Any) -> Any:
    """One decoded token's attention FLOPs over ``context`` cached tokens: ``4 x layers x context x
    heads x head_dim`` (scores and values). A latent cache (multi-head latent attention) decodes with
    its up-projections absorbed, every query head attending to the ``latent`` elements themselves
    (DeepSeek-V2, arXiv:2405.04434, 2.1.3): ``4 x layers x context x heads x latent``."""
    if not (shape.layers and shape.heads):
        return 0.0 * context
    if shape.kv_elements_per_layer and not shape.kv_heads:
        return 4.0 * shape.layers * context * shape.heads * shape.kv_elements_per_layer
    return 4.0 * shape.layers * context * (shape.attention_width or 0)


def prompt_attention_flops(shape: records.Workload, tokens: Any) -> Any:
    """The attention side of a prompt of ``tokens``: its attention projections (``2 x
    attention_params`` per token) and its causal scores (``forward_flops_per_token`` beyond
    ``2 x active`` at mean context ``tokens / 2``)."""
    scores = shape.forward_flops_per_token(tokens / 2) - 2 * shape.active
    return tokens * (2 * attention_params(shape) + scores)
