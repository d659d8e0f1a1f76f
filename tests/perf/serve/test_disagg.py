"""Disaggregated serving (hwprof.perf.serve.disagg): each formula against a hand computation."""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.data import registry
from hwprof.errors import HwprofError
from hwprof.perf import cluster
from hwprof.perf.serve import disagg, serving
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import traffic as tr
from tests.facts import facts

# Llama 3.1 70B: 80 layers x 8 KV heads x 128 x 2 (K and V) = 163,840 elements a token; 1 byte each in fp8.
KV_FP8_PER_TOKEN = 80 * 8 * 128 * 2
NVLINK4 = 450e9 * 0.82  # per direction x efficiency (profiles: nvlink4)
EFA_P5EN, EFA_TRN2 = 50e9 * 0.65, 25e9 * 0.65


def pool(reg: registry.Registry, system_id: str, tp: int, workers: int, **kw: object) -> disagg.Pool:
    system = reg.system(system_id)
    target = cluster.cluster_for(reg.chip(system.chip), tp * workers, system, reg.interconnects)
    return disagg.Pool(target, sl.ServeLayout(tp=tp, dp=workers, weights="fp8", kv_cache="fp8", **kw))  # type: ignore[arg-type]


# --- the pooled prefill queue -------------------------------------------------------------------------------


def test_erlang_c_matches_the_textbook_values() -> None:
    assert disagg.erlang_c(1, 0.6) == pytest.approx(0.6)  # one server: the chance of waiting is rho
    assert disagg.erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at a = 1
    # M/M/3 at a = 2: B1 = 2/3, B2 = 0.4, B3 = 0.8 / 3.8; C = B3 / (1 - 2/3 (1 - B3)) = 4/9
    assert disagg.erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert disagg.erlang_c(2, 2.5) == 1.0  # past saturation every arrival waits


def test_one_prefill_worker_is_the_m_d_1_lane_of_traffic() -> None:
    prompt_s, work_s, pack, rate = 0.57, 0.43, 2, 1.2
    lane = work_s + (prompt_s - work_s) / pack
    pooled = disagg.prefill_pool(rate, 1, prompt_s, lane)
    alone = tr.at_rate(rate, 1, prompt_s, lambda b: 0.0 * b, 1.0, prompt_work_s=work_s, pack=pack)
    assert pooled.ttft_p90_s == pytest.approx(alone.ttft_p90_s)
    assert pooled.ttft_p50_s == pytest.approx(alone.ttft_p50_s)
    assert pooled.ttft_mean_s == pytest.approx(alone.ttft_mean_s)


def test_two_pooled_workers_wait_by_hand() -> None:
    # a = 2/s x 0.5 s = 1, rho = 0.5, C = 1/3; tail C exp(-2 x 2 x 0.5 t / 0.5): scale 0.25 s
    got = disagg.prefill_pool(2.0, 2, 0.5, 0.5)
    assert got.utilisation == pytest.approx(0.5)
    assert got.wait_mean_s == pytest.approx(1 / 3 * 0.25)
    assert got.ttft_p90_s == pytest.approx(0.5 + math.log((1 / 3) / 0.1) * 0.25)
    assert got.ttft_p50_s == pytest.approx(0.5)  # C = 1/3 < 0.5: the median prompt does not wait
    np = pytest.importorskip("numpy")
    table = disagg.prefill_ttft_table(2.0, np.array([0.5]), np.array([0.5]), 3)
    assert table[0, 0] == math.inf  # one worker at a = 1 cannot keep up
    assert table[0, 1] == pytest.approx(got.ttft_p90_s)
    assert table[0, 2] < table[0, 1]


def test_prefill_capacity_solves_the_tail_by_hand() -> None:
    # One worker, S = L = 0.5 s, TTFT p90 <= 1 s: ln(10 rho) x 0.5 / (2 (1 - rho)) = 0.5, rho = 0.35980
    got = disagg.prefill_capacity(1, 0.5, 0.5, 1.0)
    assert got == pytest.approx(0.35980 / 0.5, rel=1e-4)
    assert disagg.prefill_capacity(1, 0.5, 0.5, 0.4) == 0.0  # the prompt alone misses the budget
    assert disagg.prefill_capacity(4, 0.5, 0.5, 1.0) > 4 * got  # pooling: four workers do more than 4 x one


