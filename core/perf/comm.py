"""Collective times over one interconnect tier, or two (inside a scale-up domain, then across).

How to call it (training and serving share it)::

    from hwprof.perf import comm
    up = comm.Link.of(interconnect_record)             # per-direction GB/s x efficiency, latency
    t = comm.all_reduce(bytes_per_rank, ranks, up)      # seconds, ring bandwidth, tree latency
    tiers = comm.tiers_of(system, interconnects, chips)  # innermost first: [(16, scale-up), (all, scale-out)]
    t = comm.tiered_all_reduce(bytes_per_rank, ranks, stride, tiers)   # inside each domain, then across

``stride`` is how far apart (in chip ranks) a group's members sit: 1 for tensor parallel, tp x cp
for data parallel, so a group of 128 with stride 8 has one member per 8-chip domain and crosses the
scale-out tier at every step. ``tiers_of`` takes a ``System`` record, or ``None`` and a ``Chip``
for a bare chip target (its native scale-up link, ``Chip.scale_up``, joining up to the link's
``max_domain_chips``).

``size`` is always the full buffer one rank holds before (all-reduce, reduce-scatter, all-to-all)
or after (all-gather) the collective, in bytes. Every function also takes numpy arrays for
``size`` and ``ranks`` when given ``xp=numpy`` (the layout search does).

Model (stated, not fitted): the bandwidth term is a ring's, ``(n-1)/n x size`` per step kind
over the link's achievable bandwidth in one direction; the latency term counts ``log2(n)`` steps,
as tree and recursive-halving schedules do, so 16,384 ranks do not pay 16,383 hops. A link whose
profile gives ``all_reduce_steps`` (a switch: every chip one hop from every other) pays at most
half that many steps per reduce-scatter or all-gather and one per all-to-all, whatever the number
of chips: each chip writes its shares straight to every peer.
"""

from __future__ import annotations

from typing import Any

import attrs

from .arith import SCALAR

# When a profile gives no achievable efficiency, collectives reach this share of the link's
# per-direction bandwidth (a judgement: NCCL-style bus bandwidth on switched links is 75-90%).
DEFAULT_EFFICIENCY = 0.8
DEFAULT_LATENCY_US = 10.0  # per step, when a profile gives none (a judgement)


@attrs.frozen
class Link:
    """What a collective sees of one tier: bytes per second one way per chip, and latency per step."""

    name: str
    gb_s_per_direction: float
    efficiency: float = DEFAULT_EFFICIENCY
    latency_us: float = DEFAULT_LATENCY_US
    # Provenance, shown in results: e.g. "bandwidth official, efficiency estimated".
    basis: str = ""
    # Latency steps of one all-reduce at any number of chips (a switched domain); 0: log2 of the chips per step kind.
    all_reduce_steps: float = 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.gb_s_per_direction * 1e9 * self.efficiency

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6

    @classmethod
    def of(cls, link: Any) -> Link:
        """From an ``Interconnect`` record: per-direction bandwidth, its efficiency and latency."""
        eff = getattr(link, "efficiency", None)
        lat = getattr(link, "latency_us", None)
        steps = getattr(link, "all_reduce_steps", None)
        statuses = [f"bandwidth {link.bandwidth_per_chip_gb_s.status}"]
        statuses.append(f"efficiency {eff.status}" if eff else f"efficiency {DEFAULT_EFFICIENCY:g} assumed")
        statuses.append(f"latency {lat.status}" if lat else f"latency {DEFAULT_LATENCY_US:g} us assumed")
        return cls(
            name=link.id,
            gb_s_per_direction=link.per_direction_gb_s,
            efficiency=eff.value if eff else DEFAULT_EFFICIENCY,
            latency_us=lat.value if lat else DEFAULT_LATENCY_US,
            basis=", ".join(statuses),
            all_reduce_steps=steps.value if steps else 0.0,
        )


def _steps(ranks: Any, xp: Any, direct: float = 0.0) -> Any:
    """Latency steps of one reduce-scatter or all-gather: ceil(log2 n) for a tree schedule, 0 for one
    rank; at most ``direct`` where every rank reaches every other in one step (a switch)."""
    tree = xp.ceil(xp.log2(xp.maximum(ranks, 1)))
    return xp.minimum(tree, direct) if direct else tree


def reduce_scatter(size: Any, ranks: Any, link: Link, xp: Any = SCALAR) -> Any:
    """Each rank ends with 1/n of the sum: (n-1)/n x size over the link."""
    steps = _steps(ranks, xp, link.all_reduce_steps / 2)
    return (ranks - 1) / ranks * size / link.bytes_per_s + steps * link.latency_s


def all_gather(size: Any, ranks: Any, link: Link, xp: Any = SCALAR) -> Any:
    """Each rank ends with the whole ``size``, having held 1/n of it: the mirror of reduce-scatter."""
    return reduce_scatter(size, ranks, link, xp)


def all_reduce(size: Any, ranks: Any, link: Link, xp: Any = SCALAR) -> Any:
    """Reduce-scatter then all-gather: 2 (n-1)/n x size."""
    return 2 * reduce_scatter(size, ranks, link, xp)


