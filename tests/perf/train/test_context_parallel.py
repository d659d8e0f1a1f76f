"""Context parallel's costs beyond the K/V ring's bandwidth, worked by hand: ring attention runs
attention as cp steps and merges them through memory (Transformer Engine's AttnFuncWithCPAndKVP2P),
and the ring's hops slow the attention they overlap.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.perf import comm
from hwprof.perf.train import layout, step
from hwprof.perf.train.job import Constants, Job

CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.2, expert_overlap=0.25)
# Llama 70B's attention: hidden 8,192, 64 query heads, 8 KV heads of 128 (q width 8,192, K width 1,024)
JOB = Job(name="toy", params=70e9, active_params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
          seq_len=8192, batch_seqs=64, chips=64, domain=8, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS,
          tiers=(comm.Tier(8, comm.Link("up", 100, 1.0, 0.0)), comm.Tier(64, comm.Link("out", 10, 1.0, 0.0))))  # fmt: skip


def test_no_merges_without_context_parallel() -> None:
    assert step.ring_merge_bytes(layout.Layout(tp=4, cp=1), JOB) == 0.0


def test_merge_bytes_by_hand() -> None:
    # tp 2, cp 4, no recompute: per step forward 8 x 4,096 (q / tp) = 32,768; backward 6 x 4,096 = 24,576
    # for dQ and 20 x 512 (kv / tp) = 10,240 for dK and dV: 67,584 per step, 4 steps
    lay = layout.Layout(tp=2, cp=4, recompute="none")
    assert step.ring_merge_bytes(lay, JOB) == pytest.approx(4 * (32_768 + 24_576 + 10_240))
    assert step.ring_merge_bytes(lay, JOB) == pytest.approx(270_336)
    # selective recompute reruns the forward's 4 merges: + 4 x 8 x 4,096 = 131,072
    assert step.ring_merge_bytes(attrs.evolve(lay, recompute="selective"), JOB) == pytest.approx(270_336 + 131_072)


def test_merges_cost_memory_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lay = layout.Layout(tp=2, pp=1, dp=8, cp=4, recompute="none")
    with_merges = step.step(lay, JOB)
    monkeypatch.setattr(step, "ring_merge_bytes", lambda *a, **k: 0.0)
    without = step.step(lay, JOB)
    # per micro-batch: 8,192 / 4 = 2,048 local tokens x 80 layers x 270,336 bytes at 2 TB/s x the memory fraction
    seconds = 2048 * 80 * 270_336 / (2e12 * CONSTANTS.memory_fraction)
    extra = (with_merges.compute - without.compute) / with_merges.micro_batches
    assert extra == pytest.approx(seconds, rel=1e-9)
    assert with_merges.memory_bound - without.memory_bound == pytest.approx(with_merges.compute - without.compute)
