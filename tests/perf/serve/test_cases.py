"""The published serving cases as the source ran them: compiled shapes a case states."""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf.serve import cases


def test_a_case_runs_its_decode_at_the_batch_its_server_compiled(reg: registry.Registry) -> None:
    """Qwen3-30B-A3B on one Trainium2 chip, one user, an optimum-neuron server compiled at batch 16 and
    4,096 positions: every decode step runs 16 rows, and 16 x 8 / 128 = 1 reaches NxD's switch to all
    experts, so it reads all 30.5B weights in bf16 and 16 caches of 4,096 positions (48 layers x 4 KV heads
    x 128 x 2 x 2 bytes per token), over 2.9 TB/s x 0.724, plus the stack's 6.3 ms host step. Uncompiled,
    the same user reads its 8 experts and its own 1,625-token cache."""
    case = reg.validation_cases["val-serve-optimum-trn2-qwen3-30b-sync-tpot"]
    assert case.batch_buckets == (16,) and case.prompt_buckets == (4096,)
    reads = 30.5e9 * 2 + 16 * 4096 * 48 * 4 * 128 * 2 * 2
    compiled = cases.predict(case, reg)["expected"]
    assert compiled == pytest.approx(reads / (2.9e12 * 0.724) + 6.299e-3, rel=1e-2)
    alone = cases.predict(attrs.evolve(case, batch_buckets=()), reg)["expected"]
    assert alone < compiled / 2
