"""Serving model, piece by piece: the layout syntax and its rules, the precision choices, the queue
formulas and the result's words, each against a hand-worked expectation (fast: no CLI)."""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.core.data import records, registry
from hwprof.core.errors import HwprofError
from hwprof.core.perf import cluster, serve_shape, serving, traffic
from hwprof.core.perf import efficiency as eff
from hwprof.core.perf import serve_layout as sl


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def on(reg: registry.Registry, system: str, chips: int) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), chips, s, reg.interconnects)


def model(reg: registry.Registry, name: str) -> records.Workload:
    return reg.workload(name)


# --- layout syntax --------------------------------------------------------------------------


def test_parse_reads_every_key_and_fills_dp() -> None:
    lay = sl.parse("tp=4, pp=2, ep=2, adp=1, prefill=1", 16, "fp8", "fp8")
    assert (lay.tp, lay.pp, lay.dp, lay.ep, lay.adp, lay.prefill) == (4, 2, 2, 2, 1, 1)
    assert (lay.weights, lay.kv_cache, lay.chunk_tokens) == ("fp8", "fp8", 8192)
    assert lay.replica_chips == 8 and lay.chips == 16
    assert sl.parse("pp=2", 8).tp == 1 and sl.parse("pp=2", 8).dp == 4
    assert sl.parse("tp=2", 8).dp == 4
    assert sl.parse("", 4) == sl.ServeLayout(tp=1, pp=1, dp=4)
    default = sl.ServeLayout()
    assert (default.weights, default.kv_cache, default.adp, default.prefill, default.ep) == ("bf16", "bf16", 0, 0, 1)


def test_layout_text_round_trips() -> None:
    assert str(sl.ServeLayout(tp=2, dp=4)) == "tp=2,pp=1,dp=4"
    assert str(sl.ServeLayout(tp=8, ep=8, adp=1, prefill=2, dp=4)) == "tp=8,pp=1,dp=4,ep=8,adp=1,prefill=2"
    assert str(sl.ServeLayout(tp=8, ep=2)) == "tp=8,pp=1,dp=1,ep=2"
    lay = sl.ServeLayout(tp=4, pp=2, dp=2, ep=2, adp=1, prefill=1)
    assert sl.parse(str(lay), 16) == lay


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tp=0", "tp, pp, dp and ep are at least 1"),
        ("pp=0", "tp, pp, dp and ep are at least 1"),
        ("dp=0", "tp, pp, dp and ep are at least 1"),
        ("tp=1,ep=0", "tp, pp, dp and ep are at least 1"),
        ("adp=3", "adp is 0, 1 or 2"),
        ("tp=x", "is not one of tp, pp, dp, ep, adp, prefill = a whole number"),
        ("zz=1", "'zz=1' is not one of"),
        ("tp", "'tp' is not one of"),
        ("tp=3", "tp x pp = 3 does not divide 8 chips"),
        ("pp=3", "tp x pp = 3 does not divide 8 chips"),
    ],
)
def test_parse_refuses_with_the_reason(text: str, needle: str) -> None:
    with pytest.raises(HwprofError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        sl.parse(text, 8)


def test_default_layout_stays_inside_one_domain(reg: registry.Registry) -> None:
    assert str(sl.default_layout(on(reg, "p5.48xlarge", 16))) == "tp=8,pp=1,dp=2"
    assert str(sl.default_layout(on(reg, "p5.48xlarge", 2))) == "tp=2,pp=1,dp=1"
    # the widest tp that divides both the chips and the heads
    assert sl.default_layout(on(reg, "p5.48xlarge", 8), heads=12).tp == 4
    assert sl.default_layout(on(reg, "p5.48xlarge", 8), "fp8", "fp8").weights == "fp8"
    assert sl.default_layout(on(reg, "p5.48xlarge", 8), "fp8", "fp8").kv_cache == "fp8"


# --- rules ----------------------------------------------------------------------------------


def test_check_refuses_each_rule(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)

    def refused(lay: sl.ServeLayout, needle: str, work: records.Workload = seventy, target: cluster.Cluster = p5,
                i: int = 100, o: int = 100) -> None:  # fmt: skip
        with pytest.raises(HwprofError) as err:
            sl.check(work, target, lay, i, o)
        assert needle in str(err.value), str(err.value)

    refused(sl.ServeLayout(tp=8), "prompt tokens must be at least 1, got 0", i=0)
    refused(sl.ServeLayout(tp=8), "output tokens must be at least 1, got 0", o=0)
    refused(sl.ServeLayout(tp=8), "a prompt of 131,000 tokens plus 100 generated exceeds llama3.1-70b's maximum context "
                                  "of 131,072 tokens", i=131_000)  # fmt: skip
    sl.check(seventy, p5, sl.ServeLayout(tp=8), 130_972, 100)  # exactly the context: accepted
    refused(sl.ServeLayout(tp=8, prefill=1), "prefill=1 leaves no decode replica of the 1")
    refused(sl.ServeLayout(tp=1, dp=8, adp=1), "attention data parallel (adp=1) needs tp > 1")
    refused(sl.ServeLayout(tp=8, kv_cache="int8"), "KV cache in int8")
    refused(sl.ServeLayout(tp=8, weights="fp4"), "weights in fp4: h100-sxm has no fp4 matmuls")
    refused(sl.ServeLayout(tp=8, ep=2), "ep needs a mixture-of-experts model; llama3.1-70b is dense")
    refused(sl.ServeLayout(tp=2, dp=2), "tp x pp x dp = 4 chips, but the hardware has 8")
    odd = attrs.evolve(seventy, kv_heads=3, heads=24)
    refused(sl.ServeLayout(tp=8), "3 key/value heads neither split over nor copy evenly to tp=8", work=odd)
    refused(sl.ServeLayout(tp=1, pp=8), "84 layers do not split into pp=8 equal stages",
            work=attrs.evolve(seventy, layers=84))  # fmt: skip
    mixtral = model(reg, "mixtral-8x7b")
    refused(sl.ServeLayout(tp=8, ep=3, dp=1), "ep=3 must divide the 8 experts and the 8 chips of a replica",
            work=mixtral)  # fmt: skip
    sl.check(mixtral, p5, sl.ServeLayout(tp=8, ep=8), 100, 100)  # 8 experts over 8 chips: fine
    sl.check(seventy, p5, sl.ServeLayout(tp=8, prefill=0, dp=1), 100, 100)
    two = attrs.evolve(p5, chips=16)
    refused(sl.ServeLayout(tp=16), "no interconnect known here joins 16 h100-sxm chips",
            target=attrs.evolve(two, tiers=two.tiers[:1]))  # fmt: skip


def test_weight_precisions_follow_the_chip_profile(reg: registry.Registry) -> None:
    h100, trn2 = reg.chip("h100-sxm"), reg.chip("trainium2")
    assert sl.weight_precisions(h100) == ["bf16", "fp8", "int4"]  # int4 weight-only (W4A16), no fp4 before Blackwell
    assert sl.weight_precisions(trn2) == ["bf16", "fp8"]
    assert sl.compute_precision(h100, "int4") == "bf16"  # weight-only: widened for the matmul
    assert sl.compute_precision(h100, "fp8") == "fp8"
    assert sl.compute_precision(h100, "bf16") == "bf16"
    with pytest.raises(HwprofError, match="it takes bf16, fp16, fp32, fp8, tf32"):
        sl.compute_precision(trn2, "int4")


def test_estimated_figures_name_what_the_range_rests_on(reg: registry.Registry) -> None:
    assert sl.estimated_figures(on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8)) == []
    assert sl.estimated_figures(on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=1, dp=8)) == []
    assert sl.estimated_figures(on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=1, dp=16)) == []
    assert sl.estimated_figures(on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=16)) == ["neuronlink-v3 efficiency"]
    # across two p5 instances the scale-out link's figures count too
    assert "efa-v2-p5 latency" not in sl.estimated_figures(on(reg, "p5.48xlarge", 16), sl.ServeLayout(tp=16))


