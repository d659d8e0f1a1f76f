"""Tensor parallel wider than the KV heads: each rank computes a whole K and V head (Neuron's
``--kv_replicator``), matmul work the model's FLOP count leaves out. Worked by hand here."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.perf import layout, step
from hwprof.core.perf.job import Constants, Job

CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.0, expert_overlap=0.25)
# Llama 70B's attention: hidden 8,192, 64 query heads, 8 KV heads of 128
JOB = Job(name="toy", params=70e9, active_params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
          seq_len=4096, batch_seqs=64, chips=64, domain=64, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS)  # fmt: skip


def test_no_copies_while_tensor_parallel_stays_within_the_kv_heads() -> None:
    for tp in (1, 2, 8):
        assert step.copied_kv_flops(layout.Layout(tp=tp), JOB) == 0.0


def test_copies_past_the_kv_heads() -> None:
    # tp 32 over 8 KV heads: each rank computes 1 K and 1 V head, 2 x 8,192 x 128 weights, 3 x 2 FLOPs
    # per weight and token (forward, two backward): 12 x 8,192 x 128 = 12.58M per rank and layer,
    # 32 ranks = 402.7M, against the count's 12 x 8,192 x 128 x 8 = 100.7M: 24 heads' worth more
    per_layer = 12 * 8192 * 128 * 32 - 12 * 8192 * 128 * 8
    assert per_layer == 301_989_888
    assert step.copied_kv_flops(layout.Layout(tp=32), JOB) == pytest.approx(80 * per_layer)


def test_the_copies_cost_matmul_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lay = layout.Layout(tp=32, dp=2, recompute="none")
    full = attrs.evolve(lay, recompute="full")
    with_copies = step.step(lay, JOB), step.step(full, JOB)
    monkeypatch.setattr(step, "copied_kv_flops", lambda *a, **k: 0.0)
    without = step.step(lay, JOB), step.step(full, JOB)
    # per micro-batch: 80 x 301,989,888 x 4,096 tokens / 32 ranks at 1 PFLOPS x 0.5 x 256 / (256 + 1,024)
    flops = 80 * 301_989_888 * 4096 / 32
    seconds = flops / (1e15 * 0.5 * 256 / (256 + 1024))
    assert seconds == pytest.approx(0.030924, rel=1e-4)
    extra = (with_copies[0].compute - without[0].compute) / with_copies[0].micro_batches
    assert extra == pytest.approx(seconds, rel=1e-9)
    # full recompute repeats their forward: 4 / 3 of it
    extra_full = (with_copies[1].compute - without[1].compute) / with_copies[1].micro_batches
    assert extra_full == pytest.approx(seconds * 4 / 3, rel=1e-9)
