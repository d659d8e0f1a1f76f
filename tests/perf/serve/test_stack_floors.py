"""A serving stack's fixed costs and prompt scheduling (issue 19), each checked by hand arithmetic
or against the published figure it was fitted on."""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import cluster
from hwprof.perf.serve import cases as serve_cases
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import serving, traffic

POW2 = tuple(2**i for i in range(7, 18))  # the Neuron defaults: 128 ... 131,072


def on(reg: registry.Registry, system: str, chips: int) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), chips, s, reg.interconnects)


def test_padding_goes_up_to_the_next_bucket_and_no_further() -> None:
    assert sl.padded(128, POW2) == 128  # a bucket holds its own length
    assert sl.padded(129, POW2) == 256
    assert sl.padded(1500, POW2) == 2048
    assert sl.padded(10_000, (2048, 4096, 8192, 12288)) == 12288  # the 70B tutorial's buckets
    assert sl.padded(20_000, (2048, 4096, 8192, 12288)) == 20_000  # past the largest: itself
    assert sl.padded(77, ()) == 77  # no buckets: no padding


def test_the_chip_profile_names_the_stack_and_a_refit_replaces_its_floors(reg: registry.Registry) -> None:
    trn1 = reg.chip("trainium1")
    tnx = sl.stack_of(trn1, "transformers-neuronx")
    entry = trn1.serving_stacks["transformers-neuronx"]
    assert (tnx.request_floor_us, tnx.collective_latency_us) == (entry.request_floor_us.value,
                                                                  entry.collective_latency_us.value)  # fmt: skip
    assert tnx.step_floor_us == 0.0 and tnx.chunked_prefill is False  # no floor of its own; prompts run alone
    assert sl.stack_of(trn1) == tnx  # its only stack is its default
    assert sl.stack_of(trn1, "no-such-stack") == sl.StackServing(name="no-such-stack")  # adds nothing
    refit = sl.Constants(floors=(("trainium1.transformers-neuronx.request_floor_us", 7.0),))
    assert sl.stack_of(trn1, "transformers-neuronx", refit).request_floor_us == 7.0
    nxdi = sl.stack_of(reg.chip("trainium2"), "neuronx-distributed")
    assert nxdi.prompt_buckets == POW2 and not nxdi.chunked_prefill


def test_floors_add_per_layer_to_every_step_and_once_per_request(reg: registry.Registry) -> None:
    """Llama 3.1 70B (80 layers) on 2 x H100 at TP2: a stack of 50 us per layer per step and 100 us
    per layer per request adds 80 x 50 us = 4 ms to every decode step and, to a 5,000-token prompt
    alone in one chunk, 4 ms + 80 x 100 us = 12 ms."""
    seventy = reg.workload("llama3.1-70b")
    tgt = on(reg, "p5.48xlarge", 2)
    lay = sl.ServeLayout(tp=2, weights="fp8", kv_cache="fp8")
    stack = sl.StackServing(name="x", step_floor_us=50.0, request_floor_us=100.0)
    bare, floored = sl.replica(seventy, tgt, lay), sl.replica(seventy, tgt, lay, stack=stack)
    assert floored.floor_s == pytest.approx(80 * 50e-6) and floored.request_s == pytest.approx(80 * 100e-6)
    flops_per_token = 2 * seventy.active
    for batch in (1.0, 16.0):
        step = sl.decode_step(sl.step_of(floored, 5000, flops_per_token), batch)
        assert step == pytest.approx(sl.decode_step(sl.step_of(bare, 5000, flops_per_token), batch) + 0.004)
    flops = 5000 * seventy.forward_flops_per_token(2500)
    assert sum(sl.prompt_time(floored, 5000, flops, 1)) == pytest.approx(sum(sl.prompt_time(bare, 5000, flops, 1))
                                                                         + 0.004 + 0.008)  # fmt: skip
    # two chunks are two forward steps: 2 x 4 ms, the request's 8 ms once
    assert sum(sl.prompt_time(floored, 5000, flops, 2)) == pytest.approx(sum(sl.prompt_time(bare, 5000, flops, 2))
                                                                         + 0.008 + 0.008)  # fmt: skip
    # under load a chunked stack's prompt shares the decode step's floor; an unchunked one pays its own
    assert sum(sl.prompt_time(floored, 5000, flops, 1, batched=True)) == pytest.approx(
        sum(sl.prompt_time(bare, 5000, flops, 1, batched=True)))  # fmt: skip
    alone = attrs.evolve(floored, chunked_prefill=False)
    assert sum(sl.prompt_time(alone, 5000, flops, 1, batched=True)) == pytest.approx(
        sum(sl.prompt_time(bare, 5000, flops, 1, batched=True)) + 0.004)  # fmt: skip


def test_host_floors_do_not_scale_with_depth(reg: registry.Registry) -> None:
    """A host cost of 14 ms per step and 100 ms per request is the same on 32 layers (8B) as on 80
    (70B); per-layer floors of 10 us are 0.32 ms and 0.8 ms."""
    stack = sl.StackServing(name="x", step_floor_us=10.0, step_host_us=14_000.0, request_host_us=100_000.0)
    tgt = on(reg, "p5.48xlarge", 2)
    for name, layers in (("llama3.1-8b", 32), ("llama3.1-70b", 80)):
        r = sl.replica(reg.workload(name), tgt, sl.ServeLayout(tp=2), stack=stack)
        assert r.floor_s == pytest.approx(0.014 + layers * 10e-6) and r.request_s == pytest.approx(0.1)


