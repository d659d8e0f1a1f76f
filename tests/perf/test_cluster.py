"""What an estimate runs on: chips joined into whole systems.

What an estimate runs on (``cluster``), the aggregate peaks of N chips (``aggregate``) and the
scalar stand-in for numpy (``arith``), against arithmetic done here from the registry's own per-chip
figures (read at test time, so a profile edit does not break them).
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.cost import pricing
from hwprof.data import records, registry
from hwprof.errors import HwprofError
from hwprof.perf import aggregate, cluster, comm
from hwprof.perf.arith import SCALAR
from tests.facts import facts


def test_chip_counts_round_up_to_whole_systems() -> None:
    from hwprof.data import records
    from hwprof.perf.cluster import whole_systems

    eight = records.System(id="s", name="s", kind="box", chip="c", chips=8,
                           source=records.Source(key="k", title="t"), status="official")  # fmt: skip
    assert [whole_systems(n, eight) for n in (1, 8, 9, 16, 17)] == [8, 8, 16, 16, 24]


# ----------------------------------------------------------------------------- arith


def test_the_scalar_namespace_does_what_numpy_does() -> None:
    np = pytest.importorskip("numpy")
    for a, b in ((1.0, 2.0), (2.0, 1.0), (3.0, 3.0), (-1.5, 0.5)):
        assert SCALAR.maximum(a, b) == np.maximum(a, b) and SCALAR.minimum(a, b) == np.minimum(a, b)
        assert SCALAR.where(a > b, a, b) == np.where(a > b, a, b)
    for x in (0.5, 1.0, 2.5, -2.5, 7.0):
        assert SCALAR.ceil(x) == np.ceil(x) and SCALAR.floor(x) == np.floor(x)
    for x in (1.0, 2.0, 3.0, 1024.0):
        assert SCALAR.log2(x) == pytest.approx(np.log2(x))
    assert SCALAR.where(False, 1, 2) == 2 and SCALAR.where(True, 1, 2) == 1
    assert SCALAR.maximum(2, 2) == 2 and SCALAR.minimum(2, 2) == 2


# ----------------------------------------------------------------------------- cluster


def test_cluster_for_a_system_reads_its_tiers(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    target = cluster.cluster_for(chip, 32, system, reg.interconnects)
    links = [reg.interconnects[t.interconnect] for t in system.tiers]
    up = next((link, t) for link, t in zip(links, system.tiers, strict=True) if link.tier == "scale-up")
    out = next(link for link in links if link.tier == "scale-out")
    assert target.scale_up == up[0] and target.scale_out == out
    assert target.scale_up_domain == (up[1].domain_chips or system.chips)
    assert target.tiers == comm.tiers_of(system, reg.interconnects, 32, chip)
    assert target.chips == 32 and target.system == system and target.chip == chip
    assert target.label == "4 x p5.48xlarge"
    assert cluster.cluster_for(chip, 8, system, reg.interconnects).label == "p5.48xlarge"
    assert cluster.cluster_for(chip, 2, system, reg.interconnects).label == "2 of the 8 chips of one p5.48xlarge"


def test_the_first_scale_up_tier_is_the_one_used(reg: registry.Registry) -> None:
    # an UltraServer: NeuronLink inside the instance, then a wider NeuronLink tier, then EFA
    system = reg.system("trn2-ultraserver")
    links = [reg.interconnects[t.interconnect] for t in system.tiers]
    ups = [(link, t) for link, t in zip(links, system.tiers, strict=True) if link.tier == "scale-up"]
    assert len(ups) >= 2
    target = cluster.cluster_for(reg.chip(system.chip), system.chips, system, reg.interconnects)
    assert target.scale_up == ups[0][0] and target.scale_up_domain == (ups[0][1].domain_chips or system.chips)


def test_a_bare_chip_uses_its_native_link(reg: registry.Registry) -> None:
    chip = reg.chip("h100-sxm")
    link = reg.interconnects[chip.scale_up]
    four = cluster.cluster_for(chip, 4, None, reg.interconnects)
    assert four.scale_up == link and four.scale_up_domain == 4 and four.scale_out is None
    assert four.label == "4 x h100-sxm" and four.system is None
    if link.max_domain_chips:
        many = cluster.cluster_for(chip, link.max_domain_chips * 2, None, reg.interconnects)
        assert many.scale_up_domain == link.max_domain_chips
    unlinked = attrs.evolve(chip, scale_up="")
    alone = cluster.cluster_for(unlinked, 1, None, reg.interconnects)
    assert alone.scale_up is None and alone.scale_up_domain == 1 and alone.tiers == ()
    unknown = attrs.evolve(chip, scale_up="no-such-link")
    assert cluster.cluster_for(unknown, 2, None, reg.interconnects).scale_up is None


def test_whole_systems_and_spans() -> None:
    eight = records.System(id="s", name="s", kind="box", chip="c", chips=8, source=records.Source(key="k", title="t"),
                           status="official")  # fmt: skip
    assert [cluster.whole_systems(n, eight) for n in (1, 7, 8, 9, 16, 17, 64)] == [8, 8, 8, 16, 16, 24, 64]
    assert cluster.span(2.0, 1.0, 3.0) == {"low": 1.0, "expected": 2.0, "high": 3.0}


def test_peaks_and_positive_numbers(reg: registry.Registry) -> None:
    chip = reg.chip("h100-sxm")
    assert cluster.peak_tflops(chip, "bf16") == chip.peak_dense_tflops["bf16"]
    with pytest.raises(HwprofError) as caught:
        cluster.peak_tflops(chip, "int3")
    known = ", ".join(chip.peak_dense_tflops)
    assert str(caught.value).endswith(f"h100-sxm has no int3 peak; it has {known}")
    assert caught.value.subject == "precision"
    for good in (1e-9, 1.0, 1e30):
        cluster.check_positive("--tokens", good)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(HwprofError) as caught:
            cluster.check_positive("--seq-len", bad)
        assert caught.value.subject == "seq_len" and str(caught.value).endswith(
            f"must be a positive number, got {bad:g}"
        )


def test_cost_and_energy_over_hours(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    target = cluster.cluster_for(chip, 16, system, reg.interconnects)
    hours = {"low": 1.0, "expected": 2.0, "high": 4.0}
    cost = cluster.cost_over(q, target, hours)
    assert cost is not None
    assert cost["usd_per_hour"] == pytest.approx(2 * q.usd_per_hour)
    assert cost["cost_usd"] == pytest.approx({k: v * 2 * q.usd_per_hour for k, v in hours.items()})
    assert cost["price"] == q.as_json() and list(q.warnings()) == list(cost["warnings"])[: len(q.warnings())]
    assert cluster.cost_over(None, target, hours) is None
    assert cluster.cost_over(q, cluster.cluster_for(chip, 8, None, reg.interconnects), hours) is None
    energy = cluster.energy_over(target, hours)
    assert energy is not None
    kw = 16 * chip.tdp_w.value / 1000  # type: ignore[union-attr]
    assert energy["power_kw"] == pytest.approx(kw) and energy["power_status"] == chip.tdp_w.status  # type: ignore[union-attr]
    assert energy["energy_kwh"] == pytest.approx({k: v * kw for k, v in hours.items()})
    facts(energy["note"], "rated power", "upper bound", "host and cooling")
    no_tdp = attrs.evolve(target, chip=attrs.evolve(chip, tdp_w=None))
    assert cluster.energy_over(no_tdp, hours) is None


def test_rests_on_lists_each_figure_with_its_status(reg: registry.Registry) -> None:
    system = reg.system("trn1.32xlarge")  # a chip with a training software factor
    chip = reg.chip(system.chip)
    target = cluster.cluster_for(chip, 8, system, reg.interconnects)
    assert chip.training_efficiency is not None
    peak = chip.peak_dense_tflops["bf16"]
    got = cluster.rests_on(target, peak)
    want = [f"peak: {peak.status}", f"memory_bandwidth_tbps: {chip.memory_bandwidth_tbps.status}",
            f"memory: {chip.memory.status}"]  # fmt: skip
    if chip.tdp_w is not None:
        want.append(f"tdp_w: {chip.tdp_w.status}")
    assert target.scale_up is not None
    want.append(f"{target.scale_up.id}: {target.scale_up.bandwidth_per_chip_gb_s.status}")
    assert got == want
    trained = cluster.rests_on(target, peak, training=True)
    assert trained == [*want[:-1], f"training_efficiency: {chip.training_efficiency.status}", want[-1]]
    lone = attrs.evolve(target, scale_up=None)
    assert cluster.rests_on(lone, peak) == want[:-1]


def test_usable_memory_is_a_fraction() -> None:
    assert 0 < cluster.USABLE_MEMORY_FRACTION < 1


# ----------------------------------------------------------------------------- aggregate


def test_aggregate_chips_by_hand(reg: registry.Registry) -> None:
    chip = reg.chip("trainium2")
    got = aggregate.aggregate_chips(chip, 16)
    assert got["chip"] == "trainium2" and got["chips"] == 16
    for precision, figure in chip.peak_dense_tflops.items():
        total = got["peak_dense_pflops"][precision]
        assert total["value"] == pytest.approx(figure.value * 16 / 1000)
        assert total["per_chip_tflops"] == figure.value and total["status"] == figure.status
    for precision, figure in chip.peak_sparse_tflops.items():
        assert got["peak_sparse_pflops"][precision]["value"] == pytest.approx(figure.value * 16 / 1000)
    key = "memory_gib" if chip.memory_gib is not None else "memory_gb"
    assert got[key]["value"] == pytest.approx(chip.memory.value * 16)
    assert got[key][f"per_chip_{key.removeprefix('memory_')}"] == chip.memory.value
    assert got["memory_bandwidth_tbps"]["value"] == pytest.approx(chip.memory_bandwidth_tbps.value * 16)
    assert got["memory_bandwidth_tbps"]["per_chip_tbps"] == chip.memory_bandwidth_tbps.value
    if chip.tdp_w is not None:
        assert got["power_kw"]["value"] == pytest.approx(chip.tdp_w.value * 16 / 1000)
        assert got["power_kw"]["per_chip_w"] == chip.tdp_w.value
    assert got["rests_on_non_official"] == aggregate.non_official(chip)
    assert ("sparsity_note" in got) == bool(chip.sparsity_note)


def test_a_total_keeps_its_alternatives_and_a_missing_figure_stays_missing() -> None:
    source = records.Source(key="k", title="t")
    fig = records.Figure(value=2.0, status="estimated", source=source,
                         alternatives=(records.Figure(value=3.0, status="reported", source=source),))  # fmt: skip
    total = aggregate._total(fig, 4, "w", 0.5)
    assert total is not None
    assert total["value"] == 4.0 and total["per_chip_w"] == 2.0 and total["status"] == "estimated"
    assert total["alternatives"] == [6.0]
    assert "alternatives" not in (aggregate._total(attrs.evolve(fig, alternatives=()), 4, "w") or {})
    assert aggregate._total(None, 4, "w") is None
    assert aggregate._total(fig, 3, "w")["value"] == 6.0  # type: ignore[index]


def test_non_official_names_every_figure_that_is_not_official(reg: registry.Registry) -> None:
    chip = reg.chip("trainium2")
    source = records.Source(key="k", title="t")
    official = records.Figure(value=1.0, status="official", source=source)
    clean = attrs.evolve(chip, peak_dense_tflops={"bf16": official}, peak_sparse_tflops={}, memory_gib=official,
                         memory_gb=None, memory_bandwidth_tbps=official, tdp_w=None)  # fmt: skip
    assert aggregate.non_official(clean) == []
    pressed = attrs.evolve(official, status="estimated")
    dirty = attrs.evolve(clean, peak_dense_tflops={"bf16": official, "fp8": pressed}, peak_sparse_tflops={"fp8": pressed},
                         memory_bandwidth_tbps=pressed, tdp_w=attrs.evolve(official, status="reported"))  # fmt: skip
    assert aggregate.non_official(dirty) == ["peak_dense_tflops.fp8: estimated", "peak_sparse_tflops.fp8: estimated",
                                             "memory_bandwidth_tbps: estimated", "tdp_w: reported"]  # fmt: skip
    assert aggregate.non_official(attrs.evolve(clean, memory_gib=pressed)) == ["memory: estimated"]


def test_aggregate_system_by_hand(reg: registry.Registry) -> None:
    system = reg.system("trn2-ultraserver")
    chip = reg.chip(system.chip)
    got = aggregate.aggregate_system(system, chip, reg.interconnects, count=2)
    assert got["system"] == system.id and got["systems"] == 2 and got["chips"] == system.chips * 2
    key = "memory_gib" if chip.memory_gib is not None else "memory_gb"
    assert got[key]["value"] == pytest.approx(chip.memory.value * system.chips * 2)
    assert len(got["tiers"]) == len(system.tiers)
    for tier, out in zip(system.tiers, got["tiers"], strict=True):
        link = reg.interconnects[tier.interconnect]
        assert out == {"interconnect": link.id, "tier": link.tier, "domain_chips": tier.domain_chips or system.chips * 2,
                       "bandwidth_per_chip_gb_s": link.bandwidth_per_chip_gb_s.value, "direction": link.direction,
                       "per_direction_gb_s": link.per_direction_gb_s,
                       "status": link.bandwidth_per_chip_gb_s.status}  # fmt: skip
    ups = [t["domain_chips"] for t in got["tiers"] if t["tier"] == "scale-up"]
    assert got["scale_up_domain_chips"] == max(ups)
    assert [c["metric"] for c in got["claims"]] == [c.metric for c in system.claims]
    assert all(set(c) == {"metric", "value", "status", "source", "note"} for c in got["claims"])
    lone = attrs.evolve(
        system, tiers=tuple(t for t in system.tiers if reg.interconnects[t.interconnect].tier != "scale-up")
    )
    assert aggregate.aggregate_system(lone, chip, reg.interconnects)["scale_up_domain_chips"] == 1
    assert aggregate.aggregate_system(system, chip, reg.interconnects)["systems"] == 1


def test_a_cluster_defaults_to_chips_on_no_network(reg: registry.Registry) -> None:
    chip = reg.chip("h100-sxm")
    lone = cluster.Cluster(chip=chip, chips=2)
    assert lone.system is None and lone.scale_up is None and lone.scale_out is None
    assert lone.scale_up_domain == 1 and lone.tiers == () and lone.label == "2 x h100-sxm"
    q = pricing.quote(reg.cost_model("aws"), "p5.48xlarge", region="us-east-1")
    assert cluster.cost_over(q, lone, {"expected": 1.0}) is None


def test_the_first_scale_out_tier_is_the_one_used(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    outs = [t for t in system.tiers if reg.interconnects[t.interconnect].tier == "scale-out"]
    other = next(i for i in reg.interconnects.values() if i.tier == "scale-out" and i.id != outs[0].interconnect)
    doubled = attrs.evolve(system, tiers=(*system.tiers, attrs.evolve(outs[0], interconnect=other.id)))
    target = cluster.cluster_for(reg.chip(system.chip), 16, doubled, reg.interconnects)
    assert target.scale_out == reg.interconnects[outs[0].interconnect]


def test_part_of_a_system_is_billed_whole_and_said(reg: registry.Registry) -> None:
    system = reg.system("p5.48xlarge")
    chip = reg.chip(system.chip)
    q = pricing.quote(reg.cost_model("aws"), system.id, region="us-east-1")
    hours = {"expected": 2.0}
    two = cluster.cost_over(q, cluster.cluster_for(chip, 2, system, reg.interconnects), hours)
    assert two is not None and two["usd_per_hour"] == pytest.approx(q.usd_per_hour) and two["systems_billed"] == 1
    assert two["cost_usd"]["expected"] == pytest.approx(2 * q.usd_per_hour)
    facts(two["warnings"][-1], "2 chips", "1 p5.48xlarge", "billed", "6 chips idle")
    ten = cluster.cost_over(q, cluster.cluster_for(chip, 10, system, reg.interconnects), hours)
    assert ten is not None and ten["systems_billed"] == 2 and ten["usd_per_hour"] == pytest.approx(2 * q.usd_per_hour)
    facts(ten["warnings"][-1], "10 chips", "2 p5.48xlarge", "billed", "6 chips idle")
    whole = cluster.cost_over(q, cluster.cluster_for(chip, 16, system, reg.interconnects), hours)
    assert whole is not None and whole["systems_billed"] == 2 and list(whole["warnings"]) == list(q.warnings())