def test_link_names(reg: registry.Registry) -> None:
    p5 = on(reg, "p5.48xlarge", 16)
    assert sl.link_name(p5, 1) == "none (one chip)"
    assert sl.link_name(p5, 8) == "nvlink4"
    assert sl.link_name(p5, 16) == "efa-v2-p5"


def test_attention_weights_and_experts(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    # 80 layers x (Q and O: 2 x 8192 x 64 x 128, K and V: 2 x 8192 x 8 x 128)
    assert sl.attention_params(seventy) == 80 * (2 * 8192 * 64 * 128 + 2 * 8192 * 8 * 128)
    deepseek = model(reg, "deepseek-v3")  # latent cache of 576 elements shared by 128 heads of 128
    assert sl.attention_params(deepseek) == 61 * (2 * 7168 * 128 * 128 + 576 * 128 * 2 * 128)
    assert sl.attention_params(attrs.evolve(seventy, heads=None)) == 0.0
    assert sl.expert_numbers(seventy) == (0.0, 0.0)
    share, pick = sl.expert_numbers(deepseek)
    assert pick == 8 / 256
    assert share == pytest.approx((671e9 - 37e9) / (1 - 8 / 256) / 671e9)


def test_attention_data_parallel_keeps_whole_attention_and_own_sequences(reg: registry.Registry) -> None:
    mixtral = model(reg, "mixtral-8x7b")
    target = on(reg, "p5.48xlarge", 8)
    plain = sl.replica(mixtral, target, sl.ServeLayout(tp=8, ep=8))
    dep = sl.replica(mixtral, target, sl.ServeLayout(tp=8, ep=8, adp=1))
    extra = sl.attention_params(mixtral) * 2 * (1 - 1 / 8)
    assert dep.weights_bytes_per_chip == pytest.approx(plain.weights_bytes_per_chip + extra)
    assert dep.kv_bytes_per_token_per_chip == 2 * 32 * 8 * 128 * 2 / 8  # own sequences, never copied
    assert plain.kv_bytes_per_token_per_chip == 2 * 32 * 8 * 128 * 2 / 8  # 8 KV heads over 8 ranks
    # no tensor-parallel all-reduce with adp; the expert all-to-alls remain
    assert dep.comm_per_token_s < plain.comm_per_token_s
    assert dep.comm_fixed_s > 0


def test_pipeline_stages_share_the_weights_and_cost_latency(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    target = on(reg, "p5.48xlarge", 8)
    pp = sl.replica(seventy, target, sl.ServeLayout(tp=2, pp=4))
    assert pp.weights_bytes_per_chip == 70.6e9 * 2 / 8
    assert pp.kv_bytes_per_token_per_chip == 2 * 80 * 8 * 128 * 2 / 4 / 2
    costs = sl.step_of(pp, 1000.0, 0.0)
    # batch 1: no gain from stages (each reads its quarter in turn); batch 8: micro-batches of 2
    assert sl.micro_batch(1.0, 4) == 1.0 and sl.micro_batch(8.0, 4) == 2.0 and sl.micro_batch(0.0, 4) == 0.0
    memory, _, _ = sl.decode_parts(costs, 1.0)
    assert memory == pytest.approx(4 * (pp.weights_bytes_per_chip + 1000 * pp.kv_bytes_per_token_per_chip)
                                   / pp.hbm_bytes_per_s)  # fmt: skip
    assert pp.comm_fixed_s > sl.replica(seventy, target, sl.ServeLayout(tp=2)).comm_fixed_s  # stage hops


def test_prompt_time_pipelines_chunks(reg: registry.Registry) -> None:
    r = sl.replica(model(reg, "llama3.1-8b"), on(reg, "p5.48xlarge", 4), sl.ServeLayout(tp=1, pp=4))
    flops = 1e15
    one, _ = sl.prompt_time(r, 10_000, flops, 1)
    four, _ = sl.prompt_time(r, 10_000, flops, 4)
    alone = flops / (r.prefill_flops_per_s * 1)  # one chunk: the stages run one after another
    assert one == pytest.approx(alone)
    assert four == pytest.approx(flops / (4 * 4 / 7 * r.prefill_flops_per_s))  # 4 chunks over 4 stages: 4/(4+3)
    batched, comm_s = sl.prompt_time(r, 10_000, flops, 4, batched=True)
    assert batched == pytest.approx(flops / (4 * 4 / 7 * r.batched_prefill_flops_per_s))
    assert comm_s == pytest.approx(r.comm_per_token_s * 10_000)


def test_handoff_and_scaling(reg: registry.Registry) -> None:
    target = on(reg, "p5.48xlarge", 8)
    r = sl.replica(model(reg, "llama3.1-70b"), target, sl.ServeLayout(tp=2, kv_cache="fp8"))
    tiers = sl.tiers(target)
    assert sl.handoff_s(1000, r, tiers) == pytest.approx(1000 * r.kv_bytes_per_token_per_chip / (50e9 * 0.65))
    assert sl.handoff_s(1000, r, ()) == pytest.approx(1000 * r.kv_bytes_per_token_per_chip / 1e30)
    slow = sl.scaled(r, 0.5)
    assert slow.hbm_bytes_per_s == r.hbm_bytes_per_s / 2 and slow.decode_flops_per_s == r.decode_flops_per_s / 2
    assert slow.prefill_flops_per_s == r.prefill_flops_per_s / 2
    assert slow.batched_prefill_flops_per_s == r.batched_prefill_flops_per_s / 2
    assert slow.comm_fixed_s == r.comm_fixed_s * 2 and slow.comm_per_token_s == r.comm_per_token_s * 2
    assert all(t.link.latency_us >= eff.COLLECTIVE_LATENCY_US.value for t in tiers)
    assert r.max_batch(0) > 1e20  # no cache per sequence: no limit from memory


# --- queue ----------------------------------------------------------------------------------


def test_queue_formulas_by_hand() -> None:
    assert traffic.mean_wait(0.5, 2.0) == pytest.approx(0.5 * 2 / (2 * 0.5))
    assert traffic.mean_wait(0.0, 2.0) == 0.0
    assert traffic.wait_quantile(0.3, 1.0, 0.5) == 0.0  # P(wait > 0) = 0.3 < 0.5: the median waits not at all
    assert traffic.wait_quantile(0.8, 1.0, 0.9) == pytest.approx(math.log(0.8 / 0.1) / (2 * 0.2))
    assert traffic.wait_quantile(0.8, 1.0, 0.5) == pytest.approx(math.log(0.8 / 0.5) / (2 * 0.2))


def test_packed_short_prompts_queue_at_the_work_under_load() -> None:
    # lane time per prompt = work + (alone - work) / pack: 4 prompts per iteration
    load = traffic.at_rate(2.0, 100, 0.2, lambda b: 0.0 * b + 0.01, 1e9, prompt_work_s=0.1, pack=4)
    lane = 0.1 + (0.2 - 0.1) / 4
    assert load.prompt_lane_share == pytest.approx(2.0 * lane)
    assert load.prompt_share == pytest.approx(2.0 * 0.1)
    assert load.ttft_mean_s == pytest.approx(0.2 + traffic.mean_wait(2.0 * lane, lane))
    assert load.tpot_mean_s == pytest.approx(0.01 / (1 - 0.2))
    # TPOT p50/p90: steps carrying a chunk of a prompt (Poisson count with mean m)
    m = 2.0 * 1 * 100 * load.tpot_mean_s
    assert load.tpot_p50_s == pytest.approx(0.01 + 0.1 / 100 * m)
    assert load.tpot_p90_s == pytest.approx(0.01 + 0.1 / 100 * (m + traffic.Z_P90 * math.sqrt(m)))


def test_kv_cache_limit_makes_a_rate_unservable() -> None:
    load = traffic.at_rate(10.0, 500, 0.01, lambda b: 0.02 + 0.0 * b, max_batch=50)
    assert not load.stable and load.limit == "kv cache"
    assert load.running_sequences == 50
    ok = traffic.at_rate(1.0, 500, 0.01, lambda b: 0.02 + 0.0 * b, max_batch=50)
    assert ok.stable and ok.limit == ""


def test_one_user_never_queues_and_many_wait_for_a_slot() -> None:
    one = traffic.at_concurrency(1, 100, 0.5, lambda b: 0.02 + 0.0 * b, max_batch=10)
    assert one.ttft_mean_s == one.ttft_p90_s == 0.5 and one.tpot_mean_s == 0.02 and one.running_sequences == 1
    assert one.rate_per_s == pytest.approx(1 / (0.5 + 99 * 0.02))
    assert one.stable and one.prompt_share == pytest.approx(one.rate_per_s * 0.5)
    crowd = traffic.at_concurrency(100, 100, 0.01, lambda b: 0.02 + 0.0 * b, max_batch=10)
    # only 10 decode at once: the rest wait for a slot, and Little's law counts them in TTFT
    in_flight = crowd.rate_per_s * (crowd.ttft_mean_s + 99 * crowd.tpot_mean_s)
    assert in_flight == pytest.approx(100, rel=0.02)
    assert crowd.ttft_mean_s > 1.0 and crowd.ttft_p90_s >= crowd.ttft_p50_s


# --- results --------------------------------------------------------------------------------


def test_traffic_says_what_it_is() -> None:
    assert serving.Traffic(1, 1, rate_per_s=2.5).kind == "2.5 requests/s (Poisson arrivals)"
    assert (
        serving.Traffic(1, 1, concurrency=4).kind == "concurrency 4 (closed loop: each user sends again when answered)"
    )
    assert serving.Traffic(1, 1).kind == "offline: as many sequences in flight as the KV cache holds"
    assert serving.Traffic(1, 1, concurrency=4, max_batch=2).kind.endswith(
        ", at most 2 sequences in flight per replica"
    )


def test_estimate_fields_by_hand(reg: registry.Registry) -> None:
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="fp8")
    r = serving.estimate_serve(model(reg, "llama3.1-70b"), target, lay, serving.Traffic(2000, 500, rate_per_s=4.0))
    assert (r.kind, r.model, r.chip, r.chips, r.layout, r.replicas) == ("serve", "llama3.1-70b", "h100-sxm", 8,
                                                                          "tp=2,pp=1,dp=4", 4)  # fmt: skip
    assert (r.weights, r.kv_cache, r.input_tokens, r.output_tokens, r.target) == ("fp8", "fp8", 2000, 500,
                                                                                  "p5.48xlarge")  # fmt: skip
    assert r.requests_per_s == pytest.approx(4.0)
    assert r.tokens_per_s.expected == pytest.approx(4.0 * 500)  # an open loop serves its rate
    assert r.tokens_per_s_per_chip == pytest.approx(2000 / 8)
    assert r.tokens_per_s_per_user == pytest.approx(1 / r.tpot_s.expected)
    assert r.breakdown.requests_per_s_per_replica == pytest.approx(1.0)
    assert r.breakdown.tp_link == "nvlink4"
    assert r.precision_basis == "dense fp8 peak, 1979 TFLOPS per chip (derived)"
    assert r.memory.kv_bytes_per_token == 2 * 80 * 8 * 128 * 1
    assert r.memory.kv_bytes_per_token_per_chip == 2 * 80 * 8 * 128 / 2
    assert r.memory.weights_bytes_per_chip == 70.6e9 / 2
    usable = 79.65 * 2**30 * 0.9  # the device's 81,559 MiB (nvidia-smi) = 79.65 GiB, 0.9 of it usable
    assert r.memory.usable_bytes_per_chip == pytest.approx(usable)
    context = 2000 + 250
    assert r.memory.kv_cache_bytes_per_chip == pytest.approx(r.breakdown.running_sequences_per_replica * context
                                                             * 2 * 80 * 8 * 128 / 2)  # fmt: skip
    assert r.memory.max_batch_per_replica == (usable - 35.3e9) // (81920 * 2500)
    b = r.breakdown
    assert b.decode_step_s == pytest.approx(max(b.decode_memory_s, b.decode_compute_s) + b.decode_comm_s)
    assert b.prompt_alone_s == pytest.approx(b.prompt_compute_s + b.prompt_comm_s)
    assert b.queue_wait_s == pytest.approx(r.ttft_s.expected - b.prompt_alone_s)
    assert r.ttft_p50_s <= r.ttft_s.expected <= r.ttft_p90_s or r.ttft_p50_s <= r.ttft_p90_s
    assert r.ttft_s.low < r.ttft_s.expected < r.ttft_s.high and r.tpot_s.low < r.tpot_s.expected < r.tpot_s.high
    assert r.range_basis.startswith("every achieved rate scaled to the ends of the range: ")
    assert r.binding == "memory bandwidth"
    assert r.cost is None
    assert "layout tp=2,pp=1,dp=4: tensor parallel 2 x pipeline 1 chips per replica, 4 replicas" in r.assumptions[0]
    assert "chunks of up to 8,192 tokens" in r.assumptions[1]
    assert (
        "memory bandwidth 72%, prompt compute 53%, decode compute 50% of peak, times w / (w + 185)" in r.assumptions[2]
    )
    assert "at least 12 us per step" in r.assumptions[2]
    assert "M/D/1" in r.assumptions[3]
    assert "peak: derived" in r.rests_on and "nvlink4: official" in r.rests_on


def test_binding_names_the_largest_share(reg: registry.Registry) -> None:
    target = on(reg, "p5.48xlarge", 8)
    seventy = model(reg, "llama3.1-70b")

    def binding(lay: sl.ServeLayout, load: serving.Traffic) -> str:
        return serving.estimate_serve(seventy, target, lay, load).binding

    # 70B over a switched TP 8 pays 2 latency steps per all-reduce (160 x 2 x 12 us = 3.8 ms) against 7.3 ms
    # of weights; an 8B model reads 2 GB per chip (0.8 ms) against 64 x 2 x 12 us = 1.5 ms.
    assert binding(sl.ServeLayout(tp=8), serving.Traffic(100, 100, concurrency=1)) == "memory bandwidth"
    assert serving.estimate_serve(model(reg, "llama3.1-8b"), target, sl.ServeLayout(tp=8),
                                  serving.Traffic(100, 100, concurrency=1)).binding == "communication"  # fmt: skip
    assert binding(sl.ServeLayout(tp=2, dp=4), serving.Traffic(100, 100, concurrency=4)) == "memory bandwidth"
    assert binding(sl.ServeLayout(tp=2, dp=4), serving.Traffic(8000, 10, rate_per_s=3)) == "prompt prefill (compute)"
    eight = model(reg, "llama3.1-8b")
    offline = serving.estimate_serve(eight, on(reg, "p5.48xlarge", 1), sl.ServeLayout(weights="fp8", kv_cache="fp8"),
                                     serving.Traffic(100, 20000))  # fmt: skip
    assert offline.binding in ("compute", "memory bandwidth")


def test_refusals_in_the_estimate(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=8)
    with pytest.raises(HwprofError, match="concurrency must be at least 1, got 0"):
        serving.estimate_serve(seventy, target, lay, serving.Traffic(10, 10, concurrency=0))
    with pytest.raises(HwprofError, match="the request rate must be positive, got -1"):
        serving.estimate_serve(seventy, target, lay, serving.Traffic(10, 10, rate_per_s=-1.0))
    with pytest.raises(HwprofError, match="the batch limit must be at least 1 sequence, got 0"):
        serving.estimate_serve(seventy, target, lay, serving.Traffic(10, 10, max_batch=0))
    with pytest.raises(HwprofError, match="needs 141.2 GB of weights per chip with 1 chip"):
        serving.estimate_serve(seventy, target, sl.ServeLayout(dp=8), serving.Traffic(10, 10))
    with pytest.raises(HwprofError, match="more than 1 replica"):
        serving.estimate_serve(seventy, target, lay, serving.Traffic(2000, 500, rate_per_s=1000.0))
    with pytest.raises(HwprofError, match="is modelled at a request rate"):
        serving.estimate_serve(seventy, target, sl.ServeLayout(tp=2, dp=4, prefill=2), serving.Traffic(10, 10))
    with pytest.raises(HwprofError, match="leave no room for the KV cache of one sequence"):
        serving.estimate_serve(seventy, on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2),
                               serving.Traffic(131_000, 72))  # fmt: skip