def test_a_stack_latency_replaces_the_pooled_one_per_collective_step(reg: registry.Registry) -> None:
    """160 all-reduces per decode step; the pooled floor is 12 us per step; a stack measured at 30 us
    per step raises every tier's latency to 30 us, so the fixed collective time grows 2.5-fold where
    the link's own latency is below both."""
    seventy = reg.workload("llama3.1-70b")
    tgt = on(reg, "p5.48xlarge", 2)
    lay = sl.ServeLayout(tp=2, weights="fp8")
    own = sl.StackServing(name="x", collective_latency_us=30.0)
    assert all(t.link.latency_us >= 30.0 for t in sl.tiers(tgt, sl.SHIPPED, own))
    pooled, stacked = sl.replica(seventy, tgt, lay), sl.replica(seventy, tgt, lay, stack=own)
    assert stacked.comm_fixed_s == pytest.approx(pooled.comm_fixed_s * 30.0 / 12.0)


def test_a_prompt_that_cannot_ride_a_step_waits_for_half_of_the_running_one() -> None:
    """step(B) = 10 ms + 1 ms x B; a prompt of 50 ms; 1 request/s of 100 tokens on one replica.
    Chunked: the prompt carries the running decodes' work, S = 50 ms + (step(B) - step(0)).
    Unchunked: no decode work rides along; it waits for the step under way: S = 50 ms + step(B) / 2."""

    def step(b: float) -> float:
        return 0.010 + 0.001 * b

    chunked = traffic.at_rate(1.0, 100, 0.05, step, 64.0)
    alone = traffic.at_rate(1.0, 100, 0.05, step, 64.0, chunked=False)
    b = chunked.running_sequences
    assert alone.running_sequences == pytest.approx(b)  # the decodes stall alike (1 - rho)
    lane = 0.05 + 0.001 * b
    rho = 1.0 * lane
    assert chunked.ttft_mean_s == pytest.approx(0.05 + 0.001 * b + rho * lane / (2 * (1 - rho)))
    rho = 0.05
    assert alone.ttft_mean_s == pytest.approx(0.05 + step(b) / 2 + rho * 0.05 / (2 * (1 - rho)))
    one = traffic.at_concurrency(1, 100, 0.05, step, 64.0, chunked=False)
    assert one.ttft_mean_s == pytest.approx(0.05)  # one user: nothing is running when it sends


def test_bucket_padding_reaches_the_prompt_flops(reg: registry.Registry) -> None:
    """Llama 3.1 8B on one trn2 chip alone: a 1,500-token prompt on a stack compiled at 2,048 costs the
    FLOPs of 2,048 tokens, the same as a 2,048-token prompt on it, and more than 1,500 unpadded."""
    eight = reg.workload("llama3.1-8b")
    tgt = on(reg, "trn2.48xlarge", 1)
    lay = sl.ServeLayout(tp=1)
    bare = sl.StackServing(name="x", chunked_prefill=False)
    bucketed = attrs.evolve(bare, prompt_buckets=POW2)

    def alone(stack: sl.StackServing, tokens: int) -> float:
        load = serving.Traffic(tokens, 10, concurrency=1)
        return serving.estimate_serve(eight, tgt, lay, load, stack=stack).breakdown.prompt_compute_s

    assert alone(bucketed, 1500) == pytest.approx(alone(bare, 2048))
    assert alone(bucketed, 1500) > alone(bare, 1500) * 1.3  # 2,048 / 1,500 = 1.37 of the FLOPs and more


def test_batch_buckets_pad_the_decode_step() -> None:
    s = sl.Step(pp=1, weights_s=0.0, expert_share=0.0, expert_miss=0.0, kv_s=0.001, compute_s=0.0, comm_fixed_s=0.0,
                comm_s=0.0, batch_buckets=(1, 4, 16))  # fmt: skip
    assert sl.decode_step(s, 1.0) == pytest.approx(0.001)
    assert sl.decode_step(s, 2.0) == pytest.approx(0.004)  # two sequences run as four
    assert sl.decode_step(s, 5.0) == pytest.approx(0.016)


@pytest.mark.parametrize(
    "case_id",
    ["cal-serve-tnx-trn1-llama2-70b-128-ttft", "cal-serve-tnx-trn1-llama2-7b-128-tpot",
     "cal-serve-trtllm05-h100-llama2-7b-ttft-128", "cal-serve-optimum-trn2-8b-sync-tpot"],
)  # fmt: skip
def test_the_batch_one_rows_the_floors_were_fitted_on_come_back_within_12_percent(
    reg: registry.Registry, case_id: str
) -> None:
    """Each floor is one number per chip x stack fitted on two rows at most: the rows it rests on
    come back close (the Trainium1 latency is one value for a 7B and a 70B row)."""
    case = reg.validation_cases[case_id]
    assert serve_cases.predict(case, reg)["expected"] == pytest.approx(case.published, rel=0.12)
