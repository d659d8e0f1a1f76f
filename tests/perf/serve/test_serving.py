"""Serving model: each formula against hand arithmetic, the refusals, and the inconsistencies of
issue 9 (bare chip without a link, TP 16 across two instances at NVLink speed, --chips silently
rounded, a prompt beyond the context, the wrong binding limit, concurrency without queueing).

Serving model, piece by piece: the layout syntax and its rules, the precision choices, the queue
formulas and the result's words, each against a hand-worked expectation (fast: no CLI).

The serving estimate and ``plan serve`` by their properties, computed at test time from the
estimator itself or by hand from the inputs: an open loop serves exactly its rate, replicas split
it evenly, a closed loop obeys Little's law, p90 >= p50, latency grows with the rate and falls with
bandwidth, cost is whole systems x price over the tokens; the plan's pick meets its targets when
estimated one at a time and no cheaper count of the same system does (brute force over the scalar
estimator), and its frontier is Pareto.

A serving estimate's range: every achieved rate scaled to the ends of its band (computed here with
``serve_layout.scaled``, the band's own ``fast`` and ``slow``), and never narrower than the band; a
closed loop's throughput span comes from its slow and fast ends, an open loop's is its rate.

A decode step by its stated roofline (serve_layout.Step): max(weight reads, matmul FLOPs) +
max(KV reads, attention FLOPs) + collectives, each term worked here from the replica's achieved
rates (``serve_layout.replica``, read at test time) and the model's shape: 2 x active parameters of
matmul FLOPs per token, 4 x layers x context x heads x head_dim of attention FLOPs. Checked where
the weights bind (few sequences) and where the matmuls do (many short ones).
"""

from __future__ import annotations

import itertools
import json
import math

import attrs
import pytest

from hwprof.cli.app import main
from hwprof.cost import pricing
from hwprof.data import records, registry
from hwprof.errors import HwprofError
from hwprof.perf import cluster, ranges
from hwprof.perf import efficiency as eff
from hwprof.perf.serve import cases as serve_cases
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import search as serve_search
from hwprof.perf.serve import serving, traffic
from hwprof.perf.serve import shape as serve_shape
from tests.facts import facts

K = sl.SHIPPED
NVLINK_B_S = 450e9 * 0.82  # nvlink4: 900 GB/s both directions, 0.82 achievable
EFA_P5_B_S = 50e9 * 0.65  # efa-v2-p5: 50 GB/s per GPU per direction, 0.65 achievable
LATENCY_S = max(3.0, K.collective_latency_us) * 1e-6  # nvlink4's 3 us is under the engine floor


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    registry.reset()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def on(reg: registry.Registry, system: str, chips: int) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), chips, s, reg.interconnects)


def model(reg: registry.Registry, name: str) -> records.Workload:
    return reg.workload(name)


# --- memory -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("precision", "bytes_per"), [("bf16", 2), ("fp8", 1)])
def test_kv_bytes_per_token_follow_the_kv_precision_not_the_weights(
    reg: registry.Registry, precision: str, bytes_per: int
) -> None:
    lay = sl.ServeLayout(tp=2, weights="fp8", kv_cache=precision)
    r = sl.replica(model(reg, "llama3.1-70b"), on(reg, "p5.48xlarge", 2), lay)
    # K and V x 80 layers x 8 KV heads x 128 dims, split over 2 tensor ranks
    assert r.kv_bytes_per_token_per_chip == 2 * 80 * 8 * 128 * bytes_per / 2
    assert r.weights_bytes_per_chip == 70.6e9 * 1 / 2  # fp8 weights whatever the cache


def test_kv_heads_are_copied_past_tensor_parallel_eight(reg: registry.Registry) -> None:
    # Llama 3.1 70B has 8 KV heads: at tp=16 each chip holds one whole head, not half of one.
    r = sl.replica(model(reg, "llama3.1-70b"), on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=16))
    assert r.kv_bytes_per_token_per_chip == 2 * 80 * 8 * 128 * 2 / 8


def test_largest_batch_is_free_memory_over_one_sequences_cache(reg: registry.Registry) -> None:
    r = sl.replica(model(reg, "llama3.1-8b"), on(reg, "p5.48xlarge", 1), sl.ServeLayout(weights="fp8", kv_cache="fp8"))
    usable = 79.65 * 2**30 * 0.9  # the device exposes 81,559 MiB (nvidia-smi) = 79.65 GiB, of which 0.9 is usable
    per_sequence = 2 * 32 * 8 * 128 * 1 * (1000 + 1000)
    assert r.max_batch(2000) == (usable - 8.03e9) // per_sequence


def test_moe_reads_the_active_parameters_at_one_token_and_more_with_more(reg: registry.Registry) -> None:
    mixtral = model(reg, "mixtral-8x7b")  # 8 experts, 2 per token
    share, pick = sl.expert_numbers(mixtral)
    experts = (46.7e9 - 12.9e9) / (1 - 2 / 8)  # routed expert weights: active holds 2/8 of them
    assert share == pytest.approx(experts / 46.7e9) and pick == 0.25
    r = sl.replica(mixtral, on(reg, "p5.48xlarge", 1), sl.ServeLayout())
    costs = sl.step_of(r, 0.0, 0.0)
    step = lambda b: sl.decode_parts(costs, b)[0] * r.hbm_bytes_per_s  # noqa: E731  bytes read
    assert step(1) == pytest.approx(12.9e9 * 2)  # one token: exactly the active weights
    dense = 46.7e9 - experts
    touched_by_two = 1 - (1 - 2 / 8) ** 2  # an expert is missed by both tokens with chance (6/8)^2
    assert step(2) == pytest.approx((dense + experts * touched_by_two) * 2)
    assert step(1000) == pytest.approx(46.7e9 * 2, rel=1e-6)  # every expert is hit


# --- prefill and communication ----------------------------------------------------------------


def test_prompt_alone_is_its_flops_over_achieved_compute(reg: registry.Registry) -> None:
    eight_b = model(reg, "llama3.1-8b")
    r = sl.replica(eight_b, on(reg, "p5.48xlarge", 1), sl.ServeLayout())
    flops = 1000 * (2 * 8.03e9 + 4 * 32 * 500 * 4096)  # 2N per token + causal attention at mean context 500
    compute, comm_s = sl.prompt_time(r, 1000, flops, chunks=1)
    # each chip computes all 4,096 hidden columns (tp 1): 4096 / (4096 + 185) of the wide-matmul share
    narrow = 4096 / (4096 + eff.MATMUL_HALF_WIDTH.value)
    assert compute == pytest.approx(flops / (989.5e12 * eff.PREFILL_COMPUTE_FRACTION.value * narrow))
    assert comm_s == 0.0  # one chip


def test_tensor_parallel_all_reduces_on_nvlink(reg: registry.Registry) -> None:
    r = sl.replica(model(reg, "llama3.1-70b"), on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2))
    # 2 all-reduces per layer x 80 layers; each: 2 (n-1)/n x bytes / bandwidth + 2 log2(n) latency steps
    assert r.comm_fixed_s == pytest.approx(160 * 2 * 1 * LATENCY_S)
    assert r.comm_per_token_s == pytest.approx(160 * 2 * (1 / 2) * 8192 * 2 / NVLINK_B_S)


