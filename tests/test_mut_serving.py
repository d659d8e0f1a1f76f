"""The serving estimate and ``plan serve`` by their properties, computed at test time from the
estimator itself or by hand from the inputs: an open loop serves exactly its rate, replicas split
it evenly, a closed loop obeys Little's law, p90 >= p50, latency grows with the rate and falls with
bandwidth, cost is whole systems x price over the tokens; the plan's pick meets its targets when
estimated one at a time and no cheaper count of the same system does (brute force over the scalar
estimator), and its frontier is Pareto.
"""

from __future__ import annotations

import itertools

import attrs
import pytest

from hwprof.core.cost import pricing
from hwprof.core.data import records, registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, serve_search, serving
from hwprof.core.perf import serve_layout as sl


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def on(reg: registry.Registry, system: str, chips: int) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), chips, s, reg.interconnects)


def at_rate(rate: float, i: int = 1000, o: int = 200) -> serving.Traffic:
    return serving.Traffic(input_tokens=i, output_tokens=o, rate_per_s=rate)


def test_an_open_loop_serves_exactly_its_rate(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4)
    q = pricing.quote(reg.cost_model("aws"), "p5.48xlarge", region="us-east-1")
    est = serving.estimate_serve(work, target, lay, at_rate(8.0), q)
    assert est.requests_per_s == pytest.approx(8.0)
    assert est.tokens_per_s == serving.Span(pytest.approx(1600.0), pytest.approx(1600.0), pytest.approx(1600.0))
    assert est.tokens_per_s_per_chip == pytest.approx(1600.0 / 8)
    assert est.breakdown.requests_per_s_per_replica == pytest.approx(2.0)
    assert est.tokens_per_s_per_user == pytest.approx(1 / est.tpot_s.expected)
    assert est.ttft_p90_s >= est.ttft_p50_s and est.tpot_p90_s >= est.tpot_p50_s
    for span in (est.ttft_s, est.tpot_s):
        assert span.low is not None and span.high is not None and span.low <= span.expected <= span.high
    b = est.breakdown
    assert b.decode_step_s == pytest.approx(max(b.decode_memory_s, b.decode_compute_s) + b.decode_comm_s)
    assert b.queue_wait_s == pytest.approx(est.ttft_s.expected - b.prompt_alone_s)
    assert b.prompt_alone_s == pytest.approx(b.prompt_compute_s + b.prompt_comm_s)
    m = est.memory
    context = 1000 + 200 / 2
    assert m.kv_cache_bytes_per_chip == pytest.approx(
        b.running_sequences_per_replica * context * m.kv_bytes_per_token_per_chip
    )
    assert m.kv_bytes_per_token == pytest.approx(work.kv_elements_per_token() * 2)  # bf16 cache
    assert m.max_batch_per_replica == int((m.usable_bytes_per_chip - m.weights_bytes_per_chip)
                                          // (m.kv_bytes_per_token_per_chip * 1200))  # fmt: skip
    # one instance, billed whole, over the tokens it serves
    assert est.cost is not None and est.cost.systems_billed == 1
    assert est.cost.usd_per_hour == pytest.approx(q.usd_per_hour)
    per_million = q.usd_per_hour / (1600.0 * 3600) * 1e6
    assert est.cost.usd_per_million_output_tokens.expected == pytest.approx(per_million)
    assert (est.replicas, est.chips, est.layout, est.input_tokens, est.output_tokens) == (
        4,
        8,
        "tp=2,pp=1,dp=4",
        1000,
        200,
    )
    assert est.kind == "serve" and est.model == work.id and est.weights == "bf16" and est.kv_cache == "bf16"
    assert est.traffic == "8 requests/s (Poisson arrivals)"


def test_replicas_split_the_rate_evenly(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    four = serving.estimate_serve(work, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=2, dp=4), at_rate(8.0))
    one = serving.estimate_serve(work, on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2, dp=1), at_rate(2.0))
    assert four.ttft_s.expected == pytest.approx(one.ttft_s.expected)
    assert four.tpot_p90_s == pytest.approx(one.tpot_p90_s)
    assert four.breakdown.running_sequences_per_replica == pytest.approx(one.breakdown.running_sequences_per_replica)