def test_decode_capacity_by_hand() -> None:
    def step(b: float) -> float:
        return 0.01 + 0.0001 * b  # 10 ms of weights, 0.1 ms of KV cache per sequence

    # TPOT 50 ms: B* = (0.05 - 0.01) / 0.0001 = 400, so 400 / (500 x 0.05) = 16 requests/s
    assert disagg.decode_capacity(step, 1000.0, 500, 0.05) == pytest.approx(16.0, rel=1e-6)
    # the KV cache holds 300: 300 / (500 x 0.04) = 15
    assert disagg.decode_capacity(step, 300.0, 500, 0.05) == pytest.approx(15.0, rel=1e-6)
    assert disagg.decode_capacity(step, 300.0, 500, 0.005) == 0.0


# --- the hand-off -------------------------------------------------------------------------------------------


def test_the_kv_cache_crosses_the_innermost_link_holding_both_pools(reg: registry.Registry) -> None:
    one = disagg.joining_link(pool(reg, "p5en.48xlarge", 1, 6).cluster, pool(reg, "p5en.48xlarge", 2, 1).cluster,
                              reg.interconnects)  # fmt: skip
    assert one.name == "nvlink4" and one.bytes_per_s == pytest.approx(NVLINK4)
    two = disagg.joining_link(pool(reg, "p5en.48xlarge", 2, 4).cluster, pool(reg, "p5en.48xlarge", 2, 2).cluster,
                              reg.interconnects)  # fmt: skip
    assert two.name == "efa-v3-p5en"  # 12 chips: more than one system's NVLink domain
    apart = disagg.joining_link(pool(reg, "trn2.48xlarge", 4, 4).cluster, pool(reg, "p5en.48xlarge", 2, 1).cluster,
                                reg.interconnects)  # fmt: skip
    assert (
        apart.bytes_per_s == pytest.approx(EFA_TRN2) and apart.latency_us == 15.0
    )  # the slower side, the longer latency


def test_handoff_time_by_hand(reg: registry.Registry) -> None:
    link = reg.interconnects["nvlink4"]
    from hwprof.perf import comm

    # 4,000 tokens x 163,840 B (fp8): the tp=1 prefill worker holds it all, the tp=2 decode worker half a chip each
    got = disagg.handoff_s(4000, KV_FP8_PER_TOKEN, KV_FP8_PER_TOKEN / 2, comm.Link.of(link))
    assert got == pytest.approx(4000 * KV_FP8_PER_TOKEN / NVLINK4 + 3e-6)
    assert got == pytest.approx(1.779e-3, rel=1e-3)


# --- the estimate -------------------------------------------------------------------------------------------


def at(rate: float) -> serving.Traffic:
    return serving.Traffic(4000, 500, rate_per_s=rate)


def test_six_prefill_workers_feed_one_decode_worker(reg: registry.Registry) -> None:
    """aiconfigurator's pick for Llama 3.1 70B on 8 x H200: 6 prefill workers at tp1 + 1 decode at tp2."""
    work = reg.workload("llama3.1-70b")
    pre, dec = pool(reg, "p5en.48xlarge", 1, 6), pool(reg, "p5en.48xlarge", 2, 1)
    est = disagg.estimate_disaggregated(work, pre, dec, at(9.0), reg.interconnects)
    rp, rd = sl.replica(work, pre.cluster, pre.layout), sl.replica(work, dec.cluster, dec.layout)
    costs = disagg.prompt_costs(work, rp, 8192, 4000)
    queue = disagg.prefill_pool(9.0, 6, costs.prompt_s, costs.lane_s)
    hand = 4000 * KV_FP8_PER_TOKEN / NVLINK4 + 3e-6
    assert est.handoff_s == pytest.approx(hand) and est.handoff_link == "nvlink4"
    assert est.handoff_bytes == pytest.approx(4000 * KV_FP8_PER_TOKEN)
    assert est.ttft_p90_s == pytest.approx(queue.ttft_p90_s + hand)
    step = disagg.decode_costs(work, rd, 4000, 500)
    decode = tr.at_rate(9.0, 500, 0.0, lambda b: sl.decode_step(step, b), float(rd.max_batch(4500)), prompt_work_s=0.0)
    assert est.tpot_p90_s == pytest.approx(decode.tpot_p90_s) and est.tpot_s.expected == pytest.approx(
        decode.tpot_mean_s
    )
    assert est.chips == 8 and est.tokens_per_s_per_chip == pytest.approx(9.0 * 500 / 8)
    assert est.prefill.requests_per_s_per_worker == pytest.approx(1.5)
    assert est.prefill.utilisation == pytest.approx(9.0 * costs.lane_s / 6)
    assert est.ttft_p90_s <= 1.0 and est.tpot_p90_s <= 0.05  # within aiconfigurator's targets
    low, high = est.ttft_s.low, est.ttft_s.high
    assert low is not None and low < est.ttft_s.expected
    assert high is None  # at the slow end of the range the six workers no longer keep up with 9 requests/s