def test_switched_tp8_pays_the_latency_of_tp2(reg: registry.Registry) -> None:
    """The house review: TP 8 paid ceil(log2 8) = 3 latency steps per reduce-scatter (72 us per all-reduce,
    11.6 ms of a 20.6 ms TPOT at batch 8). Over NVSwitch an all-reduce is 2 steps at any GPU count."""
    seventy = model(reg, "llama3.1-70b")
    tp2 = sl.replica(seventy, on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2))
    tp8 = sl.replica(seventy, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8))
    assert tp8.comm_fixed_s == pytest.approx(tp2.comm_fixed_s) == pytest.approx(160 * 2 * 12e-6)  # 3.84 ms
    assert tp8.comm_per_token_s == pytest.approx(160 * 2 * (7 / 8) * 8192 * 2 / NVLINK_B_S)
    r = serving.estimate_serve(seventy, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8), serving.Traffic(
        2000, 500, concurrency=8))  # fmt: skip
    # 70.6e9 x 2 bytes / 8 chips over 3.35 TB/s x 0.724, plus the KV cache of the b sequences decoding (of the
    # 8 users, the others are in their prompt) at 2,250 tokens
    b = r.breakdown.running_sequences_per_replica
    assert 7 < b < 8
    weights_s = 70.6e9 * 2 / 8 / (3.35e12 * 0.724)
    kv_s = b * 2250 * 2 * 80 * 8 * 128 * 2 / 8 / (3.35e12 * 0.724)
    comm_s = 160 * 2 * 12e-6 + b * tp8.comm_per_token_s
    assert r.breakdown.decode_step_s == pytest.approx(weights_s + kv_s + comm_s, rel=1e-6)
    assert r.breakdown.decode_comm_s < 4.2e-3  # was 11.6 ms


def test_tp16_across_two_p5_crosses_efa_not_nvlink(reg: registry.Registry) -> None:
    r = sl.replica(model(reg, "llama3.1-70b"), on(reg, "p5.48xlarge", 16), sl.ServeLayout(tp=16))
    size = 8192 * 2
    # inside each instance: reduce-scatter over 8 on NVLink; then the 1/8 shard over 2 instances on EFA
    inside = 7 / 8 * size / NVLINK_B_S
    across = 1 / 2 * (size / 8) / EFA_P5_B_S
    assert r.comm_per_token_s == pytest.approx(160 * 2 * (inside + across))
    efa_latency = max(15.0, K.collective_latency_us) * 1e-6
    # NVSwitch: one step per reduce-scatter whatever the GPU count (not log2 8 = 3); EFA: log2 2 = 1
    assert r.comm_fixed_s == pytest.approx(160 * 2 * (1 * LATENCY_S + 1 * efa_latency))
    all_nvlink = 160 * 2 * (15 / 16) * size / NVLINK_B_S
    assert r.comm_per_token_s > 1.5 * all_nvlink  # the old model priced all of it on NVLink


def test_a_bare_chip_uses_its_native_link_like_the_system(capsys: pytest.CaptureFixture[str]) -> None:
    common = ("estimate", "serve", "--model", "llama3.1-70b", "--precision", "fp8", "--json")
    _, bare, _ = run(capsys, *common, "--chip", "h100-sxm", "--chips", "8")
    _, p5, _ = run(capsys, *common, "--system", "p5.48xlarge")
    bare_data, p5_data = json.loads(bare), json.loads(p5)
    assert bare_data["breakdown"]["tp_link"] == "nvlink4"
    assert bare_data["breakdown"]["decode_comm_s"] > 0
    assert bare_data["tpot_s"] == p5_data["tpot_s"]


# --- traffic ----------------------------------------------------------------------------------


def test_open_loop_queue_by_hand() -> None:
    # constant decode step d, prompts of S seconds, rate lam: rho = lam S, tpot = d / (1 - rho),
    # M/D/1 mean wait rho S / (2 (1 - rho)); the tail rho exp(-2 (1 - rho) t / S) gives p90.
    d, s, lam = 0.02, 0.4, 1.5
    load = traffic.at_rate(lam, 500, s, lambda b: d, max_batch=1e9)
    rho = lam * s
    assert load.tpot_mean_s == pytest.approx(d / (1 - rho))
    assert load.ttft_mean_s == pytest.approx(s + rho * s / (2 * (1 - rho)))
    import math

    assert load.ttft_p90_s == pytest.approx(s + math.log(rho / 0.1) * s / (2 * (1 - rho)))
    assert load.ttft_p50_s == pytest.approx(s + math.log(rho / 0.5) * s / (2 * (1 - rho)))
    assert load.running_sequences == pytest.approx(lam * 500 * d / (1 - rho))
    assert load.stable


def test_a_rate_beyond_the_prompt_capacity_is_refused() -> None:
    load = traffic.at_rate(3.0, 500, 0.4, lambda b: 0.02, max_batch=1e9)
    assert not load.stable and load.limit == "prompts"


def test_closed_loop_obeys_littles_law() -> None:
    step = lambda b: 0.01 + 0.0002 * b  # noqa: E731
    load = traffic.at_concurrency(50, 500, 0.4, step, max_batch=1e9)
    in_flight = load.rate_per_s * (load.ttft_mean_s + 499 * load.tpot_mean_s)
    assert in_flight == pytest.approx(50, rel=1e-3)


def test_concurrency_50_queues_its_prompts(reg: registry.Registry) -> None:
    # NIM: 2 x H100 TP2, 5000 in / 500 out; at concurrency 50 the measured TTFT (835 ms) is twice the
    # one-user TTFT (407 ms): prompts wait. The model without a queue said 499 ms (-40%).
    case = reg.validation_cases["val-serve-h100x2-70b-c50-ttft"]
    alone = serve_cases.estimate(reg.validation_cases["cal-serve-h100x2-70b-ttft"], reg)
    loaded = serve_cases.estimate(case, reg)
    assert loaded.breakdown.queue_wait_s > 0.3
    assert loaded.ttft_s.expected > 1.7 * alone.ttft_s.expected
    assert loaded.ttft_s.low <= case.published <= loaded.ttft_s.high


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "needle"),
    [
        ("tp=3", "does not divide 8 chips"),
        ("tp=1,pp=3,dp=1", "layers do not split"),
        ("tp=8,dp=1,ep=2", "needs a mixture-of-experts"),
        ("tp=1,dp=8", "needs at least 2 chips per replica"),
        ("tp=2,dp=2", "tp x pp x dp = 4 chips"),
        ("tp=8,pp=1,dp=1,xx=2", "not one of"),
    ],
)
def test_bad_layouts_say_why(capsys: pytest.CaptureFixture[str], layout: str, needle: str) -> None:
    code, _, err = run(capsys, "estimate", "serve", "--model", "llama3.1-70b", "--system", "p5.48xlarge",
                       "--layout", layout)  # fmt: skip
    assert code == 1
    assert needle in err and err.count("error:") == 1


def test_heads_must_split(reg: registry.Registry) -> None:
    work = attrs.evolve(model(reg, "llama3.1-70b"), heads=60)
    with pytest.raises(HwprofError, match="60 attention heads do not split over tp=8"):
        sl.check(work, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8), 100, 100)


def test_a_prompt_beyond_the_context_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "estimate", "serve", "--model", "llama3.1-70b", "--system", "p5.48xlarge",
                       "--input-tokens", "2000000")  # fmt: skip
    assert code == 1
    assert "exceeds llama3.1-70b's maximum context of 131,072 tokens" in err


