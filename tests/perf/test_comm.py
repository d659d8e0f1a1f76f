"""Collective times, each checked against arithmetic done by hand in the test."""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import records, registry
from hwprof.perf import comm
from tests.facts import facts

LINK = comm.Link("test", gb_s_per_direction=100, efficiency=0.8, latency_us=10)
SLOW = comm.Link("slow", gb_s_per_direction=25, efficiency=0.5, latency_us=20)  # 12.5e9 bytes/s


def test_reduce_scatter_moves_n_minus_1_over_n_and_pays_log2_steps() -> None:
    # 8 ranks, 1 GB: 7/8 GB over 80 GB/s = 10.9375 ms, plus 3 steps of 10 us
    assert comm.reduce_scatter(1e9, 8, LINK) == pytest.approx(7 / 8 * 1e9 / 80e9 + 3 * 10e-6)
    assert comm.all_gather(1e9, 8, LINK) == comm.reduce_scatter(1e9, 8, LINK)
    assert comm.all_reduce(1e9, 8, LINK) == pytest.approx(2 * (7 / 8 * 1e9 / 80e9 + 3 * 10e-6))


def test_one_rank_costs_nothing() -> None:
    assert comm.all_reduce(1e9, 1, LINK) == 0
    assert comm.all_to_all(1e9, 1, LINK) == 0


def test_latency_steps_round_up() -> None:
    # 5 ranks: ceil(log2 5) = 3 steps
    assert comm.reduce_scatter(0.0, 5, LINK) == pytest.approx(3 * 10e-6)


def test_all_to_all_and_p2p() -> None:
    # 4 ranks, each holds 400 MB: sends 300 MB, 2 steps
    assert comm.all_to_all(4e8, 4, LINK) == pytest.approx(3e8 / 80e9 + 2 * 10e-6)
    assert comm.p2p(8e8, LINK) == pytest.approx(8e8 / 80e9 + 10e-6)


SWITCH = attrs.evolve(LINK, all_reduce_steps=2.0)  # every chip one hop from every other


def test_a_switched_link_pays_the_same_latency_steps_at_any_chip_count() -> None:
    # 8 ranks, 1 GB: the same bytes as a ring (7/8 GB over 80 GB/s) but 1 step per reduce-scatter, not log2 8 = 3
    assert comm.reduce_scatter(1e9, 8, SWITCH) == pytest.approx(7 / 8 * 1e9 / 80e9 + 1 * 10e-6)
    assert comm.all_reduce(0.0, 8, SWITCH) == pytest.approx(2 * 10e-6)
    assert comm.all_reduce(0.0, 2, SWITCH) == comm.all_reduce(0.0, 2, LINK) == pytest.approx(2 * 10e-6)
    assert comm.all_reduce(0.0, 1, SWITCH) == 0
    # all-to-all: each rank writes straight to the others, 1 step (a tree schedule: log2 4 = 2)
    assert comm.all_to_all(4e8, 4, SWITCH) == pytest.approx(3e8 / 80e9 + 1 * 10e-6)
    # tiered: the switch inside, the slow tree across (log2 of 8 domains = 3 steps)
    tiers = (comm.Tier(8, SWITCH), comm.Tier(64, SLOW))
    inside = 7 / 8 * 1e9 / 80e9 + 1 * 10e-6
    across = 7 / 8 * (1e9 / 8) / 12.5e9 + 3 * 20e-6
    assert comm.tiered_reduce_scatter(1e9, 64, 1, tiers) == pytest.approx(inside + across)
    fast = 7 / 16 * 1.6e9 / 80e9 + 1 * 10e-6
    slow = 8 / 16 * 1.6e9 / 12.5e9 + 1 * 20e-6
    assert comm.tiered_all_to_all(1.6e9, 16, 1, tiers) == pytest.approx(max(fast, slow))


