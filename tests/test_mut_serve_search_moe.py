"""``plan serve`` for a mixture-of-experts model tries experts over the tensor ranks (with and
without attention data parallel): every layout it can pick parses and re-estimates to its own figures."""

from __future__ import annotations

import pytest

from hwprof.core.data import registry
from hwprof.core.perf import cluster, serve_search, serving
from hwprof.core.perf import serve_layout as sl


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_a_moe_pick_re_estimates_to_its_figures(reg: registry.Registry) -> None:
    work = reg.workload("mixtral-8x7b")
    system = reg.system("p5.48xlarge")
    got = serve_search.plan_serve(work, [(system, reg.chip(system.chip), None)], reg.interconnects, 2.0, 1000, 200,
                                  2.0, 0.1, max_count=1)  # fmt: skip
    best = got.systems[0].best
    assert best is not None
    lay = sl.parse(best.layout, best.chips, best.weights, best.kv_cache)
    assert lay.chips == best.chips
    target = cluster.cluster_for(reg.chip(system.chip), best.chips, system, reg.interconnects)
    est = serving.estimate_serve(
        work, target, attrs_chunk(lay, best.chunk_tokens), serving.Traffic(1000, 200, rate_per_s=2.0)
    )
    assert est.ttft_p90_s == pytest.approx(best.ttft_p90_s, rel=0.02)
    assert est.tpot_p90_s == pytest.approx(best.tpot_p90_s, rel=0.02)
    # each expert mode is a layout suffix the parser takes, for the widest tensor parallel searched
    for mode in serve_search.EXPERT_MODES:
        text = "tp=8,pp=1,dp=1" + mode.format(tp=8)
        parsed = sl.parse(text, 8)
        assert parsed.tp == 8 and parsed.ep in (1, 8) and parsed.adp in (0, 1)
    assert serve_search.EXPERT_MODES[0] == ""  # no expert parallel is always tried


def attrs_chunk(lay: sl.ServeLayout, chunk: int) -> sl.ServeLayout:
    import attrs

    return attrs.evolve(lay, chunk_tokens=chunk)