def test_a_pool_of_one_prefill_worker_matches_the_same_layout_split(reg: registry.Registry) -> None:
    """The older ``prefill=1`` split (one layout, M/D/1 prefill lane) is the one-worker case."""
    work = reg.workload("llama3.1-8b")
    system = reg.system("p5.48xlarge")
    whole = cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)
    split = serving.estimate_serve(
        work, whole, sl.ServeLayout(tp=2, dp=4, prefill=1), serving.Traffic(1000, 200, rate_per_s=4.0)
    )
    pre = disagg.Pool(cluster.cluster_for(whole.chip, 2, system, reg.interconnects), sl.ServeLayout(tp=2, dp=1))
    dec = disagg.Pool(cluster.cluster_for(whole.chip, 6, system, reg.interconnects), sl.ServeLayout(tp=2, dp=3))
    est = disagg.estimate_disaggregated(work, pre, dec, serving.Traffic(1000, 200, rate_per_s=4.0), reg.interconnects)
    assert est.tpot_p90_s == pytest.approx(split.tpot_p90_s)
    old_handoff = float(sl.handoff_s(1000, sl.replica(work, whole, sl.ServeLayout(tp=2, dp=4)), sl.tiers(whole)))
    assert est.ttft_p90_s - est.handoff_s == pytest.approx(split.ttft_p90_s - old_handoff)


def test_cost_counts_every_pools_systems(reg: registry.Registry) -> None:
    from hwprof.cost import pricing

    work = reg.workload("llama3.1-70b")
    aws = reg.cost_model("aws")
    quote = {s: pricing.quote(aws, s, region="us-east-2") for s in ("trn2.48xlarge", "p5en.48xlarge")}
    pre = attrs.evolve(pool(reg, "trn2.48xlarge", 4, 4), quote=quote["trn2.48xlarge"])
    dec = attrs.evolve(pool(reg, "p5en.48xlarge", 2, 2), quote=quote["p5en.48xlarge"])
    est = disagg.estimate_disaggregated(work, pre, dec, at(4.0), reg.interconnects)
    assert est.cost is not None and est.cost.systems_billed == 2  # one trn2 (16 chips) + one p5en (4 of 8 chips)
    both = quote["trn2.48xlarge"].usd_per_hour + quote["p5en.48xlarge"].usd_per_hour
    assert est.cost.usd_per_hour == pytest.approx(both)
    assert est.cost.usd_per_million_output_tokens.expected == pytest.approx(both / (4.0 * 500 * 3600) * 1e6)
    assert est.handoff_link.startswith("efa-v3-")
    same = disagg.estimate_disaggregated(work, attrs.evolve(pool(reg, "p5en.48xlarge", 1, 6), quote=quote["p5en.48xlarge"]),
                                         pool(reg, "p5en.48xlarge", 2, 1), at(4.0), reg.interconnects)  # fmt: skip
    assert same.cost is not None and same.cost.systems_billed == 1  # both pools share one p5en


@pytest.mark.parametrize(
    ("pools", "rate", "needle"),
    [
        ((("p5en.48xlarge", 2, 1), ("p5en.48xlarge", 2, 1)), 9.0, "9 requests/s is more than 1 prefill worker of tp=2"),
        ((("p5en.48xlarge", 1, 6), ("p5en.48xlarge", 1, 1)), 9.0, "9 requests/s is more than 1 decode worker of tp=1"),
    ],
)
def test_a_pool_that_cannot_keep_up_is_named(reg: registry.Registry, pools: tuple, rate: float, needle: str) -> None:
    pre, dec = (pool(reg, *p) for p in pools)
    with pytest.raises(HwprofError, match=f"^{needle}"):
        disagg.estimate_disaggregated(reg.workload("llama3.1-70b"), pre, dec, at(rate), reg.interconnects)