def test_disaggregated_by_hand(reg: registry.Registry) -> None:
    target = on(reg, "p5.48xlarge", 8)
    seventy = model(reg, "llama3.1-70b")
    lay = sl.ServeLayout(tp=2, dp=4, prefill=2, weights="fp8", kv_cache="fp8")
    r = serving.estimate_serve(seventy, target, lay, serving.Traffic(2000, 500, rate_per_s=4.0))
    assert r.breakdown.prompt_share == 0.0  # decode replicas never prefill
    assert r.tpot_p90_s == pytest.approx(r.tpot_s.expected)  # so every step is alike
    rep = sl.replica(seventy, target, lay)
    handoff = sl.handoff_s(2000, rep, sl.tiers(target))
    assert r.ttft_s.expected > r.breakdown.prompt_alone_s + handoff
    assert r.requests_per_s == pytest.approx(4.0)


# --- exact words (a refusal names the rule; these pin each message) ---------------------------


def message(call: object, *args: object) -> str:
    with pytest.raises(HwprofError) as err:
        call(*args)  # type: ignore[operator]
    return str(err.value)


def test_parse_messages_exactly() -> None:
    assert message(sl.parse, "tp=x", 8) == ("layout 'tp=x': 'tp=x' is not one of tp, pp, dp, ep, adp, prefill = a "
                                            "whole number (e.g. tp=8,pp=1,dp=2)")  # fmt: skip
    assert (
        message(sl.parse, "tp=0", 8) == "layout 'tp=0': tp, pp, dp and ep are at least 1; adp is 0, 1 or 2 (balanced)"
    )
    assert message(sl.parse, "tp=3", 8) == "layout 'tp=3': tp x pp = 3 does not divide 8 chips"
    lay = sl.parse("tp=2", 8)
    assert str(lay) == "tp=2,pp=1,dp=4" and isinstance(lay.dp, int)