def test_chips_that_are_not_whole_systems_are_refused_or_said(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--json")
    code, _, err = run(capsys, *base, "--chips", "12")
    assert code == 1
    facts(err, "--chips 12", "whole number", "p5.48xlarge", "8 chips each", "8 or 16")
    code, out, err = run(capsys, *base, "--chips", "2")
    assert code == 0 and "2 of the 8 chips of one p5.48xlarge" in err
    assert json.loads(out)["chips"] == 2


# --- binding, cost --------------------------------------------------------------------------


def test_long_prompts_bind_on_prefill_not_bandwidth(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "serve", "--model", "llama3.1-70b", "--system", "p5en.48xlarge",
                       "--precision", "fp8", "--kv-precision", "fp8", "--batch", "11", "--input-tokens", "127000",
                       "--output-tokens", "1000", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["binding"] == "prompt prefill (compute)"
    assert data["breakdown"]["prompt_share"] > 0.5


def test_cost_counts_every_system_rented(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--count",
                       "2", "--region", "us-east-1", "--batch", "64", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    cost = data["cost"]
    assert cost["systems_billed"] == 2
    assert cost["usd_per_hour"] == pytest.approx(2 * 55.04)
    per_million = cost["usd_per_million_output_tokens"]["expected"]
    assert per_million == pytest.approx(2 * 55.04 / (data["tokens_per_s"]["expected"] * 3600) * 1e6)
    assert data["layout"] == "tp=8,pp=1,dp=2"  # one replica per instance: no TP across EFA by default


def test_training_and_serving_bill_whole_systems(capsys: pytest.CaptureFixture[str]) -> None:
    """One rule: the user rents whole instances. 2 GPUs of a p5.48xlarge (55.04 USD/h in us-east-1) pay for all
    8, in training as in serving, and are told so."""
    for kind, extra in (("train", ("--tokens", "1e9")), ("serve", ("--batch", "8"))):
        code, out, err = run(capsys, "estimate", kind, "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--chips",
                             "2", "--region", "us-east-1", *extra, "--json")  # fmt: skip
        assert code == 0, err
        cost = json.loads(out)["cost"]
        assert cost["usd_per_hour"] == pytest.approx(55.04), kind
        assert cost["systems_billed"] == 1
    code, out, err = run(capsys, "estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--chips", "2",
                         "--region", "us-east-1", "--tokens", "1e9")  # fmt: skip
    facts(err, "2 chips", "1 p5.48xlarge", "billed", "6 chips idle")


def test_serve_json_keys_and_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "serve", "--model", "llama3.1-70b", "--system", "p5en.48xlarge",
                       "--precision", "fp8", "--batch", "16", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    for key in ("ttft_s", "tpot_s", "tokens_per_s"):
        assert set(data[key]) == {"low", "expected", "high"}
        assert data[key]["low"] <= data[key]["expected"] <= data[key]["high"]
    assert data["ttft_p50_s"] <= data["ttft_p90_s"] and data["tpot_p50_s"] <= data["tpot_p90_s"]


def test_the_range_comes_from_the_evidence_class(reg: registry.Registry) -> None:
    from hwprof.perf import ranges

    work = model(reg, "llama3.1-70b")
    load = serving.Traffic(1000, 100, concurrency=1)
    own = ranges.own_chips(reg.validation_cases.values(), "serve")
    h100 = serving.estimate_serve(work, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8), load, published_chips=own)
    band = ranges.band("serve", "own")
    assert h100.range == band and band.text in h100.range_basis
    # one user, no queue: every time scales as 1 / rate, so its ends are the band's exactly
    assert h100.tpot_s.high / h100.tpot_s.expected == pytest.approx(math.exp(band.log_high))
    assert h100.tpot_s.low / h100.tpot_s.expected == pytest.approx(math.exp(band.log_low))
    unknown = serving.estimate_serve(work, on(reg, "p5.48xlarge", 8), sl.ServeLayout(tp=8), load)
    assert unknown.range == ranges.band("serve", "borrowed")  # no published runs given: none of its own
    trn2 = serving.estimate_serve(work, on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=16), load)
    assert "neuronlink-v3 efficiency" in trn2.range_basis


# --- calibration ----------------------------------------------------------------------------


def test_shipped_serving_constants_refit_from_their_cases_within_3_percent(reg: registry.Registry) -> None:
    fitted = serve_cases.calibrate(reg)
    for name in serve_cases.FITTED:
        assert getattr(fitted, name) == pytest.approx(getattr(K, name), rel=0.03), name
    figures = serve_cases.chip_figures(reg, fitted)
    assert "trainium1.transformers-neuronx.request_floor_us" in figures  # stack floors refit from their cases
    for name, value in figures.items():
        # a floor fitted to none ships as 1 us (figures are positive): a microsecond is below any floor's resolution
        assert serve_cases.shipped_figure(reg, name).value == pytest.approx(value, rel=0.03, abs=1.0), name


# --- plan serve -------------------------------------------------------------------------------

PLAN = ("plan", "serve", "--model", "llama3.1-70b", "--rate", "10", "--input-tokens", "2000", "--output-tokens",
        "500", "--ttft-slo", "1", "--tpot-slo", "0.05", "--systems", "trn2.48xlarge,p5.48xlarge,p5en.48xlarge")  # fmt: skip


@pytest.fixture(scope="module")
def plan(reg: registry.Registry) -> object:
    from hwprof.cost import pricing
    from hwprof.perf.serve import search as serve_search

    aws = reg.cost_models["aws"]
    options = []
    for system_id in ("trn2.48xlarge", "p5.48xlarge", "p5en.48xlarge"):
        system = reg.system(system_id)
        options.append((system, reg.chip(system.chip), pricing.quote(aws, system_id, "on-demand", None)))
    return serve_search.plan_serve(
        serve_search.ServeRequest(model(reg, "llama3.1-70b"), 10, 2000, 500, 1.0, 0.05), options, reg.interconnects
    )


def test_plan_serve_gives_a_deployment_per_system_and_the_cheapest(plan: object) -> None:
    systems = plan.systems  # type: ignore[attr-defined]
    assert [s.system for s in systems] == ["trn2.48xlarge", "p5.48xlarge", "p5en.48xlarge"]
    assert all(s.best is not None for s in systems)
    for s in systems:
        assert s.best.ttft_p90_s <= 1.0 and s.best.tpot_p90_s <= 0.05
        # cost per hour is whole systems at the quote; per million output tokens at the rate (10 x 500 tokens/s)
        assert s.best.usd_per_hour == pytest.approx(s.best.count * s.best.price["usd_per_hour"])
        assert s.best.usd_per_million_output_tokens == pytest.approx(s.best.usd_per_hour / (5000 * 3600) * 1e6)
    cheapest = min(systems, key=lambda s: s.best.usd_per_hour)
    assert plan.cheapest == cheapest.system  # type: ignore[attr-defined]


def re_estimate(reg: registry.Registry, work: records.Workload, d: object, traffic: serving.Traffic) -> object:
    """A plan's pick estimated one at a time: aggregated or disaggregated."""
    from hwprof.perf.serve import disagg
    from hwprof.perf.serve import search as serve_search

    system = reg.system(d.system)  # type: ignore[attr-defined]
    if d.kind == serve_search.DISAGGREGATED:  # type: ignore[attr-defined]
        pre, dec = serve_search.deployment_pools(d, system, reg.chip(system.chip), reg.interconnects)  # type: ignore[arg-type]
        return disagg.estimate_disaggregated(work, pre, dec, traffic, reg.interconnects)
    lay = sl.parse(d.layout, d.chips, d.weights, d.kv_cache)  # type: ignore[attr-defined]
    lay = attrs.evolve(lay, chunk_tokens=d.chunk_tokens)  # type: ignore[attr-defined]
    return serving.estimate_serve(work, on(reg, system.id, d.chips), lay, traffic)  # type: ignore[attr-defined]


def test_each_pick_is_what_the_estimate_gives(reg: registry.Registry, plan: object) -> None:
    for s in plan.systems:  # type: ignore[attr-defined]
        d = s.best
        result = re_estimate(reg, model(reg, "llama3.1-70b"), d, serving.Traffic(2000, 500, rate_per_s=10.0))
        assert result.ttft_p90_s == pytest.approx(d.ttft_p90_s, rel=0.01), d
        assert result.tpot_p90_s == pytest.approx(d.tpot_p90_s, rel=0.01), d


def test_the_search_tries_expert_and_attention_data_parallel_for_moe(reg: registry.Registry) -> None:
    """A mixture-of-experts model is searched with its experts over the tensor ranks (ep = tp), with and
    without attention data parallel; the pick re-estimated one at a time gives the same numbers."""
    from hwprof.perf.serve import search as serve_search

    qwen = model(reg, "qwen3-235b-a22b")
    system = reg.system("p5.48xlarge")
    # 15 requests/s keeps the pick away from saturation, where the search's 16 fixed-point rounds
    # (the scalar estimate runs 30) have not converged to 1% (at 20/s: 0.242 against 0.254 s)
    p = serve_search.plan_serve(
        serve_search.ServeRequest(qwen, 15, 1000, 1000, 2.0, 0.05, kinds=(serve_search.AGGREGATED,)),
        [(system, reg.chip("h100-sxm"), None)],
        reg.interconnects,
    )
    d = p.systems[0].best
    assert d is not None
    assert p.systems[0].evaluated == 64 * 7 * 4 * 3 * 2 * 2 * 3  # counts x tp x pp x weights x kv x chunk x 3
    assert any("adp=1" in f.layout for f in p.frontier) and "experts over the tensor ranks" in p.assumptions[1]
    lay = attrs.evolve(sl.parse(d.layout, d.chips, d.weights, d.kv_cache), chunk_tokens=d.chunk_tokens)
    result = serving.estimate_serve(
        qwen, on(reg, system.id, d.chips), lay, serving.Traffic(1000, 1000, rate_per_s=15.0)
    )
    assert result.ttft_p90_s == pytest.approx(d.ttft_p90_s, rel=0.01)
    assert result.tpot_p90_s == pytest.approx(d.tpot_p90_s, rel=0.01)
    # a dense model keeps the one mode
    dense = serve_search.plan_serve(
        serve_search.ServeRequest(model(reg, "llama3.1-8b"), 1, 1000, 100, 2.0, 0.05, kinds=(serve_search.AGGREGATED,)),
        [(system, reg.chip("h100-sxm"), None)],
        reg.interconnects,
    )
    assert dense.systems[0].evaluated == 64 * 7 * 4 * 3 * 2 * 2
    assert all(",ep=" not in f.layout for f in dense.frontier)


def test_a_higher_rate_never_needs_fewer_chips(reg: registry.Registry) -> None:
    from hwprof.perf.serve import search as serve_search

    system = reg.system("p5.48xlarge")
    options = [(system, reg.chip("h100-sxm"), None)]
    chips = []
    for rate in (2.0, 20.0, 80.0):
        p = serve_search.plan_serve(
            serve_search.ServeRequest(model(reg, "llama3.1-70b"), rate, 2000, 500, 1.0, 0.05),
            options,
            reg.interconnects,
        )
        chips.append(p.systems[0].best.chips)
    assert chips == sorted(chips) and chips[-1] > chips[0]


def test_the_frontier_is_pareto(plan: object) -> None:
    """One edge per kind (aggregated, disaggregated), each ordered along its edge."""
    for kind in ("aggregated", "disaggregated"):
        frontier = [p for p in plan.frontier if p.kind == kind]  # type: ignore[attr-defined]
        assert len(frontier) >= 3
        users = [p.tokens_per_s_per_user for p in frontier]
        chips = [p.tokens_per_s_per_chip for p in frontier]
        assert users == sorted(users, reverse=True) and chips == sorted(chips)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--tpot-slo", "0.002"), "TPOT p90 above target"),
        (("--budget", "10"), "over budget"),
        # No price on file for this system: a budget cannot be checked, and no "nan USD/h" is printed.
        (("--budget", "10", "--systems", "trn3-ultraserver-144"), "no price"),
        (("--max-count", "1", "--rate", "500"), "cannot serve the rate with up to 1 systems"),
    ],
)
def test_plan_serve_says_why_a_system_has_no_pick(capsys: pytest.CaptureFixture[str], extra: tuple[str, ...],
                                                  needle: str) -> None:  # fmt: skip
    args = list(PLAN)
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    data = json.loads(out)
    assert all(s["best"] is None for s in data["systems"])
    assert all(needle in s["reason"] for s in data["systems"]), [s["reason"] for s in data["systems"]]
    assert data["cheapest"] is None