def test_latency_grows_with_the_rate_and_falls_with_bandwidth(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=8)
    runs = [serving.estimate_serve(work, target, lay, at_rate(r)) for r in (1.0, 4.0, 8.0)]
    for slow, fast in itertools.pairwise(runs):
        assert fast.ttft_s.expected > slow.ttft_s.expected and fast.tpot_s.expected > slow.tpot_s.expected
    chip = target.chip
    faster = attrs.evolve(chip, memory_bandwidth_tbps=attrs.evolve(chip.memory_bandwidth_tbps,
                                                                    value=chip.memory_bandwidth_tbps.value * 2))  # fmt: skip
    quick = serving.estimate_serve(work, attrs.evolve(target, chip=faster), lay, at_rate(1.0))
    assert quick.tpot_s.expected < runs[0].tpot_s.expected
    assert quick.breakdown.decode_memory_s == pytest.approx(runs[0].breakdown.decode_memory_s / 2, rel=0.2)


def test_a_closed_loop_keeps_its_users(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    load = serving.Traffic(input_tokens=1000, output_tokens=200, concurrency=32)
    est = serving.estimate_serve(work, target, sl.ServeLayout(tp=2, dp=4), load)
    in_flight = est.requests_per_s * (est.ttft_s.expected + 199 * est.tpot_s.expected)
    assert in_flight == pytest.approx(32, rel=1e-3)
    assert est.traffic.startswith("concurrency 32 (closed loop")
    capped = serving.estimate_serve(work, target, sl.ServeLayout(tp=2, dp=4), attrs.evolve(load, max_batch=2))
    assert capped.breakdown.running_sequences_per_replica <= 2 * (1 + 1e-6)
    assert capped.ttft_s.expected > est.ttft_s.expected
    assert "at most 2 sequences in flight per replica" in capped.traffic
    offline = serving.estimate_serve(work, target, sl.ServeLayout(tp=2, dp=4), serving.Traffic(1000, 200))
    assert offline.traffic.startswith("offline")
    assert offline.tokens_per_s.expected > est.tokens_per_s.expected  # as many in flight as the cache holds


def test_fp8_kv_halves_the_cache_per_token(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    b16 = serving.estimate_serve(work, target, sl.ServeLayout(tp=8), at_rate(1.0))
    f8 = serving.estimate_serve(work, target, sl.ServeLayout(tp=8, kv_cache="fp8"), at_rate(1.0))
    assert f8.memory.kv_bytes_per_token == pytest.approx(b16.memory.kv_bytes_per_token / 2)
    assert f8.memory.kv_bytes_per_token_per_chip == pytest.approx(b16.memory.kv_bytes_per_token_per_chip / 2)
    assert f8.memory.max_batch_per_replica >= 2 * b16.memory.max_batch_per_replica - 1


@pytest.mark.parametrize(
    ("load", "needle"),
    [
        (serving.Traffic(1000, 200, concurrency=0), "concurrency must be at least 1, got 0"),
        (serving.Traffic(1000, 200, max_batch=0), "the batch limit must be at least 1 sequence, got 0"),
        (serving.Traffic(1000, 200, rate_per_s=0.0), "the request rate must be positive, got 0"),
        (
            serving.Traffic(1000, 200, rate_per_s=1e6),
            "1e+06 requests/s is more than 4 replicas of tp=2,pp=1,dp=4 can serve",
        ),
    ],
)
def test_bad_traffic_is_refused(reg: registry.Registry, load: serving.Traffic, needle: str) -> None:
    with pytest.raises(HwprofError) as caught:
        serving.estimate_serve(reg.workload("llama3.1-8b"), on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=2, dp=4), load)
    assert str(caught.value).startswith(needle)


def test_disaggregated_serving_hands_the_cache_over(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    split = serving.estimate_serve(work, target, sl.ServeLayout(tp=2, dp=4, prefill=1), at_rate(4.0))
    assert split.requests_per_s == pytest.approx(4.0) and split.ttft_p90_s >= split.ttft_p50_s
    assert split.breakdown.requests_per_s_per_replica == pytest.approx(1.0)
    with pytest.raises(HwprofError, match="^disaggregated serving"):
        serving.estimate_serve(work, target, sl.ServeLayout(tp=2, dp=4, prefill=1),
                               serving.Traffic(1000, 200, concurrency=8))  # fmt: skip


def shares(est: serving.ServeEstimate) -> dict[str, float]:
    """Each limit's share of a replica's time, from the breakdown (the definition of 'binding')."""
    b = est.breakdown
    decode = 1 - min(b.prompt_share, 1.0)
    memory_bound = b.decode_memory_s >= b.decode_compute_s
    return {"prompt prefill (compute)": b.prompt_share,
            "memory bandwidth": decode * b.decode_memory_s / b.decode_step_s if memory_bound else 0.0,
            "compute": 0.0 if memory_bound else decode * b.decode_compute_s / b.decode_step_s,
            "communication": decode * b.decode_comm_s / b.decode_step_s}  # fmt: skip


def test_the_binding_limit_is_the_largest_share(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    probe = serving.estimate_serve(work, target, sl.ServeLayout(tp=8), serving.Traffic(100_000, 10, rate_per_s=0.01))
    rate = 0.7 / probe.breakdown.prompt_alone_s  # prompts take about 70% of the replica's time
    long = serving.estimate_serve(work, target, sl.ServeLayout(tp=8), serving.Traffic(100_000, 10, rate_per_s=rate))
    assert long.breakdown.prompt_share > 0.5 and long.binding == "prompt prefill (compute)"
    short = serving.estimate_serve(work, target, sl.ServeLayout(tp=1, dp=8), serving.Traffic(10, 2000, rate_per_s=0.5))
    assert short.binding == "memory bandwidth"
    for est in (probe, long, short):
        got = shares(est)
        assert est.binding == max(got, key=lambda k: got[k])


# ----------------------------------------------------------------------------- plan serve


@pytest.fixture(scope="module")
def small_plan(reg: registry.Registry) -> serve_search.ServePlan:
    system = reg.system("p5.48xlarge")
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    return serve_search.plan_serve(reg.workload("llama3.1-8b"), [(system, reg.chip(system.chip), q)],
                                   reg.interconnects, 40.0, 1000, 200, 0.5, 0.03, max_count=4)  # fmt: skip


def test_the_pick_meets_its_targets_one_at_a_time(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    (result,) = small_plan.systems
    best = result.best
    assert best is not None and small_plan.cheapest == "p5.48xlarge"
    lay = sl.parse(best.layout, best.chips, best.weights, best.kv_cache)
    lay = attrs.evolve(lay, chunk_tokens=best.chunk_tokens)
    est = serving.estimate_serve(reg.workload("llama3.1-8b"), on(reg, "p5.48xlarge", best.chips), lay, at_rate(40.0))
    assert est.ttft_p90_s == pytest.approx(best.ttft_p90_s, rel=0.02) and est.ttft_p90_s <= 0.5 * 1.02
    assert est.tpot_p90_s == pytest.approx(best.tpot_p90_s, rel=0.02) and est.tpot_p90_s <= 0.03 * 1.02
    assert best.tokens_per_s_per_chip == pytest.approx(40.0 * 200 / best.chips)
    assert best.usd_per_hour is not None and best.usd_per_million_output_tokens is not None
    assert best.usd_per_million_output_tokens == pytest.approx(best.usd_per_hour / (40.0 * 200 * 3600) * 1e6)
    assert best.decode_replicas + best.prefill_replicas == best.chips // (lay.tp * lay.pp)
    assert result.evaluated == small_plan.evaluated > 0


def test_no_fewer_systems_meet_the_targets(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    best = small_plan.systems[0].best
    assert best is not None
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    for count in range(1, best.count):
        chips = count * 8
        for tp, pp, weights, kv, chunk, share in itertools.product(
            serve_search.TP, serve_search.PP, sl.weight_precisions(chip), serve_search.KV, serve_search.CHUNKS,
            serve_search.PREFILL_SHARE,
        ):  # fmt: skip
            if chips % (tp * pp):
                continue
            dp = chips // (tp * pp)
            prefill = max(round(share * dp), 1) if share else 0
            lay = sl.ServeLayout(tp=tp, pp=pp, dp=dp, prefill=prefill, weights=weights, kv_cache=kv, chunk_tokens=chunk)
            try:
                est = serving.estimate_serve(work, on(reg, "p5.48xlarge", chips), lay, at_rate(40.0))
            except HwprofError:
                continue
            assert not (est.ttft_p90_s <= 0.5 * 0.98 and est.tpot_p90_s <= 0.03 * 0.98), lay


def test_the_frontier_is_pareto_and_per_chip(small_plan: serve_search.ServePlan) -> None:
    points = small_plan.frontier
    assert points
    for p, other in itertools.product(points, points):
        assert not (other.tokens_per_s_per_chip > p.tokens_per_s_per_chip
                    and other.tokens_per_s_per_user > p.tokens_per_s_per_user)  # fmt: skip
    assert [p.tokens_per_s_per_user for p in points] == sorted((p.tokens_per_s_per_user for p in points), reverse=True)


def test_plan_serve_refuses_bad_goals(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    for args, needle in (((0.0, 1000, 200, 0.5, 0.03), "request rate must be positive"),
                         ((1.0, 1000, 200, 0.0, 0.03), "TTFT target must be positive"),
                         ((1.0, 1000, 200, 0.5, -1.0), "TPOT target must be positive")):  # fmt: skip
        with pytest.raises(HwprofError, match=f"^{needle}"):
            serve_search.plan_serve(work, [], reg.interconnects, *args)
    with pytest.raises(HwprofError, match="^the budget must be positive"):
        serve_search.plan_serve(work, [], reg.interconnects, 1.0, 1000, 200, 0.5, 0.03, budget_usd_per_hour=0.0)


def test_a_budget_below_the_cheapest_pick_says_so(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    best = small_plan.systems[0].best
    assert best is not None and best.usd_per_hour is not None
    system = reg.system("p5.48xlarge")
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    tight = serve_search.plan_serve(reg.workload("llama3.1-8b"), [(system, reg.chip(system.chip), q)], reg.interconnects,
                                    40.0, 1000, 200, 0.5, 0.03, budget_usd_per_hour=best.usd_per_hour * 0.99,
                                    max_count=4)  # fmt: skip
    (result,) = tight.systems
    assert result.best is None and result.reason.startswith("over budget: cheapest meeting the targets costs")
    assert tight.cheapest is None
    unpriced = serve_search.plan_serve(reg.workload("llama3.1-8b"), [(system, reg.chip(system.chip), None)],
                                       reg.interconnects, 40.0, 1000, 200, 0.5, 0.03, budget_usd_per_hour=1e9,
                                       max_count=2)  # fmt: skip
    assert unpriced.systems[0].best is None  # an unpriced system cannot be judged against a budget


def test_unreachable_targets_name_the_first_one_missed(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    options = [(system, reg.chip(system.chip), None)]
    work = reg.workload("llama3.1-8b")
    ttft = serve_search.plan_serve(work, options, reg.interconnects, 1.0, 1000, 200, 1e-6, 0.03, max_count=2)
    assert ttft.systems[0].reason.startswith("TTFT p90 above target: best ")
    tpot = serve_search.plan_serve(work, options, reg.interconnects, 1.0, 1000, 200, 10.0, 1e-6, max_count=2)
    assert tpot.systems[0].reason.startswith("TPOT p90 above target: best ")
    rate = serve_search.plan_serve(work, options, reg.interconnects, 1e6, 1000, 200, 10.0, 1.0, max_count=2)
    assert rate.systems[0].reason == "cannot serve the rate with up to 2 systems"
    big = reg.workload("llama3.1-405b")
    nowhere = serve_search.plan_serve(big, options, reg.interconnects, 1.0, 1000, 200, 10.0, 1.0, max_count=1,
                                      precisions=("bf16",))  # fmt: skip
    assert nowhere.systems[0].reason.startswith("the model does not fit on any layout")
    none = serve_search.plan_serve(work, options, reg.interconnects, 1.0, 1000, 200, 10.0, 1.0, max_count=1,
                                   precisions=("int3",))  # fmt: skip
    assert none.systems[0].reason == "h100-sxm runs none of int3" and none.systems[0].evaluated == 0


def test_records_bytes_of_the_precisions_searched() -> None:
    assert records.BYTES_PER_ELEMENT["bf16"] == 2 and records.BYTES_PER_ELEMENT["fp8"] == 1