def test_bad_pools_are_refused(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-70b")
    pre, dec = pool(reg, "p5en.48xlarge", 1, 6), pool(reg, "p5en.48xlarge", 2, 1)
    with pytest.raises(HwprofError) as caught:
        disagg.estimate_disaggregated(work, pre, dec, serving.Traffic(4000, 500, concurrency=8), reg.interconnects)
    facts(str(caught.value), "disaggregated", "request rate")
    bf16 = attrs.evolve(dec, layout=attrs.evolve(dec.layout, kv_cache="bf16"))
    with pytest.raises(HwprofError, match="the hand-off moves the cache as it is"):
        disagg.estimate_disaggregated(work, pre, bf16, at(4.0), reg.interconnects)
    wide = attrs.evolve(pre, layout=attrs.evolve(pre.layout, weights="bf16"))  # 141 GB of weights on one chip
    with pytest.raises(HwprofError, match="^prefill layout tp=1,pp=1: the weights"):
        disagg.estimate_disaggregated(work, wide, dec, at(4.0), reg.interconnects)


# --- plan serve: both kinds ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h200_plan(reg: registry.Registry) -> object:
    """aiconfigurator's question: Llama 3.1 70B on 8 x H200, 4,000 in / 500 out, TTFT <= 1 s, TPOT <= 50 ms."""
    from hwprof.perf.serve import search

    system = reg.system("p5en.48xlarge")
    return search.plan_serve(
        search.ServeRequest(reg.workload("llama3.1-70b"), 9.0, 4000, 500, 1.0, 0.05, precisions=("fp8",), max_count=1),
        [(system, reg.chip(system.chip), None)],
        reg.interconnects,
    )


def test_one_h200_system_picks_prefill_and_decode_apart_at_9_per_s(reg: registry.Registry, h200_plan: object) -> None:
    from hwprof.perf.serve import search

    (result,) = h200_plan.systems  # type: ignore[attr-defined]
    best = result.best
    assert best is not None and best.kind == search.DISAGGREGATED and best.count == 1
    pre, dec = search.deployment_pools(best, reg.system("p5en.48xlarge"), reg.chip("h200-sxm"), reg.interconnects)
    assert pre.cluster.chips + dec.cluster.chips == 8  # the workers fill the system
    # the pools are the typed layouts the plan carries: its layout strings and worker counts
    assert (f"tp={pre.layout.tp},pp={pre.layout.pp}", pre.layout.dp) == (best.prefill_layout, best.prefill_replicas)
    assert (f"tp={dec.layout.tp},pp={dec.layout.pp}", dec.layout.dp) == (best.decode_layout, best.decode_replicas)
    est = disagg.estimate_disaggregated(reg.workload("llama3.1-70b"), pre, dec, at(9.0), reg.interconnects)
    assert est.ttft_p90_s == pytest.approx(best.ttft_p90_s, rel=0.01) and est.ttft_p90_s <= 1.0
    assert est.tpot_p90_s == pytest.approx(best.tpot_p90_s, rel=0.01) and est.tpot_p90_s <= 0.05
    # No aggregated layout of the 8 chips serves 9 requests/s within the targets (each checked one at a time).
    target = cluster.cluster_for(reg.chip("h200-sxm"), 8, reg.system("p5en.48xlarge"), reg.interconnects)
    for tp in (1, 2, 4, 8):
        for kv in ("bf16", "fp8"):
            for chunk in (2048, 8192):
                lay = sl.ServeLayout(tp=tp, dp=8 // tp, weights="fp8", kv_cache=kv, chunk_tokens=chunk)
                try:
                    agg = serving.estimate_serve(reg.workload("llama3.1-70b"), target, lay, at(9.0))
                except HwprofError:
                    continue
                assert not (agg.ttft_p90_s <= 1.0 and agg.tpot_p90_s <= 0.05), lay
    assert result.why.startswith("disaggregated: no aggregated deployment in fp8/fp8 meets the targets")


def test_the_headroom_is_the_highest_rate_within_the_targets(reg: registry.Registry, h200_plan: object) -> None:
    from hwprof.perf.serve import search

    best = h200_plan.systems[0].best  # type: ignore[attr-defined]
    head = best.headroom_requests_per_s
    assert head is not None and head > 9.0
    pre, dec = search.deployment_pools(best, reg.system("p5en.48xlarge"), reg.chip("h200-sxm"), reg.interconnects)
    work = reg.workload("llama3.1-70b")
    below = disagg.estimate_disaggregated(work, pre, dec, at(head * 0.995), reg.interconnects)
    assert below.ttft_p90_s <= 1.0 and below.tpot_p90_s <= 0.05
    try:
        above = disagg.estimate_disaggregated(work, pre, dec, at(head * 1.01), reg.interconnects)
    except HwprofError:
        return  # past what the pools keep up with at all
    assert above.ttft_p90_s > 1.0 or above.tpot_p90_s > 0.05


def test_at_a_lower_rate_the_plan_says_which_kind_serves_more(reg: registry.Registry) -> None:
    from hwprof.perf.serve import search

    system = reg.system("p5en.48xlarge")
    plan = search.plan_serve(
        search.ServeRequest(reg.workload("llama3.1-70b"), 6.0, 4000, 500, 1.0, 0.05, precisions=("fp8",), max_count=1),
        [(system, reg.chip(system.chip), None)],
        reg.interconnects,
    )
    (result,) = plan.systems
    mine, other = result.versus
    assert mine.kind == result.best.kind and {mine.kind, other.kind} == {"aggregated", "disaggregated"}
    assert mine.requests_per_s >= other.requests_per_s > 6.0  # both serve 6/s; the pick serves more
    assert mine.tokens_per_s_per_chip == pytest.approx(mine.requests_per_s * 500 / 8)
    gain = mine.requests_per_s / other.requests_per_s - 1
    assert result.why.endswith(f"({gain:+.0%})") and f"for the best {other.kind}, {other.layout}" in result.why


def test_plan_serve_shows_both_kinds(run_cli: object) -> None:
    got = run_cli("plan", "serve", "--model", "llama3.1-70b", "--systems", "p5en.48xlarge", "--max-count", "1",  # type: ignore[operator]
                  "--rate", "9", "--input-tokens", "4000", "--output-tokens", "500", "--ttft-slo", "1", "--tpot-slo",
                  "0.05", "--precisions", "fp8", "--json")  # fmt: skip
    assert got.code == 0, got.err
    data = got.json()
    (row,) = data["systems"]
    assert row["best"]["kind"] == "disaggregated" and row["best"]["layout"].startswith("prefill ")
    assert {p["kind"] for p in data["frontier"]} == {"aggregated", "disaggregated"}
    table = run_cli("plan", "serve", "--model", "llama3.1-70b", "--systems", "p5en.48xlarge", "--max-count", "1",  # type: ignore[operator]
                    "--rate", "9", "--input-tokens", "4000", "--output-tokens", "500", "--ttft-slo", "1", "--tpot-slo",
                    "0.05", "--precisions", "fp8")  # fmt: skip
    assert "p5en.48xlarge: disaggregated: no aggregated deployment" in table.out
    assert (
        "\ndisaggregated  p5en.48xlarge  prefill " in table.out and "\naggregated     p5en.48xlarge  tp=" in table.out
    )


def test_estimate_serve_runs_the_pools_apart(run_cli: object) -> None:
    got = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", "p5en.48xlarge", "--prefill-layout",  # type: ignore[operator]
                  "tp=1,dp=6", "--layout", "tp=2", "--precision", "fp8", "--kv-precision", "fp8", "--rate", "9",
                  "--input-tokens", "4000", "--output-tokens", "500", "--cost-model", "none", "--json")  # fmt: skip
    assert got.code == 0, got.err
    data = got.json()
    assert data["kind"] == "serve-disaggregated" and data["chips"] == 8
    assert (data["prefill"]["workers"], data["prefill"]["layout"]) == (6, "tp=1,pp=1")
    assert (data["decode"]["workers"], data["decode"]["layout"]) == (1, "tp=2,pp=1")  # the chips left: 2 of 8
    assert data["handoff_link"] == "nvlink4"
    assert data["handoff_s"] == pytest.approx(4000 * KV_FP8_PER_TOKEN / NVLINK4 + 3e-6)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--decode-system", "p5en.48xlarge"), "error: --decode-system needs --prefill-layout"),
        (("--prefill-layout", "tp=1,dp=8"), "error: the prefill pool takes all 8 chips: no room for decode workers"),
        (("--prefill-layout", "tp=2,dp=3", "--layout", "tp=4,dp=1"), "error: --layout tp=4,dp=1: prefill 6 chips"),
        (("--spec-tokens", "2"), "error: --spec-tokens 2: give --spec-accepted"),
        (("--spec-tokens", "1", "--spec-accepted", "2.5"), "error: --spec-accepted 2.5: tokens emitted per step are 1"),
        (("--prefix-cached", "1"), "error: --prefix-cached 1: the share of each prompt already cached is 0 to below 1"),
    ],
)
def test_bad_serving_options_get_one_line(run_cli: object, args: tuple[str, ...], needle: str) -> None:
    got = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", "p5en.48xlarge", "--precision", "fp8",  # type: ignore[operator]
                  "--rate", "2", "--cost-model", "none", *args)  # fmt: skip
    assert got.code != 0 and got.err.startswith(needle), got.err
    assert len(got.err.strip().splitlines()) == 1 and "Traceback" not in got.err