def test_check_messages_exactly(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)

    def says(lay: sl.ServeLayout, work: records.Workload = seventy, target: cluster.Cluster = p5, i: int = 100) -> str:
        return message(sl.check, work, target, lay, i, 100)

    assert says(sl.ServeLayout(tp=8), i=0) == "prompt tokens must be at least 1, got 0"
    sl.check(seventy, p5, sl.ServeLayout(tp=8), 1, 1)  # one token each way is a request
    assert says(sl.ServeLayout(tp=8), work=attrs.evolve(seventy, heads=60)) == (
        "layout tp=8,pp=1,dp=1: 60 attention heads do not split over tp=8"
    )
    assert says(sl.ServeLayout(tp=8), work=attrs.evolve(seventy, kv_heads=3, heads=24)) == (
        "layout tp=8,pp=1,dp=1: 3 key/value heads neither split over nor copy evenly to tp=8"
    )
    assert says(sl.ServeLayout(tp=1, pp=8), work=attrs.evolve(seventy, layers=84)) == (
        "layout tp=1,pp=8,dp=1: 84 layers do not split into pp=8 equal stages"
    )
    assert says(sl.ServeLayout(tp=8, ep=2)) == (
        "layout tp=8,pp=1,dp=1,ep=2: ep needs a mixture-of-experts model; llama3.1-70b is dense"
    )
    six = attrs.evolve(model(reg, "mixtral-8x7b"), experts=6)  # ep=4 divides the 8 chips, not the 6 experts
    assert says(sl.ServeLayout(tp=8, ep=4), work=six) == (
        "layout tp=8,pp=1,dp=1,ep=4: ep=4 must divide the 6 experts and the 8 chips of a replica"
    )
    assert says(sl.ServeLayout(tp=2, dp=2)) == "layout tp=2,pp=1,dp=2: tp x pp x dp = 4 chips, but the hardware has 8"
    assert says(sl.ServeLayout(tp=8, prefill=1)) == (
        "layout tp=8,pp=1,dp=1,prefill=1: prefill=1 leaves no decode replica of the 1"
    )
    assert says(sl.ServeLayout(dp=8, adp=1)) == (
        "layout tp=1,pp=1,dp=8,adp=1: attention data parallel (adp=1) needs tp > 1"
    )
    assert (
        says(sl.ServeLayout(tp=8, kv_cache="int8")) == "KV cache in int8: use bf16 or fp16, or fp8 on a chip with fp8"
    )
    sl.check(seventy, p5, sl.ServeLayout(tp=8, kv_cache="fp16"), 10, 10)
    two = attrs.evolve(on(reg, "p5.48xlarge", 16), tiers=p5.tiers[:1])
    assert says(sl.ServeLayout(tp=16), target=two) == (
        "layout tp=16,pp=1,dp=1: no interconnect known here joins 16 h100-sxm chips (the links reach 8); name a "
        "system with a scale-out tier")  # fmt: skip
    h100 = reg.chip("h100-sxm")
    assert message(sl.compute_precision, reg.chip("trainium2"), "int4") == (
        "weights in int4: trainium2 has no int4 matmuls and lists no int4 weight-only kernels; it takes bf16, fp16, "
        "fp32, fp8, tf32")  # fmt: skip
    assert sl.compute_precision(h100, "fp16") == "fp16"