def test_tiered_reduce_scatter_is_inside_then_across() -> None:
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    # 64 ranks, stride 1: 8 inside a domain (1 GB, 7/8 over LINK), then 8 domains on 1/8 GB over SLOW
    inside = 7 / 8 * 1e9 / 80e9 + 3 * 10e-6
    across = 7 / 8 * (1e9 / 8) / 12.5e9 + 3 * 20e-6
    assert comm.tiered_reduce_scatter(1e9, 64, 1, tiers) == pytest.approx(inside + across)
    assert comm.tiered_all_reduce(1e9, 64, 1, tiers) == pytest.approx(2 * (inside + across))
    # stride 8 (e.g. data parallel behind tp=8): one member per domain, everything crosses SLOW
    assert comm.tiered_reduce_scatter(1e9, 8, 8, tiers) == pytest.approx(7 / 8 * 1e9 / 12.5e9 + 3 * 20e-6)
    # stride 2: 4 members per domain
    four = 3 / 4 * 1e9 / 80e9 + 2 * 10e-6 + 3 / 4 * (1e9 / 4) / 12.5e9 + 2 * 20e-6
    assert comm.tiered_reduce_scatter(1e9, 16, 2, tiers) == pytest.approx(four)


def test_tiered_all_to_all_is_bound_by_the_slowest_tier() -> None:
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    # 16 ranks, stride 1: 8 inside; 7/16 of the bytes go over LINK, 8/16 over SLOW
    fast = 7 / 16 * 1.6e9 / 80e9 + 3 * 10e-6
    slow = 8 / 16 * 1.6e9 / 12.5e9 + 1 * 20e-6
    assert comm.tiered_all_to_all(1.6e9, 16, 1, tiers) == pytest.approx(max(fast, slow))


def test_tiered_p2p_takes_the_innermost_tier_holding_both() -> None:
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    assert comm.tiered_p2p(1e9, 4, tiers) == pytest.approx(1e9 / 80e9 + 10e-6)
    assert comm.tiered_p2p(1e9, 8, tiers) == pytest.approx(1e9 / 12.5e9 + 20e-6)


def test_arrays_give_the_scalar_answers() -> None:
    np = pytest.importorskip("numpy")
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    sizes, groups, strides = np.array([1e9, 2e9, 5e8]), np.array([64, 8, 16]), np.array([1, 8, 2])
    got = comm.tiered_all_reduce(sizes, groups, strides, tiers, np)
    want = [
        comm.tiered_all_reduce(float(s), int(g), int(t), tiers) for s, g, t in zip(sizes, groups, strides, strict=True)
    ]
    assert got == pytest.approx(want)


def test_links_come_from_profiles_per_direction_with_efficiency_and_latency() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    nvlink = comm.Link.of(reg.interconnects["nvlink4"])
    assert nvlink.gb_s_per_direction == 450  # 900 GB/s both ways
    assert nvlink.bytes_per_s == pytest.approx(450e9 * 0.82)
    assert nvlink.latency_us == 3
    assert nvlink.all_reduce_steps == 2  # NVSwitch (sourced); a torus or EFA leaves it unset
    assert comm.Link.of(reg.interconnects["neuronlink-v3"]).all_reduce_steps == 0.0
    assert comm.Link.of(reg.interconnects["efa-v2-p5"]).all_reduce_steps == 0.0
    assert "efficiency derived" in nvlink.basis
    ultra = comm.tiers_of(reg.system("trn2-ultraserver"), reg.interconnects, 256)
    assert [(t.domain, t.link.name) for t in ultra] == [
        (16, "neuronlink-v3"), (64, "neuronlink-v3-ultraserver"), (256, "efa-v3-trn2")]  # fmt: skip
    one = comm.tiers_of(reg.system("trn2.48xlarge"), reg.interconnects, 64)
    assert [(t.domain, t.link.gb_s_per_direction) for t in one] == [(16, 512), (64, 25)]
    # a bare chip: its native scale-up link, up to the link's largest domain
    bare = comm.tiers_of(None, reg.interconnects, 8, reg.chip("h100-sxm"))
    assert [(t.domain, t.link.name) for t in bare] == [(8, "nvlink4")]
    assert comm.reach(comm.tiers_of(None, reg.interconnects, 16, reg.chip("h100-sxm"))) == 8


def test_a_link_without_efficiency_or_latency_states_the_assumption() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    ib = comm.Link.of(reg.interconnects["ib-ndr-400"])
    assert ib.efficiency == comm.DEFAULT_EFFICIENCY
    assert "assumed" in ib.basis


