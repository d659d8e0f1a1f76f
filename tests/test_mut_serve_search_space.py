"""The space ``plan serve`` searches, as its docstring states it: tensor parallel and pipeline
degrees in powers of two from 1, a 16-bit and an 8-bit KV cache, chunk budgets, an aggregated option
(no prefill-only replicas), and frontier batches of 1 to 1,024 sequences per replica."""

from __future__ import annotations

from hwprof.core.perf import serve_search
from hwprof.core.perf import traffic as tr


def powers_of_two_from_one(values: tuple[int, ...]) -> bool:
    return values[0] == 1 and all(b == 2 * a for a, b in zip(values, values[1:], strict=False))


def test_the_searched_degrees_and_batches() -> None:
    assert powers_of_two_from_one(serve_search.TP) and serve_search.TP[-1] >= 64  # a 64-chip domain's tp
    assert powers_of_two_from_one(serve_search.PP)
    assert powers_of_two_from_one(serve_search.BATCHES) and serve_search.BATCHES[-1] == 1024
    assert set(serve_search.KV) == {"bf16", "fp8"} and serve_search.KV[0] == "bf16"  # index 0: the wider
    assert list(serve_search.CHUNKS) == sorted(set(serve_search.CHUNKS)) and serve_search.CHUNKS[0] > 0
    assert serve_search.PREFILL_SHARE[0] == 0.0 and all(0 <= s < 1 for s in serve_search.PREFILL_SHARE)
    assert len(set(serve_search.PREFILL_SHARE)) == len(serve_search.PREFILL_SHARE) > 1
    assert 1 <= serve_search.SEARCH_ITERATIONS <= tr.ITERATIONS