def test_chips_without_fp8_or_bf16(reg: registry.Registry) -> None:
    h100 = reg.chip("h100-sxm")
    sixteen_only = attrs.evolve(h100, peak_dense_tflops={"bf16": h100.peak_dense_tflops["bf16"]}, weight_only=None)
    target = attrs.evolve(on(reg, "p5.48xlarge", 8), chip=sixteen_only)
    seventy = model(reg, "llama3.1-70b")
    sl.check(seventy, target, sl.ServeLayout(tp=8, kv_cache="bf16"), 10, 10)  # a 16-bit cache needs no fp8
    assert message(sl.check, seventy, target, sl.ServeLayout(tp=8, kv_cache="fp8"), 10, 10) == (
        "KV cache in fp8: use bf16 or fp16, or fp8 on a chip with fp8"
    )
    eight_only = attrs.evolve(h100, peak_dense_tflops={"fp8": h100.peak_dense_tflops["fp8"]})
    assert sl.compute_precision(eight_only, "bf16") == "fp8"  # no 16-bit peak: the matmuls run at the one it has
    assert sl.compute_precision(eight_only, "fp16") == "fp8"
    both = attrs.evolve(h100, weight_only=attrs.evolve(h100.weight_only, value="int4, fp4"))
    assert sl.weight_precisions(both) == ["bf16", "fp8", "int4", "fp4"]
    four = attrs.evolve(h100, peak_dense_tflops={**h100.peak_dense_tflops, "fp4": h100.peak_dense_tflops["fp8"]})
    assert sl.weight_precisions(four) == ["bf16", "fp8", "int4", "fp4"]


def test_default_layout_defaults(reg: registry.Registry) -> None:
    one = sl.default_layout(on(reg, "p5.48xlarge", 1))
    assert (one.tp, one.dp, one.weights, one.kv_cache) == (1, 1, "bf16", "bf16")
    assert sl.default_layout(on(reg, "p5.48xlarge", 6)).tp == 6


def test_shipped_constants_are_the_efficiency_defaults() -> None:
    k = sl.SHIPPED
    assert k == sl.Constants()
    assert k.collective_latency_us == eff.COLLECTIVE_LATENCY_US.value
    assert k.memory_bandwidth_fraction == eff.MEMORY_BANDWIDTH_FRACTION.value
    assert k.prefill_compute_fraction == eff.PREFILL_COMPUTE_FRACTION.value
    assert k.batched_prefill_compute_fraction == eff.BATCHED_PREFILL_COMPUTE_FRACTION.value
    assert k.decode_compute_fraction == eff.DECODE_COMPUTE_FRACTION.value
    assert k.chip_prefill_efficiency is None
    assert sl.KV_PRECISIONS == ("bf16", "fp16", "fp8")