def test_plan_serve_refuses_a_prompt_beyond_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    args = list(PLAN)
    args[args.index("--input-tokens") + 1] = "200000"
    code, _, err = run(capsys, *args)
    assert code == 1 and "maximum context of 131,072 tokens" in err


def test_robust_plans_meet_the_targets_at_the_slow_end(reg: registry.Registry, plan: object) -> None:
    from hwprof.cost import pricing
    from hwprof.perf.serve import search as serve_search

    aws = reg.cost_models["aws"]
    options = [(reg.system(s), reg.chip(reg.system(s).chip), pricing.quote(aws, s, "on-demand", None))
               for s in ("trn2.48xlarge", "p5.48xlarge")]  # fmt: skip
    from hwprof.perf import ranges

    own = ranges.own_chips(reg.validation_cases.values(), "serve")
    robust = serve_search.plan_serve(
        serve_search.ServeRequest(model(reg, "llama3.1-70b"), 10, 2000, 500, 1.0, 0.05, robust=True),
        options,
        reg.interconnects,
        published_chips=own,
    )
    plain = {s.system: s.best for s in plan.systems}  # type: ignore[attr-defined]
    # a system whose range is too wide to hold the targets at its slow end gets no pick, and says why
    assert {s.system for s in robust.systems if s.best} >= {"p5.48xlarge"}
    for s in robust.systems:
        d = s.best
        if d is None:
            assert s.reason
            continue
        assert d.slow_ttft_p90_s is not None and d.slow_ttft_p90_s <= 1.0 and d.slow_tpot_p90_s <= 0.05
        assert d.usd_per_hour >= plain[s.system].usd_per_hour


# --- layout syntax --------------------------------------------------------------------------


