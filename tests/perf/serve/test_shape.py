"""``serve_shape`` by hand: Llama 3.1 8B's attention weights from its published config (32 layers,
hidden 4,096, 32 heads of 128, 8 KV heads), the routed experts' share of Mixtral 8x7B from its
total and active counts, a decoded token's attention FLOPs, and the matmul width share.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf.serve import shape as serve_shape


def test_width_share() -> None:
    assert serve_shape.width_share(300.0, 100.0) == pytest.approx(0.75)
    assert serve_shape.width_share(100.0, 100.0) == pytest.approx(0.5)


def test_attention_weights_of_llama_8b_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    assert (work.layers, work.hidden, work.heads, work.kv_heads) == (32, 4096, 32, 8)
    # Q and O: 2 x 4096 x 4096; K and V: 2 x 4096 x 8 x 128, per layer
    per_layer = 2 * 4096 * 4096 + 2 * 4096 * 1024
    assert serve_shape.attention_params(work) == 32 * per_layer
    no_dim = attrs.evolve(work, head_dim=None)  # head_dim from hidden / heads = 128
    assert serve_shape.attention_params(no_dim) == 32 * per_layer
    mha = attrs.evolve(work, kv_heads=None)  # every head its own K and V
    assert serve_shape.attention_params(mha) == 32 * (4 * 4096 * 4096)
    for unknown in ({"layers": None}, {"hidden": None}, {"heads": None}):
        assert serve_shape.attention_params(attrs.evolve(work, **unknown)) == 0.0


def test_a_latent_cache_counts_its_up_projections(reg: registry.Registry) -> None:
    work = attrs.evolve(reg.workload("llama3.1-8b"), kv_heads=None, kv_elements_per_layer=576)
    per_layer = 2 * 4096 * 32 * 128 + 576 * 32 * 2 * 128
    assert serve_shape.attention_params(work) == 32 * per_layer
    # with KV heads given, the latent figure is not used for the weights
    both = attrs.evolve(work, kv_heads=8)
    assert serve_shape.attention_params(both) == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024)


def test_routed_experts_share_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("mixtral-8x7b")
    e, k = work.experts, work.experts_per_token
    assert (e, k) == (8, 2)
    experts = (work.params - work.active) / (1 - 2 / 8)
    assert serve_shape.expert_numbers(work) == pytest.approx((experts / work.params, 0.25))
    assert serve_shape.expert_numbers(reg.workload("llama3.1-8b")) == (0.0, 0.0)
    for change in ({"experts": None}, {"experts_per_token": None}, {"active_params": work.params}):
        assert serve_shape.expert_numbers(attrs.evolve(work, **change)) == (0.0, 0.0), change


def test_decode_attention_flops_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    assert serve_shape.decode_attention_flops(work, 1000) == 4.0 * 32 * 1000 * 32 * 128
    latent = attrs.evolve(work, kv_heads=None, kv_elements_per_layer=576)
    assert serve_shape.decode_attention_flops(latent, 1000) == 4.0 * 32 * 1000 * 32 * 576
    assert serve_shape.decode_attention_flops(attrs.evolve(work, layers=None), 1000) == 0.0
    assert serve_shape.decode_attention_flops(attrs.evolve(work, heads=None), 7.0) == 0.0
