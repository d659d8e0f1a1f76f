"""A serving estimate's range: every achieved rate scaled to the ends of its band (computed here with
``serve_layout.scaled``, the band's own ``fast`` and ``slow``), and never narrower than the band; a
closed loop's throughput span comes from its slow and fast ends, an open loop's is its rate."""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.core.data import registry
from hwprof.core.perf import cluster, ranges, serving
from hwprof.core.perf import serve_layout as sl

BAND = ranges.Band("serve", "own", 0.9, -0.2, 0.3, 20, 1.0, "a stated band")


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def target(reg: registry.Registry) -> cluster.Cluster:
    system = reg.system("p5.48xlarge")
    return cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)


def test_a_closed_loop_range_runs_the_model_at_both_ends(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    lay = sl.ServeLayout(tp=2, dp=4)
    load = serving.Traffic(1000, 200, concurrency=16)
    est = serving.estimate_serve(work, target(reg), lay, load, band=BAND)
    assert est.range == BAND and est.range_basis.startswith(
        "every achieved rate scaled to the ends of the range: a stated band"
    )
    # the ends by hand: the same estimate with every achieved rate x fast (or x slow), as the band's own
    replica = sl.replica(work, target(reg), lay)
    fast_r, slow_r = sl.scaled(replica, BAND.fast), sl.scaled(replica, BAND.slow)
    assert BAND.fast == pytest.approx(math.exp(0.2)) and BAND.slow == pytest.approx(math.exp(-0.3))
    fast = serving._solve(work, fast_r, lay, load)[0]
    slow = serving._solve(work, slow_r, lay, load)[0]
    tokens = est.tokens_per_s.expected
    assert est.tokens_per_s.low == pytest.approx(min(slow.rate_per_s * 4 * 200, tokens * math.exp(-0.3)))
    assert est.tokens_per_s.high == pytest.approx(max(fast.rate_per_s * 4 * 200, tokens * math.exp(0.2)))
    assert est.ttft_s.low == pytest.approx(min(fast.ttft_mean_s, est.ttft_s.expected * math.exp(-0.2)))
    assert est.ttft_s.high == pytest.approx(max(slow.ttft_mean_s, est.ttft_s.expected * math.exp(0.3)))
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
    est = serving.estimate_serve(work, tgt, lay, load, band=BAND)
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
