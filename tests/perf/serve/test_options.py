"""Speculative decoding and prefix caching (hwprof.perf.serve.options): each against a hand computation."""

from __future__ import annotations

import pytest

from hwprof.data import registry
from hwprof.errors import HwprofError
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import options as opt
from hwprof.perf.serve import shape as serve_shape


def test_speculation_scales_a_step_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-70b")  # 80 layers: a draft token costs 1/80 of a step
    s = sl.Step(pp=1, weights_s=0.010, expert_share=0.0, expert_miss=1.0, kv_s=1e-4, compute_s=2e-5,
                comm_fixed_s=1e-3, comm_s=1e-6, attention_s=3e-6)  # fmt: skip
    got = opt.ServeOptions(draft_tokens=2, accepted_per_step=2.5).step(s, work)
    per_token = (1 + 2 / 80) / 2.5  # the step and its 2 draft tokens, over 2.5 tokens emitted
    assert got.weights_s == pytest.approx(0.010 * per_token) and got.kv_s == pytest.approx(1e-4 * per_token)
    assert got.compute_s == pytest.approx(2e-5 * 3 * per_token)  # 3 tokens verified per sequence
    assert got.attention_s == pytest.approx(3e-6 * 3 * per_token) and got.comm_s == pytest.approx(1e-6 * 3 * per_token)
    assert got.comm_fixed_s == pytest.approx(1e-3 * per_token)
    # memory-bound at a batch of 8: weights + KV reads once per step, so TPOT falls by per_token
    assert sl.decode_step(got, 8.0) == pytest.approx((0.010 + 8e-4 + 1e-3 + 8e-6 * 3) * per_token)
    assert opt.NONE.step(s, work) is s


def test_a_mixture_of_experts_verifies_more_tokens_and_touches_more_experts(reg: registry.Registry) -> None:
    s = sl.Step(pp=1, weights_s=0.01, expert_share=0.9, expert_miss=0.75, kv_s=0.0, compute_s=0.0,
                comm_fixed_s=0.0, comm_s=0.0)  # fmt: skip
    got = opt.ServeOptions(draft_tokens=1, accepted_per_step=1.0, draft_cost=0.0).step(s, reg.workload("mixtral-8x7b"))
    assert got.expert_miss == pytest.approx(0.75**2)  # 2 tokens a sequence: each expert missed by both


def test_a_cached_prefix_is_not_prefilled(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-70b")
    new, flops, attention = opt.NONE.prompt(work, 4000)
    assert (new, flops) == (4000, 4000 * work.forward_flops_per_token(2000))
    assert attention == pytest.approx(serve_shape.prompt_attention_flops(work, 4000))
    new, flops, attention = opt.ServeOptions(cached_share=0.5).prompt(work, 4000)
    # 2,000 new tokens at positions 2,000-4,000: mean context 3,000
    assert new == 2000 and flops == pytest.approx(2000 * work.forward_flops_per_token(3000))
    scores = work.forward_flops_per_token(3000) - 2 * work.active
    assert attention == pytest.approx(2000 * (2 * serve_shape.attention_params(work) + scores))


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (opt.ServeOptions(draft_tokens=-1), "draft tokens must be 0 or more"),
        (opt.ServeOptions(draft_tokens=2, accepted_per_step=3.5), "accepted tokens per step must be between 1 and"),
        (opt.ServeOptions(accepted_per_step=0.5), "accepted tokens per step must be between 1 and"),
        (opt.ServeOptions(draft_tokens=1, draft_cost=1.0), "a draft token's cost is a share"),
        (opt.ServeOptions(cached_share=1.0), "the cached prefix share is 0 to below 1"),
    ],
)
def test_impossible_options_are_refused(options: opt.ServeOptions, needle: str) -> None:
    with pytest.raises(HwprofError, match=f"^{needle}"):
        options.check()


def test_a_cached_half_prompt_halves_the_prefill_by_hand(reg: registry.Registry) -> None:
    from hwprof.perf import cluster
    from hwprof.perf.serve import serving

    work = reg.workload("llama3.1-70b")
    system = reg.system("p5en.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)
    lay = sl.ServeLayout(tp=8, weights="fp8", kv_cache="fp8")

    def prompt(share: float) -> float:
        load = serving.Traffic(4000, 500, rate_per_s=1.0, options=opt.ServeOptions(cached_share=share))
        return serving.estimate_serve(work, target, lay, load).breakdown.prompt_compute_s

    # compute-bound (0.1 s of FLOPs against 2.5 ms of weight reads): the time goes with the FLOPs
    ratio = 2000 * work.forward_flops_per_token(3000) / (4000 * work.forward_flops_per_token(2000))
    assert prompt(0.5) / prompt(0.0) == pytest.approx(ratio, rel=1e-9)
    assert 0.45 < ratio < 0.6


def test_speculation_divides_a_memory_bound_step_by_hand(reg: registry.Registry) -> None:
    from hwprof.perf import cluster
    from hwprof.perf.serve import serving

    work = reg.workload("llama3.1-8b")  # 32 layers
    system = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)
    lay = sl.ServeLayout(tp=1, dp=8)  # one chip a replica: no collectives; 8 users, one each

    def tpot(options: opt.ServeOptions) -> float:
        load = serving.Traffic(1000, 200, concurrency=8, options=options)
        return serving.estimate_serve(work, target, lay, load).tpot_s.expected

    # one sequence, memory bound: every part of the step is read once, so it scales by (1 + k / L) / a
    spec = opt.ServeOptions(draft_tokens=2, accepted_per_step=2.5)
    assert tpot(spec) / tpot(opt.NONE) == pytest.approx((1 + 2 / 32) / 2.5, rel=1e-9)