def test_estimate_messages_and_assumptions_exactly(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)

    def says(target: cluster.Cluster, lay: sl.ServeLayout, load: serving.Traffic) -> str:
        return message(serving.estimate_serve, seventy, target, lay, load)

    assert says(p5, sl.ServeLayout(tp=8), serving.Traffic(2000, 500, rate_per_s=1000.0)) == (
        "1000 requests/s is more than 1 replica of tp=8,pp=1,dp=1 can serve: prompts alone would take more than "
        "all of its time; add replicas or chips")  # fmt: skip
    assert says(p5, sl.ServeLayout(tp=8), serving.Traffic(20, 131000, rate_per_s=1.0)) == (
        "1 requests/s is more than 1 replica of tp=8,pp=1,dp=1 can serve: its KV cache holds 11 sequences, fewer "
        "than the rate keeps in flight; add replicas or chips")  # fmt: skip
    assert says(p5, sl.ServeLayout(dp=8), serving.Traffic(10, 10)) == (
        "llama3.1-70b in bf16 needs 141.2 GB of weights per chip with 1 chip per replica; a h100-sxm holds 77.0 GB "
        "usable: it needs at least 2 chips per replica (tp x pp)")  # fmt: skip
    assert says(on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2), serving.Traffic(131000, 72)) == (
        "layout tp=2,pp=1,dp=1: the weights leave no room for the KV cache of one sequence of 131,072 tokens; use more "
        "chips per replica (tp x pp) or a smaller weight precision")  # fmt: skip
    assert says(p5, sl.ServeLayout(tp=2, dp=4, prefill=2), serving.Traffic(10, 10)) == (
        "disaggregated serving (prefill replicas) is modelled at a request rate, not a concurrency"
    )
    assert says(p5, sl.ServeLayout(tp=2, dp=4, prefill=3), serving.Traffic(2000, 500, rate_per_s=30.0)) == (
        "30 requests/s is more than the prefill replicas of tp=2,pp=1,dp=4,prefill=3 can serve; add replicas"
    )
    assert says(
        p5, sl.ServeLayout(tp=2, dp=4, prefill=3, weights="fp8"), serving.Traffic(100, 20_000, rate_per_s=1.0)
    ) == ("1 requests/s is more than the decode replicas of tp=2,pp=1,dp=4,prefill=3 can serve; add replicas")
    r = serving.estimate_serve(seventy, p5, sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="fp8"),
                               serving.Traffic(2000, 500, rate_per_s=4.0))  # fmt: skip
    assert r.assumptions == (
        "layout tp=2,pp=1,dp=4: tensor parallel 2 x pipeline 1 chips per replica, 4 replicas, requests spread "
        "evenly over the replicas",
        "continuous batching; prompts prefilled first come first served in chunks of up to 8,192 tokens mixed into "
        "the decode steps",
        "memory bandwidth 72%, prompt compute 53%, decode compute 50% of peak, times w / (w + 185) for w = hidden / "
        "tp matmul columns per chip (per rank, against the chip's own half width, where its profile gives one); "
        "collective latency at least 12 us per step",
        "queueing: M/D/1 prompt queue (Poisson arrivals), TPOT stretched by the prompts' share of time "
        "(hwprof.core.perf.traffic)",
    )  # fmt: skip
    assert r.traffic == "4 requests/s (Poisson arrivals)"
    trn2 = serving.estimate_serve(seventy, on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=16),
                                  serving.Traffic(100, 100, concurrency=1))  # fmt: skip
    assert trn2.range_basis.endswith("; it rests on estimated figures: neuronlink-v3 efficiency")


def test_cost_counts_whole_systems_by_hand(reg: registry.Registry) -> None:
    from hwprof.core.cost import pricing

    quote = pricing.quote(reg.cost_models["aws"], "p5.48xlarge", "on-demand", "us-east-1")
    eight = model(reg, "llama3.1-8b")
    load = serving.Traffic(1000, 500, rate_per_s=2.0)
    two = serving.estimate_serve(eight, on(reg, "p5.48xlarge", 16), sl.ServeLayout(dp=16), load, quote)
    assert two.cost is not None and two.cost.systems_billed == 2
    assert two.cost.usd_per_hour == pytest.approx(2 * 55.04)
    # 2 requests/s x 500 output tokens = 1,000 tokens/s: 110.08 USD/h / 3.6M tokens/h = 30.58 USD per million
    assert two.cost.usd_per_million_output_tokens.expected == pytest.approx(2 * 55.04 / (1000 * 3600) * 1e6)
    assert two.cost.usd_per_million_output_tokens.low == two.cost.usd_per_million_output_tokens.high
    assert two.cost.price["usd_per_hour"] == 55.04 and two.cost.warnings == tuple(quote.warnings())
    part = serving.estimate_serve(eight, on(reg, "p5.48xlarge", 2), sl.ServeLayout(dp=2), load, quote)
    assert part.cost is not None and part.cost.systems_billed == 1 and part.cost.usd_per_hour == 55.04
    closed = serving.estimate_serve(eight, on(reg, "p5.48xlarge", 8), sl.ServeLayout(dp=8),
                                    serving.Traffic(1000, 500, concurrency=64), quote)  # fmt: skip
    c = closed.cost
    assert c is not None
    assert c.usd_per_million_output_tokens.low == pytest.approx(55.04 / (closed.tokens_per_s.high * 3600) * 1e6)
    assert c.usd_per_million_output_tokens.high == pytest.approx(55.04 / (closed.tokens_per_s.low * 3600) * 1e6)
    assert serving.estimate_serve(eight, on(reg, "p5.48xlarge", 8), sl.ServeLayout(dp=8), load).cost is None
    bare = cluster.cluster_for(reg.chip("h100-sxm"), 8, None, reg.interconnects)
    assert serving.estimate_serve(eight, bare, sl.ServeLayout(dp=8), load, quote).cost is None


def test_queue_formulas_with_uneven_numbers() -> None:
    # mean wait rho S / (2 (1 - rho)) at rho = 0.6, S = 0.3: 0.18 / 0.8 = 0.225
    assert traffic.mean_wait(0.6, 0.3) == pytest.approx(0.225)
    assert traffic.mean_wait(1.5, 0.3) == pytest.approx(0.3 * (1 - 1e-9) / (2 * 1e-9), rel=1e-6)  # capped below 1
    # p-quantile ln(rho / (1 - p)) S / (2 (1 - rho)) at rho = 0.6, S = 0.3
    assert traffic.wait_quantile(0.6, 0.3, 0.9) == pytest.approx(math.log(6) * 0.3 / 0.8)
    assert traffic.wait_quantile(0.6, 0.3, 0.5) == pytest.approx(math.log(1.2) * 0.3 / 0.8)
    assert traffic.Z_P90 == 1.2816