def all_to_all(size: Any, ranks: Any, link: Link, xp: Any = SCALAR) -> Any:
    """Each rank sends (n-1)/n of its ``size`` bytes to the others, all at once."""
    steps = _steps(ranks, xp, 1.0 if link.all_reduce_steps else 0.0)
    return (ranks - 1) / ranks * size / link.bytes_per_s + steps * link.latency_s


def p2p(size: Any, link: Link) -> Any:
    """One send to a neighbour (pipeline stages)."""
    return size / link.bytes_per_s + link.latency_s


@attrs.frozen
class Tier:
    """One level of a network as collectives see it: ``domain`` chips joined by ``link``."""

    domain: int  # chips in one domain at this level; the outermost tier joins everything
    link: Link


def tiers_of(system: Any, interconnects: dict[str, Any], chips: int, chip: Any = None) -> tuple[Tier, ...]:
    """The tiers of ``system`` (innermost first), or a bare chip's native scale-up link.

    Each tier's domain is its ``domain_chips`` (or the whole system); the outermost tier's domain
    is ``chips``, the whole cluster. A bare chip target with more chips than its link joins, or a
    system without a scale-out tier used beyond one system, has no link for the rest: the last
    tier returned then ends short of ``chips`` and the caller refuses (``reach``).
    """
    found: list[Tier] = []
    if system is not None:
        for tier in system.tiers:
            record = interconnects[tier.interconnect]
            if record.tier == "scale-out":
                found.append(Tier(max(chips, system.chips), Link.of(record)))
                break
            found.append(Tier(tier.domain_chips or system.chips, Link.of(record)))
    elif chip is not None and chip.scale_up:
        record = interconnects.get(chip.scale_up)
        if record is not None:
            found.append(Tier(min(chips, record.max_domain_chips or chips), Link.of(record)))
    return tuple(found)


def reach(tiers: tuple[Tier, ...]) -> int:
    """Chips the tiers can join (1 without any)."""
    return tiers[-1].domain if tiers else 1


def _inside(group: Any, stride: Any, domain: int, xp: Any) -> Any:
    """Members of a group (``stride`` ranks apart) that share one domain of ``domain`` chips."""
    return xp.minimum(xp.maximum(domain // stride, 1), group)


def tiered_reduce_scatter(size: Any, group: Any, stride: Any, tiers: tuple[Tier, ...], xp: Any = SCALAR) -> Any:
    """Reduce-scatter inside the innermost domain, then each shard across the next tier, and so on
    (the bandwidth-optimal hierarchical schedule; every chip uses its own share of each link)."""
    total: Any = 0.0
    before: Any = 1
    for k, tier in enumerate(tiers):
        inside = group if k == len(tiers) - 1 else _inside(group, stride, tier.domain, xp)
        inside = xp.maximum(inside, before)
        total = total + reduce_scatter(size / before, inside / before, tier.link, xp)
        before = inside
    return total


def tiered_all_gather(size: Any, group: Any, stride: Any, tiers: tuple[Tier, ...], xp: Any = SCALAR) -> Any:
    return tiered_reduce_scatter(size, group, stride, tiers, xp)


def tiered_all_reduce(size: Any, group: Any, stride: Any, tiers: tuple[Tier, ...], xp: Any = SCALAR) -> Any:
    return 2 * tiered_reduce_scatter(size, group, stride, tiers, xp)


def tiered_all_to_all(size: Any, group: Any, stride: Any, tiers: tuple[Tier, ...], xp: Any = SCALAR,
                      picks: int = 0) -> Any:  # fmt: skip
    """Each member sends (n-1)/n of ``size``; the share bound for peers beyond a domain crosses
    that tier's link. Tiers run at once, so the slowest tier sets the time.

    ``picks`` k > 0: ``size`` is k copies of each token (a mixture-of-experts dispatch) and the
    dispatch goes once per destination DOMAIN (DeepEP / HybridEP: across the outer link to one rank
    of each node holding a picked expert, then forwarded over the inner link). Beyond the innermost
    tier, of u domains a token reaches (u-1)(1-(1-1/u)^k) others (k experts picked uniformly, with
    replacement): that many copies of k cross; inside the innermost domain a rank forwards (n-1)/n of
    the k copies (instead of (n-1)/group)."""
    slowest: Any = 0.0
    before: Any = 1
    for k, tier in enumerate(tiers):
        inside = group if k == len(tiers) - 1 else _inside(group, stride, tier.domain, xp)
        inside = xp.maximum(inside, before)
        share = (inside - before) / group
        if picks and k == 0:
            share = (inside - 1) / inside
        elif picks:
            units = inside / before
            share = (units - 1) * (1 - (1 - 1 / units) ** picks) / picks
        steps = _steps(inside / before, xp, 1.0 if tier.link.all_reduce_steps else 0.0)
        t = share * size / tier.link.bytes_per_s + steps * tier.link.latency_s
        slowest = xp.maximum(slowest, t)
        before = inside
    return slowest


def tiered_p2p(size: Any, stride: Any, tiers: tuple[Tier, ...], xp: Any = SCALAR) -> Any:
    """One send between ranks ``stride`` apart: over the innermost tier whose domain holds both."""
    if not tiers:
        return 0.0
    result: Any = p2p(size, tiers[-1].link)
    for tier in reversed(tiers[:-1]):
        result = xp.where(2 * stride <= tier.domain, p2p(size, tier.link), result)
    return result