def test_parse_reads_every_key_and_fills_dp() -> None:
    lay = sl.parse("tp=4, pp=2, ep=2, adp=1, prefill=1", 16, "fp8", "fp8")
    assert (lay.tp, lay.pp, lay.dp, lay.ep, lay.adp, lay.prefill) == (4, 2, 2, 2, 1, 1)
    assert (lay.weights, lay.kv_cache, lay.chunk_tokens) == ("fp8", "fp8", 8192)
    assert lay.replica_chips == 8 and lay.chips == 16
    assert sl.parse("pp=2", 8).tp == 1 and sl.parse("pp=2", 8).dp == 4
    assert sl.parse("tp=2", 8).dp == 4
    with pytest.raises(HwprofError, match="empty"):  # asked for but blank: not the default layout
        sl.parse(" , ", 4)
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
    facts(serving.Traffic(1, 1, rate_per_s=2.5).kind, "2.5 requests/s", "Poisson")
    facts(serving.Traffic(1, 1, concurrency=4).kind, "concurrency 4", "closed loop")
    facts(serving.Traffic(1, 1).kind, "offline", "KV cache")
    facts(serving.Traffic(1, 1, concurrency=4, max_batch=2).kind, "concurrency 4", "at most 2 sequences")


def test_estimate_fields_by_hand(reg: registry.Registry) -> None:
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="fp8")
    r = serving.estimate_serve(
        model(reg, "llama3.1-70b"), target, lay, serving.Traffic(2000, 500, rate_per_s=4.0), stack=sl.NO_STACK
    )
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
    facts(r.precision_basis, "fp8", "1979 TFLOPS", "(derived)")
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
    assert b.decode_step_s == pytest.approx(max(b.decode_memory_s, b.decode_compute_s) + b.decode_comm_s
                                            + b.decode_fixed_s)  # fmt: skip
    assert b.prompt_alone_s == pytest.approx(b.prompt_compute_s + b.prompt_comm_s + b.prompt_fixed_s)
    assert b.queue_wait_s == pytest.approx(r.ttft_s.expected - b.prompt_alone_s)
    assert r.ttft_p50_s <= r.ttft_s.expected <= r.ttft_p90_s or r.ttft_p50_s <= r.ttft_p90_s
    assert r.ttft_s.low < r.ttft_s.expected < r.ttft_s.high and r.tpot_s.low < r.tpot_s.expected < r.tpot_s.high
    facts(r.range_basis, "every achieved rate", "ends of the range")
    assert r.binding == "memory bandwidth"
    assert r.cost is None
    facts(r.assumptions[0], "tp=2,pp=1,dp=4", "tensor parallel 2", "pipeline 1", "4 replicas")
    facts(r.assumptions[1], "8,192 tokens")
    facts(r.assumptions[2], "memory bandwidth 72%", "prompt compute 55%", "decode compute 50%", "w / (w + 185)")
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


# --- refusals: each message states the rule, the layout or value at fault and the fix (tests/facts.py)


def message(call: object, *args: object) -> str:
    with pytest.raises(HwprofError) as err:
        call(*args)  # type: ignore[operator]
    return str(err.value)


def test_parse_messages_state_their_facts() -> None:
    facts(message(sl.parse, "tp=x", 8), "'tp=x'", "tp, pp, dp, ep, adp, prefill", "whole number", "tp=8,pp=1,dp=2")
    facts(message(sl.parse, "tp=0", 8), "'tp=0'", "at least 1", "adp is 0, 1 or 2")
    facts(message(sl.parse, "tp=3", 8), "'tp=3'", "tp x pp = 3", "divide", "8 chips")
    lay = sl.parse("tp=2", 8)
    assert str(lay) == "tp=2,pp=1,dp=4" and isinstance(lay.dp, int)


def test_check_messages_state_their_facts(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)

    def says(lay: sl.ServeLayout, work: records.Workload = seventy, target: cluster.Cluster = p5, i: int = 100) -> str:
        return message(sl.check, work, target, lay, i, 100)

    facts(says(sl.ServeLayout(tp=8), i=0), "prompt tokens", "at least 1", "got 0")
    sl.check(seventy, p5, sl.ServeLayout(tp=8), 1, 1)  # one token each way is a request
    facts(says(sl.ServeLayout(tp=8), work=attrs.evolve(seventy, heads=60)), "tp=8,pp=1,dp=1", "60 attention heads")
    facts(says(sl.ServeLayout(tp=8), work=attrs.evolve(seventy, kv_heads=3, heads=24)), "tp=8,pp=1,dp=1",
          "3 key/value heads", "split", "copy")  # fmt: skip
    facts(says(sl.ServeLayout(tp=1, pp=8), work=attrs.evolve(seventy, layers=84)), "tp=1,pp=8,dp=1", "84 layers")
    facts(says(sl.ServeLayout(tp=8, ep=2)), "tp=8,pp=1,dp=1,ep=2", "mixture-of-experts", "llama3.1-70b is dense")
    six = attrs.evolve(model(reg, "mixtral-8x7b"), experts=6)  # ep=4 divides the 8 chips, not the 6 experts
    facts(says(sl.ServeLayout(tp=8, ep=4), work=six), "tp=8,pp=1,dp=1,ep=4", "divide", "6 experts", "8 chips")
    facts(says(sl.ServeLayout(tp=2, dp=2)), "tp=2,pp=1,dp=2", "tp x pp x dp = 4 chips", "has 8")
    facts(says(sl.ServeLayout(tp=8, prefill=1)), "tp=8,pp=1,dp=1,prefill=1", "no decode replica")
    facts(says(sl.ServeLayout(dp=8, adp=1)), "tp=1,pp=1,dp=8,adp=1", "adp=1", "needs tp > 1")
    facts(says(sl.ServeLayout(tp=8, kv_cache="int8")), "KV cache in int8", "bf16 or fp16", "fp8")
    sl.check(seventy, p5, sl.ServeLayout(tp=8, kv_cache="fp16"), 10, 10)
    two = attrs.evolve(on(reg, "p5.48xlarge", 16), tiers=p5.tiers[:1])
    facts(says(sl.ServeLayout(tp=16), target=two), "tp=16,pp=1,dp=1", "no interconnect", "16 h100-sxm chips",
          "reach 8", "scale-out tier")  # fmt: skip
    h100 = reg.chip("h100-sxm")
    facts(message(sl.compute_precision, reg.chip("trainium2"), "int4"), "weights in int4", "trainium2",
          "no int4 matmuls", "weight-only", "bf16, fp16, fp32, fp8, tf32")  # fmt: skip
    assert sl.compute_precision(h100, "fp16") == "fp16"


def test_chips_without_fp8_or_bf16(reg: registry.Registry) -> None:
    h100 = reg.chip("h100-sxm")
    sixteen_only = attrs.evolve(h100, peak_dense_tflops={"bf16": h100.peak_dense_tflops["bf16"]}, weight_only=None)
    target = attrs.evolve(on(reg, "p5.48xlarge", 8), chip=sixteen_only)
    seventy = model(reg, "llama3.1-70b")
    sl.check(seventy, target, sl.ServeLayout(tp=8, kv_cache="bf16"), 10, 10)  # a 16-bit cache needs no fp8
    facts(message(sl.check, seventy, target, sl.ServeLayout(tp=8, kv_cache="fp8"), 10, 10), "KV cache in fp8",
          "bf16 or fp16", "a chip with fp8")  # fmt: skip
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
    assert k.prefill_efficiency is None and k.prefill is None
    assert sl.KV_PRECISIONS == ("bf16", "fp16", "fp8")