def test_at_rate_with_a_step_that_grows_with_the_batch() -> None:
    def step(b: float) -> float:
        return 0.01 + 0.001 * b

    rate, out, alone, work, chunks = 0.5, 200, 0.3, 0.2, 2
    load = traffic.at_rate(rate, out, alone, step, 1e9, chunks, prompt_work_s=work, pack=1)
    rho = rate * work  # 0.1
    tpot = 0.01 / (1 - rho - 0.001 * rate * out / 1)  # tpot = (0.01 + 0.001 rate out tpot) / (1 - rho)
    tpot = 0.01 / ((1 - rho) - 0.001 * rate * out)
    assert load.tpot_mean_s == pytest.approx(tpot, rel=1e-6)
    running = rate * out * tpot
    assert load.running_sequences == pytest.approx(running, rel=1e-6)
    extra = step(running) - step(0.0)
    service = alone + chunks * extra
    lane = work + (alone - work) / 1 + chunks * extra
    rho_s = rate * lane
    assert load.prompt_lane_share == pytest.approx(rho_s)
    assert load.ttft_mean_s == pytest.approx(service + rho_s * lane / (2 * (1 - rho_s)))
    assert load.ttft_p90_s == pytest.approx(service + max(0.0, math.log(rho_s / 0.1)) * lane / (2 * (1 - rho_s)))
    assert load.ttft_p50_s == pytest.approx(service)  # rho_s < 0.5: the median prompt does not wait
    m = rate * chunks * out * tpot
    per_token = work / chunks / out
    assert load.tpot_p50_s == pytest.approx(step(running) + per_token * m, rel=1e-6)
    assert load.tpot_p90_s == pytest.approx(step(running) + per_token * (m + 1.2816 * math.sqrt(m)), rel=1e-6)
    assert load.stable and load.limit == ""


def test_stability_edges() -> None:
    def flat(b: float) -> float:
        return 0.02 + 0.0 * b

    # rho exactly at or past 1 is unstable; the lane's own share too
    assert not traffic.at_rate(2.0, 10, 0.5, flat, 1e9).stable  # rho = 1
    assert traffic.at_rate(2.1, 10, 0.5, flat, 1e9, prompt_work_s=0.1).stable is False  # lane 0.5 x 2.1 > 1
    assert traffic.at_rate(1.0, 10, 0.5, flat, 1e9, prompt_work_s=0.1, pack=8).stable  # packed: lane 0.15
    # exactly as many in flight as the cache holds is still served
    exact = traffic.at_rate(1.0, 10, 0.0, flat, max_batch=0.2, prompt_work_s=0.0)
    assert exact.running_sequences == pytest.approx(0.2) and exact.stable
    assert not traffic.at_rate(1.0, 10, 0.0, flat, max_batch=0.199, prompt_work_s=0.0).stable
    # numpy and floats agree, stability included
    import numpy as np

    arrays = traffic.at_rate(np.array([1.0, 2.0]), 10, np.array([0.5, 0.5]), flat, np.array([1e9, 1e9]), xp=np)
    assert list(arrays.stable) == [True, False]
    assert arrays.ttft_mean_s[0] == pytest.approx(traffic.at_rate(1.0, 10, 0.5, flat, 1e9).ttft_mean_s)


def test_two_users_are_not_one() -> None:
    step = lambda b: 0.01 + 0.002 * b  # noqa: E731
    two = traffic.at_concurrency(2, 100, 0.2, step, max_batch=100)
    one = traffic.at_concurrency(1, 100, 0.2, step, max_batch=100)
    assert one.tpot_mean_s == pytest.approx(step(1.0))
    assert two.rate_per_s > one.rate_per_s
    assert two.rate_per_s * (two.ttft_mean_s + 99 * two.tpot_mean_s) == pytest.approx(2, rel=1e-3)


def test_estimate_internals_by_hand(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="bf16")
    rep = sl.replica(seventy, p5, lay)
    r = serving.estimate_serve(seventy, p5, lay, serving.Traffic(10_000, 300, concurrency=16))
    b = r.breakdown
    # prompt: 10,000 x forward FLOPs at mean context 5,000, over 2 chips; two chunks of 8,192
    flops = 10_000 * seventy.forward_flops_per_token(5_000)
    assert b.prompt_compute_s == pytest.approx(flops / (2 * rep.prefill_flops_per_s))
    assert b.prompt_comm_s == pytest.approx(2 * rep.comm_fixed_s + rep.comm_per_token_s * 10_000)
    # decode reads the weights and each running sequence's cache at mean context 10,000 + 300 / 2
    running = b.running_sequences_per_replica
    assert b.decode_memory_s == pytest.approx((rep.weights_bytes_per_chip + running * 10_150
                                               * rep.kv_bytes_per_token_per_chip) / rep.hbm_bytes_per_s)  # fmt: skip
    assert r.memory.kv_bytes_per_token == 2 * 80 * 8 * 128 * 2  # bf16 cache: 2 bytes per element
    # 16 users over 4 replicas behave as 4 users on one replica
    one = serving.estimate_serve(seventy, on(reg, "p5.48xlarge", 2), attrs.evolve(lay, dp=1),
                                 serving.Traffic(10_000, 300, concurrency=4))  # fmt: skip
    assert r.tpot_s.expected == pytest.approx(one.tpot_s.expected)
    assert r.tokens_per_s.expected == pytest.approx(4 * one.tokens_per_s.expected)
    assert r.tokens_per_s.low == pytest.approx(4 * one.tokens_per_s.low)
    assert r.tokens_per_s.low < r.tokens_per_s.expected < r.tokens_per_s.high  # a closed loop's speed varies


def test_range_ends_scale_every_rate(reg: registry.Registry) -> None:
    # one user, short prompt: every part of a decode step scales with the rates, so the ends are exact
    r = serving.estimate_serve(model(reg, "llama3.1-8b"), on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2),
                               serving.Traffic(100, 100, concurrency=1))  # fmt: skip
    band = r.range  # the rates times band.fast (>= 1) and band.slow (<= 1) at the ends (core/perf/ranges.py)
    assert band is not None and band.fast >= 1 >= band.slow
    assert r.tpot_s.low == pytest.approx(r.tpot_s.expected / band.fast)
    assert r.tpot_s.high == pytest.approx(r.tpot_s.expected / band.slow)
    assert r.ttft_s.low == pytest.approx(r.ttft_s.expected / band.fast)


def test_batch_limit_and_long_prompt_lane(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="fp8")
    capped = serving.estimate_serve(seventy, p5, lay, serving.Traffic(1000, 500, concurrency=64, max_batch=3))
    assert capped.memory.max_batch_per_replica == 3 and capped.breakdown.running_sequences_per_replica <= 3
    serving.estimate_serve(seventy, p5, lay, serving.Traffic(1000, 500, concurrency=4, max_batch=1))
    assert message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, max_batch=0)) == (
        "the batch limit must be at least 1 sequence, got 0"
    )
    assert message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, concurrency=0)) == (
        "concurrency must be at least 1, got 0"
    )
    assert message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, rate_per_s=0.0)) == (
        "the request rate must be positive, got 0"
    )
    assert serving.Traffic(1, 1, rate_per_s=2.0, max_batch=8).kind == (
        "2 requests/s (Poisson arrivals), at most 8 sequences in flight per replica"
    )
    # a 5,000-token prompt fills its own iteration (no packing): the lane is the prompt alone
    rep = sl.replica(seventy, p5, lay)
    r = serving.estimate_serve(seventy, p5, lay, serving.Traffic(5000, 500, rate_per_s=2.0))
    flops = 5000 * seventy.forward_flops_per_token(2500)
    alone = sum(sl.prompt_time(rep, 5000, flops, 1))
    assert r.breakdown.prompt_alone_s == pytest.approx(alone)
    assert r.breakdown.queue_wait_s > 0