def test_defaults_and_basis_are_stated() -> None:
    bare = comm.Link("x", gb_s_per_direction=100)
    assert (bare.efficiency, bare.latency_us, bare.basis) == (0.8, 10.0, "")
    reg = registry.build(registry.Settings(profile_dirs=()))
    facts(
        comm.Link.of(reg.interconnects["nvlink4"]).basis, "bandwidth official", "efficiency derived", "latency derived"
    )
    facts(comm.Link.of(reg.interconnects["ib-ndr-400"]).basis, "bandwidth derived", "efficiency 0.8 assumed",
          "latency estimated")  # fmt: skip
    plain = attrs.evolve(reg.interconnects["ib-ndr-400"], latency_us=None)
    facts(comm.Link.of(plain).basis, "bandwidth derived", "efficiency 0.8 assumed", "latency 10 us assumed")
    assert comm.Link.of(plain).latency_us == 10.0


def test_tiers_stop_at_the_first_scale_out_and_a_chip_without_a_link_has_none() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    p5 = reg.system("p5.48xlarge")
    extra = attrs.evolve(p5, tiers=(*p5.tiers, records.Tier(interconnect="ib-ndr-400")))
    assert [t.link.name for t in comm.tiers_of(extra, reg.interconnects, 64)] == ["nvlink4", "efa-v2-p5"]
    assert comm.tiers_of(extra, reg.interconnects, 4)[-1].domain == 8  # never less than the system
    loner = attrs.evolve(reg.chip("h100-sxm"), scale_up="")
    assert comm.tiers_of(None, reg.interconnects, 8, loner) == ()
    assert comm.reach(()) == 1


def test_a_group_wider_apart_than_a_domain_crosses_at_once() -> None:
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    # 2 ranks 16 apart: no two share a domain of 8, so the whole reduce-scatter crosses SLOW
    assert comm.tiered_reduce_scatter(1e9, 2, 16, tiers) == pytest.approx(0.5 * 1e9 / 12.5e9 + 1 * 20e-6)


def test_node_level_dispatch_crosses_once_per_destination_domain() -> None:
    # DeepEP / HybridEP: 16 ranks in 2 domains of 8, each token picks k = 8 experts; 1.6 GB = 8
    # copies of 0.2 GB. Across: the other domain holds none of the 8 picks with chance (1/2)^8, so
    # 1 x (1 - 1/256) = 0.99609375 copies cross (a plain all-to-all sends 8/16 x 8 = 4 copies).
    tiers = (comm.Tier(8, LINK), comm.Tier(64, SLOW))
    inside = 7 / 8 * 1.6e9 / 80e9 + 3 * 10e-6  # forwarded inside: 7/8 of the copies, not 7/16
    across = 0.99609375 * 2e8 / 12.5e9 + 1 * 20e-6
    assert inside > across  # here the inner link sets the time
    assert comm.tiered_all_to_all(1.6e9, 16, 1, tiers, picks=8) == pytest.approx(inside)
    slow_out = (comm.Tier(8, LINK), comm.Tier(64, attrs.evolve(SLOW, gb_s_per_direction=5)))  # 2.5e9 bytes/s
    far = 0.99609375 * 2e8 / 2.5e9 + 1 * 20e-6
    assert comm.tiered_all_to_all(1.6e9, 16, 1, slow_out, picks=8) == pytest.approx(far)
    # 32 ranks in 4 domains: 3 x (1 - (3/4)^8) = 3 x (1 - 6,561 / 65,536) = 2.69966125 copies cross
    four = 2.69966125 * 2e8 / 2.5e9 + 2 * 20e-6
    assert comm.tiered_all_to_all(1.6e9, 32, 1, slow_out, picks=8) == pytest.approx(four)
    # one domain: the same as a plain all-to-all (7/8 of the copies over the inner link)
    one = (comm.Tier(8, LINK),)
    assert comm.tiered_all_to_all(1.6e9, 8, 1, one, picks=8) == pytest.approx(comm.tiered_all_to_all(1.6e9, 8, 1, one))
    # top-1: a token crosses to the other domain with chance 1/2, as a plain all-to-all's 8/16
    assert comm.tiered_all_to_all(1.6e9, 16, 1, tiers, picks=1) == pytest.approx(
        comm.tiered_all_to_all(1.6e9, 16, 1, tiers)
    )