def test_estimate_messages_and_assumptions(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)

    def says(target: cluster.Cluster, lay: sl.ServeLayout, load: serving.Traffic) -> str:
        return message(serving.estimate_serve, seventy, target, lay, load)

    facts(says(p5, sl.ServeLayout(tp=8), serving.Traffic(2000, 500, rate_per_s=1000.0)), "1000 requests/s",
          "1 replica of tp=8,pp=1,dp=1", "prompts", "add replicas or chips")  # fmt: skip
    facts(says(p5, sl.ServeLayout(tp=8), serving.Traffic(20, 131000, rate_per_s=1.0)), "1 requests/s",
          "1 replica of tp=8,pp=1,dp=1", "KV cache holds 11 sequences", "add replicas or chips")  # fmt: skip
    facts(says(p5, sl.ServeLayout(dp=8), serving.Traffic(10, 10)), "llama3.1-70b in bf16", "141.2 GB",
          "1 chip per replica", "h100-sxm", "77.0 GB", "at least 2 chips per replica")  # fmt: skip
    facts(says(on(reg, "p5.48xlarge", 2), sl.ServeLayout(tp=2), serving.Traffic(131000, 72)), "tp=2,pp=1,dp=1",
          "KV cache", "131,072 tokens", "more chips per replica", "smaller weight precision")  # fmt: skip
    facts(says(p5, sl.ServeLayout(tp=2, dp=4, prefill=2), serving.Traffic(10, 10)), "disaggregated",
          "request rate", "not a concurrency")  # fmt: skip
    facts(says(p5, sl.ServeLayout(tp=2, dp=4, prefill=3), serving.Traffic(2000, 500, rate_per_s=30.0)),
          "30 requests/s", "prefill replicas", "tp=2,pp=1,dp=4,prefill=3", "add replicas")  # fmt: skip
    facts(says(p5, sl.ServeLayout(tp=2, dp=4, prefill=3, weights="fp8"), serving.Traffic(100, 20_000, rate_per_s=1.0)),
          "1 requests/s", "decode replicas", "tp=2,pp=1,dp=4,prefill=3", "add replicas")  # fmt: skip
    r = serving.estimate_serve(seventy, p5, sl.ServeLayout(tp=2, dp=4, weights="fp8", kv_cache="fp8"),
                               serving.Traffic(2000, 500, rate_per_s=4.0))  # fmt: skip
    layout_, batching, efficiency, queueing, stack = r.assumptions
    facts(layout_, "tp=2,pp=1,dp=4", "tensor parallel 2", "pipeline 1", "4 replicas", "evenly")
    facts(batching, "continuous batching", "first come first served", "8,192 tokens", "decode steps")
    facts(efficiency, "memory bandwidth 72%", "prompt compute 55%", "decode compute 50%", "w / (w + 185)",
          "hidden / tp", "12 us")  # fmt: skip
    facts(queueing, "M/D/1", "Poisson", "TPOT", "prompts' share")
    facts(stack, "tensorrt-llm", "131.9 us per layer", "once per request", "chunked prefill")
    facts(r.traffic, "4 requests/s", "Poisson")
    trn2 = serving.estimate_serve(seventy, on(reg, "trn2.48xlarge", 16), sl.ServeLayout(tp=16),
                                  serving.Traffic(100, 100, concurrency=1))  # fmt: skip
    assert trn2.range_basis.endswith("; it rests on estimated figures: neuronlink-v3 efficiency")


def test_cost_counts_whole_systems_by_hand(reg: registry.Registry) -> None:
    from hwprof.cost import pricing

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
    facts(message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, max_batch=0)), "batch limit",
          "at least 1", "got 0")  # fmt: skip
    facts(message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, concurrency=0)), "concurrency",
          "at least 1", "got 0")  # fmt: skip
    facts(message(serving.estimate_serve, seventy, p5, lay, serving.Traffic(10, 10, rate_per_s=0.0)),
          "request rate", "positive", "got 0")  # fmt: skip
    facts(serving.Traffic(1, 1, rate_per_s=2.0, max_batch=8).kind, "2 requests/s", "Poisson", "at most 8 sequences")
    # a 5,000-token prompt fills its own iteration (no packing): the lane is the prompt alone
    rep = sl.replica(seventy, p5, lay)
    r = serving.estimate_serve(seventy, p5, lay, serving.Traffic(5000, 500, rate_per_s=2.0), stack=sl.NO_STACK)
    flops = 5000 * seventy.forward_flops_per_token(2500)
    alone = sum(sl.prompt_time(rep, 5000, flops, 1))
    assert r.breakdown.prompt_alone_s == pytest.approx(alone)
    assert r.breakdown.queue_wait_s > 0


def test_disaggregated_ttft_by_hand(reg: registry.Registry) -> None:
    seventy = model(reg, "llama3.1-70b")
    p5 = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4, prefill=1, weights="fp8", kv_cache="fp8")
    rep = sl.replica(seventy, p5, lay)
    r = serving.estimate_serve(seventy, p5, lay, serving.Traffic(2000, 500, rate_per_s=2.0), stack=sl.NO_STACK)
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

        # routed experts at their own shape: 1,000 x 8 / 128 = 62.5 rows, narrower than the expert's
        # 1,536 / etp columns, against the dense matmuls' 4,096 / 8 = 512 (test_stack_floors: by hand)
        experts = 1000 * r.expert_flops_per_token
        slower = (512 / (512 + 185)) / (62.5 / (62.5 + 185))

        def expected(on_one: bool, rate: float, experts: float = experts, slower: float = slower) -> float:
            matmuls = flops - attention - experts + experts * slower
            return matmuls / (8 * rate) + attention / ((1 if on_one else 8) * rate)

        alone, _ = sl.prompt_time(r, 1000, flops, 1, attention_flops=attention)
        loaded, _ = sl.prompt_time(r, 1000, flops, 1, batched=True, attention_flops=attention)
        assert alone == pytest.approx(max(expected(alone_on_one, r.prefill_flops_per_s),
                                          r.weights_bytes_per_chip / r.hbm_bytes_per_s)), adp  # fmt: skip
        assert loaded == pytest.approx(expected(loaded_on_one, r.batched_prefill_flops_per_s)), adp
    assert str(sl.parse("tp=8,ep=8,adp=2", 8)) == "tp=8,pp=1,dp=1,ep=8,adp=2"
    with pytest.raises(HwprofError, match="adp is 0, 1 or 2"):
        sl.parse("tp=8,adp=3", 8)


def at_rate(rate: float, i: int = 1000, o: int = 200) -> serving.Traffic:
    return serving.Traffic(input_tokens=i, output_tokens=o, rate_per_s=rate)