def test_disaggregated_ttft_by_hand(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, prefill=1, weights="fp8", kv_cache="fp8")
    rep = sl.replica(seventy, p5, lay)
    r = serving.estimate_serve(seventy, p5, lay, serving.Traffic(2000, 500, rate_per_s=2.0))
    flops = 2000 * seventy.forward_flops_per_token(1000)
    alone = sum(sl.prompt_time(rep, 2000, flops, 1))
    work = sum(sl.prompt_time(rep, 2000, flops, 1, batched=True))
    lane = work + (alone - work) / 4  # 8,192 // 2,000 = 4 prompts share an iteration
    rho = 2.0 / 1 * lane  # the one prefill replica takes every prompt
    handoff = sl.handoff_s(2000, rep, sl.tiers(p5))
    assert r.ttft_s.expected == pytest.approx(alone + rho * lane / (2 * (1 - rho)) + handoff)
    # the three decode replicas share the rate; each decodes rate / 3 x 500 tokens per second
    costs = sl.step_of(rep, 2250.0, seventy.forward_flops_per_token(2250))
    running = r.breakdown.running_sequences_per_replica
    assert running == pytest.approx(2.0 / 3 * 500 * r.tpot_s.expected, rel=1e-6)
    assert r.tpot_s.expected == pytest.approx(sl.decode_step(costs, running), rel=1e-6)


def test_matmuls_and_attention_each_take_their_own_roofline() -> None:
    """Weight matmuls and attention are separate kernels: a step is max(weight reads, matmul FLOPs) +
    max(KV reads, attention FLOPs) + collectives, not max(all reads, all FLOPs)."""
    s = sl.Step(pp=1, weights_s=10e-3, expert_share=0.0, expert_miss=1.0, kv_s=0.01e-3, compute_s=0.1e-3,
                comm_fixed_s=1e-3, comm_s=0.02e-3, attention_s=0.05e-3)  # fmt: skip
    # 50 sequences: matmuls read 10 ms, compute 5 ms -> 10 ms (memory); attention reads 0.5 ms, computes 2.5 ms
    # -> 2.5 ms (compute); collectives 1 + 50 x 0.02 = 2 ms
    memory, compute, comm_s = sl.decode_parts(s, 50.0)
    assert (memory, compute, comm_s) == pytest.approx((10e-3, 2.5e-3, 2e-3))
    assert sl.decode_step(s, 50.0) == pytest.approx(14.5e-3)  # one max over everything would give 12.5 ms
    # 200 sequences: matmuls compute 20 ms > 10 ms of reads; attention 10 ms > 2 ms of reads
    assert sl.decode_parts(s, 200.0) == pytest.approx((0.0, 30e-3, 5e-3))


def test_decode_attention_flops_by_hand(reg: registry.Registry) -> None:
    # Llama 3.1 70B: 4 x 80 layers x 1,000 keys x 64 heads x 128 = 2.62 GFLOP per decoded token
    assert serve_shape.decode_attention_flops(model(reg, "llama3.1-70b"), 1000.0) == pytest.approx(
        4 * 80 * 1000 * 64 * 128
    )
    # DeepSeek-V3 (latent cache of 576 per layer, absorbed): every one of 128 heads attends to the 576
    # latent elements: 4 x 61 x 1,000 x 128 x 576 = 18.0 GFLOP, 4.5x a 128-wide head's 4 x 61 x 1,000 x 128 x 128
    v3 = model(reg, "deepseek-v3")
    assert serve_shape.decode_attention_flops(v3, 1000.0) == pytest.approx(4 * 61 * 1000 * 128 * 576)
    r = sl.replica(v3, on(reg, "p5en.48xlarge", 8), sl.ServeLayout(tp=8, ep=8, adp=1, weights="fp8"))
    assert r.attention_flops_per_s == pytest.approx(989.5e12 * eff.DECODE_COMPUTE_FRACTION.value)  # 16-bit peak


def test_attention_data_parallel_prompts_wait_for_their_rank(reg: registry.Registry) -> None:
    """Under attention data parallel a prompt's attention side runs on its own rank and the iteration lasts
    as long as that rank (TensorRT-LLM's ADP balance blog: 'the iteration time is dominated by the slowest
    rank'); balanced scheduling (adp=2) starts prompts on every rank together, so under load they share."""
    qwen = model(reg, "qwen3-235b-a22b")
    p5 = on(reg, "p5.48xlarge", 8)
    # attention projections: 94 layers x (2 x 4096 x 64 x 128 + 2 x 4096 x 4 x 128) = 6,702,497,792 parameters;
    # causal scores of 1,000 tokens at mean context 500: 4 x 94 x 500 x 64 x 128
    attention = 1000 * (2 * 6_702_497_792 + 4 * 94 * 500 * 64 * 128)
    assert serve_shape.prompt_attention_flops(qwen, 1000) == pytest.approx(attention)
    flops = 1000 * qwen.forward_flops_per_token(500)
    for adp, alone_on_one, loaded_on_one in ((0, False, False), (1, True, True), (2, True, False)):
        lay = sl.ServeLayout(tp=8, ep=8 if adp else 1, adp=adp, weights="fp8")
        r = sl.replica(qwen, p5, lay)

        def expected(on_one: bool, rate: float, r: sl.Replica = r) -> float:
            return (flops - attention) / (8 * rate) + attention / ((1 if on_one else 8) * rate)

        alone, _ = sl.prompt_time(r, 1000, flops, 1, attention_flops=attention)
        loaded, _ = sl.prompt_time(r, 1000, flops, 1, batched=True, attention_flops=attention)
        assert alone == pytest.approx(max(expected(alone_on_one, r.prefill_flops_per_s),
                                          r.weights_bytes_per_chip / r.hbm_bytes_per_s)), adp  # fmt: skip
        assert loaded == pytest.approx(expected(loaded_on_one, r.batched_prefill_flops_per_s)), adp
    assert str(sl.parse("tp=8,ep=8,adp=2", 8)) == "tp=8,pp=1,dp=1,ep=8,adp=2"
    with pytest.raises(HwprofError, match="adp is 0, 1 or 2"):
        sl.parse("tp=8,adp=3", 8)
