"""``plan serve`` for a mixture-of-experts model tries experts over the tensor ranks (with and
without attention data parallel): every layout it can pick parses and re-estimates to its own figures.

The space ``plan serve`` searches, as its docstring states it: tensor parallel and pipeline
degrees in powers of two from 1, a 16-bit and an 8-bit KV cache, chunk budgets, an aggregated option
(no prefill-only replicas), and frontier batches of 1 to 1,024 sequences per replica.
"""

from __future__ import annotations

import pytest

from hwprof.data import registry
from hwprof.perf import cluster
from hwprof.perf.serve import layout as sl
from hwprof.perf.serve import search as serve_search
from hwprof.perf.serve import serving
from hwprof.perf.serve import traffic as tr


def test_a_moe_pick_re_estimates_to_its_figures(reg: registry.Registry) -> None:
    work = reg.workload("mixtral-8x7b")
    system = reg.system("p5.48xlarge")
    got = serve_search.plan_serve(
        serve_search.ServeRequest(work, 2.0, 1000, 200, 2.0, 0.1, max_count=1, kinds=(serve_search.AGGREGATED,)),
        [(system, reg.chip(system.chip), None)],
        reg.interconnects,
    )
    best = got.systems[0].best
    assert best is not None
    lay = sl.parse(best.layout, best.chips, best.weights, best.kv_cache)
    assert lay.chips == best.chips
    assert best.layout_fields == attrs_chunk(lay, best.chunk_tokens)  # the typed layout is the string's
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


def powers_of_two_from_one(values: tuple[int, ...]) -> bool:
    return values[0] == 1 and all(b == 2 * a for a, b in zip(values, values[1:], strict=False))


def test_the_searched_degrees_and_batches() -> None:
    assert powers_of_two_from_one(serve_search.TP) and serve_search.TP[-1] >= 64  # a 64-chip domain's tp
    assert powers_of_two_from_one(serve_search.PP)
    assert powers_of_two_from_one(serve_search.BATCHES) and serve_search.BATCHES[-1] == 1024
    assert set(serve_search.KV) == {"bf16", "fp8"} and serve_search.KV[0] == "bf16"  # index 0: the wider
    assert list(serve_search.CHUNKS) == sorted(set(serve_search.CHUNKS)) and serve_search.CHUNKS[0] > 0
    assert 1 <= serve_search.SEARCH_ITERATIONS <= tr.ITERATIONS