def test_an_open_loop_serves_exactly_its_rate(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    target = on(reg, "p5.48xlarge", 8)
    lay = sl.ServeLayout(tp=2, dp=4)
    q = pricing.quote(reg.cost_model("aws"), "p5.48xlarge", region="us-east-1")
    est = serving.estimate_serve(work, target, lay, at_rate(8.0), q, stack=sl.NO_STACK)
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
    return serve_search.plan_serve(
        serve_search.ServeRequest(reg.workload("llama3.1-8b"), 40.0, 1000, 200, 0.5, 0.03, max_count=4),
        [(system, reg.chip(system.chip), q)],
        reg.interconnects,
    )


def test_the_pick_meets_its_targets_one_at_a_time(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    (result,) = small_plan.systems
    best = result.best
    assert best is not None and small_plan.cheapest == "p5.48xlarge"
    est = re_estimate(reg, reg.workload("llama3.1-8b"), best, at_rate(40.0))
    assert est.ttft_p90_s == pytest.approx(best.ttft_p90_s, rel=0.02) and est.ttft_p90_s <= 0.5 * 1.02
    assert est.tpot_p90_s == pytest.approx(best.tpot_p90_s, rel=0.02) and est.tpot_p90_s <= 0.03 * 1.02
    assert best.tokens_per_s_per_chip == pytest.approx(40.0 * 200 / best.chips)
    assert best.usd_per_hour is not None and best.usd_per_million_output_tokens is not None
    assert best.usd_per_million_output_tokens == pytest.approx(best.usd_per_hour / (40.0 * 200 * 3600) * 1e6)
    if best.kind == "aggregated":
        lay = sl.parse(best.layout, best.chips, best.weights, best.kv_cache)
        assert best.decode_replicas == best.chips // (lay.tp * lay.pp) and best.prefill_replicas == 0
    assert result.evaluated == small_plan.evaluated > 0


def test_no_fewer_systems_meet_the_targets(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    best = small_plan.systems[0].best
    assert best is not None
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    for count in range(1, best.count):
        chips = count * 8
        for tp, pp, weights, kv, chunk in itertools.product(
            serve_search.TP, serve_search.PP, sl.weight_precisions(chip), serve_search.KV, serve_search.CHUNKS
        ):  # fmt: skip
            if chips % (tp * pp):
                continue
            dp = chips // (tp * pp)
            lay = sl.ServeLayout(tp=tp, pp=pp, dp=dp, weights=weights, kv_cache=kv, chunk_tokens=chunk)
            try:
                est = serving.estimate_serve(work, on(reg, "p5.48xlarge", chips), lay, at_rate(40.0))
            except HwprofError:
                continue
            assert not (est.ttft_p90_s <= 0.5 * 0.98 and est.tpot_p90_s <= 0.03 * 0.98), lay


def test_the_frontier_is_pareto_and_per_chip(small_plan: serve_search.ServePlan) -> None:
    for kind in (serve_search.AGGREGATED, serve_search.DISAGGREGATED):
        points = [p for p in small_plan.frontier if p.kind == kind]
        assert points
        for p, other in itertools.product(points, points):
            assert not (other.tokens_per_s_per_chip > p.tokens_per_s_per_chip
                        and other.tokens_per_s_per_user > p.tokens_per_s_per_user)  # fmt: skip
        users = [p.tokens_per_s_per_user for p in points]
        assert users == sorted(users, reverse=True)


def test_plan_serve_refuses_bad_goals(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    for args, needle in (((0.0, 1000, 200, 0.5, 0.03), "request rate must be positive"),
                         ((1.0, 1000, 200, 0.0, 0.03), "TTFT target must be positive"),
                         ((1.0, 1000, 200, 0.5, -1.0), "TPOT target must be positive")):  # fmt: skip
        with pytest.raises(HwprofError, match=f"^{needle}"):
            serve_search.plan_serve(serve_search.ServeRequest(work, *args), [], reg.interconnects)
    with pytest.raises(HwprofError, match="^the budget must be positive"):
        serve_search.plan_serve(
            serve_search.ServeRequest(work, 1.0, 1000, 200, 0.5, 0.03, budget_usd_per_hour=0.0), [], reg.interconnects
        )


def test_a_budget_below_the_cheapest_pick_says_so(reg: registry.Registry, small_plan: serve_search.ServePlan) -> None:
    best = small_plan.systems[0].best
    assert best is not None and best.usd_per_hour is not None
    system = reg.system("p5.48xlarge")
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    request = serve_search.ServeRequest(reg.workload("llama3.1-8b"), 40.0, 1000, 200, 0.5, 0.03,
                                        budget_usd_per_hour=best.usd_per_hour * 0.99, max_count=4)  # fmt: skip
    tight = serve_search.plan_serve(request, [(system, reg.chip(system.chip), q)], reg.interconnects)
    (result,) = tight.systems
    assert result.best is None and result.reason.startswith("over budget: cheapest meeting the targets costs")
    assert tight.cheapest is None
    unpriced = serve_search.plan_serve(
        serve_search.ServeRequest(
            reg.workload("llama3.1-8b"), 40.0, 1000, 200, 0.5, 0.03, budget_usd_per_hour=1e9, max_count=2
        ),
        [(system, reg.chip(system.chip), None)],
        reg.interconnects,
    )
    assert unpriced.systems[0].best is None  # an unpriced system cannot be judged against a budget


def test_unreachable_targets_name_the_first_one_missed(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    options = [(system, reg.chip(system.chip), None)]
    work = reg.workload("llama3.1-8b")
    ttft = serve_search.plan_serve(
        serve_search.ServeRequest(work, 1.0, 1000, 200, 1e-6, 0.03, max_count=2), options, reg.interconnects
    )
    assert ttft.systems[0].reason.startswith("TTFT p90 above target: best ")
    tpot = serve_search.plan_serve(
        serve_search.ServeRequest(work, 1.0, 1000, 200, 10.0, 1e-6, max_count=2), options, reg.interconnects
    )
    assert tpot.systems[0].reason.startswith("TPOT p90 above target: best ")
    rate = serve_search.plan_serve(
        serve_search.ServeRequest(work, 1e6, 1000, 200, 10.0, 1.0, max_count=2), options, reg.interconnects
    )
    facts(rate.systems[0].reason, "cannot serve the rate", "up to 2 systems", "prefill and decode pools")
    big = reg.workload("llama3.1-405b")
    nowhere = serve_search.plan_serve(
        serve_search.ServeRequest(big, 1.0, 1000, 200, 10.0, 1.0, precisions=("bf16",), max_count=1),
        options,
        reg.interconnects,
    )
    assert nowhere.systems[0].reason.startswith("the model does not fit on any layout")
    none = serve_search.plan_serve(
        serve_search.ServeRequest(work, 1.0, 1000, 200, 10.0, 1.0, precisions=("int3",), max_count=1),
        options,
        reg.interconnects,
    )
    facts(none.systems[0].reason, "h100-sxm", "int3")
    assert none.systems[0].evaluated == 0


def test_records_bytes_of_the_precisions_searched() -> None:
    assert records.BYTES_PER_ELEMENT["bf16"] == 2 and records.BYTES_PER_ELEMENT["fp8"] == 1


BAND = ranges.Band("serve", "own", 0.9, -0.2, 0.3, 20, 1.0, "a stated band")


def target(reg: registry.Registry) -> cluster.Cluster:
    system = reg.system("p5.48xlarge")
    return cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)


def test_a_closed_loop_range_runs_the_model_at_both_ends(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    lay = sl.ServeLayout(tp=2, dp=4)
    load = serving.Traffic(1000, 200, concurrency=16)
    first = ranges.Band("first", "own", 0.9, -0.1, 0.6, 20, 1.0, "a first-token band")
    est = serving.estimate_serve(work, target(reg), lay, load, band=BAND, stack=sl.NO_STACK, first_band=first)
    assert est.range == BAND and est.first_token_range == first
    facts(est.range_basis, "every achieved rate", "ends of the range", "a stated band", "first tokens: a first-token")
    # the ends by hand: the same estimate with every achieved rate x fast (or x slow), as the band's own
    replica = sl.replica(work, target(reg), lay)
    fast_r, slow_r = sl.scaled(replica, BAND.fast), sl.scaled(replica, BAND.slow)
    assert BAND.fast == pytest.approx(math.exp(0.2)) and BAND.slow == pytest.approx(math.exp(-0.3))
    fast = serving._solve(work, fast_r, lay, load)[0]
    slow = serving._solve(work, slow_r, lay, load)[0]
    tokens = est.tokens_per_s.expected
    assert est.tokens_per_s.low == pytest.approx(min(slow.rate_per_s * 4 * 200, tokens * math.exp(-0.3)))
    assert est.tokens_per_s.high == pytest.approx(max(fast.rate_per_s * 4 * 200, tokens * math.exp(0.2)))
    # the first token at the ends of its own regime's band (x e^0.1 faster, x e^-0.6 slower)
    first_fast = serving._solve(work, sl.scaled(replica, first.fast), lay, load)[0]
    first_slow = serving._solve(work, sl.scaled(replica, first.slow), lay, load)[0]
    assert est.ttft_s.low == pytest.approx(min(first_fast.ttft_mean_s, est.ttft_s.expected * math.exp(-0.1)))
    assert est.ttft_s.high == pytest.approx(max(first_slow.ttft_mean_s, est.ttft_s.expected * math.exp(0.6)))
    assert est.ttft_s.high > max(slow.ttft_mean_s, est.ttft_s.expected * math.exp(0.3))  # not the decode band's
    assert est.tpot_s.low == pytest.approx(min(fast.tpot_mean_s, est.tpot_s.expected * math.exp(-0.2)))
    assert est.tpot_s.high == pytest.approx(max(slow.tpot_mean_s, est.tpot_s.expected * math.exp(0.3)))


def test_the_default_band_is_the_chip_evidence_class(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    est = serving.estimate_serve(work, tgt, sl.ServeLayout(tp=8), serving.Traffic(1000, 200, rate_per_s=1.0))
    assert est.range == ranges.band("serve", ranges.evidence("serve", tgt.chip, frozenset()))
    own = serving.estimate_serve(work, tgt, sl.ServeLayout(tp=8), serving.Traffic(1000, 200, rate_per_s=1.0),
                                 published_chips=frozenset({"h100-sxm"}))  # fmt: skip
    assert own.range == ranges.band("serve", ranges.evidence("serve", tgt.chip, {"h100-sxm"}))


def test_a_disaggregated_ttft_is_the_prefill_lane_plus_the_handoff(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    lay = sl.ServeLayout(tp=2, dp=4, prefill=1)
    load = serving.Traffic(1000, 200, rate_per_s=4.0)
    est = serving.estimate_serve(work, tgt, lay, load, band=BAND, stack=sl.NO_STACK, first_band=BAND)
    replica = sl.replica(work, tgt, lay)
    handoff = float(sl.handoff_s(1000, replica, sl.tiers(tgt)))
    assert handoff > 0
    with_handoff = serving._solve(work, replica, lay, load, handoff)[0]
    without = serving._solve(work, replica, lay, load, 0.0)[0]
    for field in ("ttft_mean_s", "ttft_p50_s", "ttft_p90_s"):
        assert getattr(with_handoff, field) == pytest.approx(getattr(without, field) + handoff), field
    assert est.ttft_p50_s == pytest.approx(with_handoff.ttft_p50_s)
    assert with_handoff.tpot_mean_s == pytest.approx(without.tpot_mean_s)
    # the fast end hands over faster (every rate, links included, x fast)
    fast = serving._solve(work, sl.scaled(replica, BAND.fast), lay, load, handoff / BAND.fast)[0]
    assert est.ttft_s.low == pytest.approx(min(fast.ttft_mean_s, est.ttft_s.expected * math.exp(-0.2)))
    assert attrs.evolve(lay, prefill=0) != lay


@pytest.mark.parametrize(
    ("i", "o", "load"), [(1000, 200, {"rate_per_s": 1.0}), (64, 64, {}), (64, 64, {"concurrency": 3})]
)
def test_the_decode_step_is_its_roofline(reg: registry.Registry, i: int, o: int, load: dict[str, float]) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)
    lay = sl.ServeLayout(tp=1, dp=8)
    est = serving.estimate_serve(work, target, lay, serving.Traffic(i, o, **load))  # type: ignore[arg-type]
    r = sl.replica(work, target, lay)
    b = est.breakdown.running_sequences_per_replica
    context = i + o / 2
    weights = r.weights_bytes_per_chip / r.hbm_bytes_per_s
    matmul = 2 * work.active * b / (r.chips * r.decode_flops_per_s)
    kv = context * r.kv_bytes_per_token_per_chip * b / r.hbm_bytes_per_s
    attention = (
        4 * work.layers * context * work.heads * (work.hidden // work.heads) * b / (r.chips * r.attention_flops_per_s)
    )
    got = est.breakdown
    assert got.decode_memory_s + got.decode_compute_s == pytest.approx(max(weights, matmul) + max(kv, attention))
    assert got.decode_memory_s == pytest.approx((weights if weights >= matmul else 0) + (kv if kv >= attention else 0))
    assert got.decode_step_s == pytest.approx(got.decode_memory_s + got.decode_compute_s + got.decode_comm_s)
    assert got.decode_comm_s == pytest.approx(r.comm_fixed_s + r.comm_per_token_s * b)
    if not load:  # offline, many short sequences: the matmuls bind
        assert matmul > weights and got.decode_compute_s >= matmul * (1 - 1e-9)


def test_sliding_window_layers_cache_only_their_window(reg: registry.Registry) -> None:
    """Llama 3.1 8B with half its 32 layers on a 4,096-token sliding window: a layer caches 2 x 8 KV
    heads x 128 x 2 bytes = 4,096 bytes per token, so a 32,768-token sequence holds 16 x 4,096 x 32,768
    + 16 x 4,096 x 4,096 = 2.416 GB, not the full cache's 4.295 GB; its decode step reads that, and one
    H100's room beside the weights holds floor(room / 2.416 GB) such sequences."""
    eight = attrs.evolve(reg.workload("llama3.1-8b"), sliding_window=4096, sliding_layers=16)
    tgt = on(reg, "p5.48xlarge", 1)
    r = sl.replica(eight, tgt, sl.ServeLayout(tp=1))
    full = sl.replica(reg.workload("llama3.1-8b"), tgt, sl.ServeLayout(tp=1))
    seq = 16 * 4096 * 32_768 + 16 * 4096 * 4096
    assert r.kv_per_token(32_768) * 32_768 == pytest.approx(seq)
    assert full.kv_per_token(32_768) * 32_768 == pytest.approx(32 * 4096 * 32_768)
    assert r.kv_per_token(2000) == full.kv_per_token(2000)  # inside the window every layer keeps it all
    room = r.usable_bytes_per_chip - r.weights_bytes_per_chip
    assert r.max_batch(32_768) == math.floor(room / seq)
    assert sl.step_of(r, 32_768, 2 * eight.active).kv_s == pytest.approx(seq / r.hbm_bytes_per_s)
    got = serving.estimate_serve(eight, tgt, sl.ServeLayout(tp=1), serving.Traffic(32_000, 1536, concurrency=1))
    assert got.memory.kv_bytes_per_token * 32_768 == pytest.approx(seq)  # at the mean context 32,000 + 768
