"""Unfused attention (a case with ``fused_attention = false``): the whole s x s square at the matmul
rate and the scores through memory. Worked by hand here.

Tensor parallel wider than the KV heads: each rank computes a whole K and V head (Neuron's
``--kv_replicator``), matmul work the model's FLOP count leaves out. Worked by hand here.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import validate
from hwprof.perf.train import layout, step, training
from hwprof.perf.train.job import Constants, Job

CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.0, expert_overlap=0.25,
                      attention_16bit=0.3, attention_half_length=0.0, memory_fraction=0.5)  # fmt: skip
# 8 layers, 16 heads of 128 (hidden 2,048), sequences of 4,096
JOB = Job(name="toy", params=1e9, active_params=1e9, layers=8, hidden=2048, heads=16, kv_heads=16, head_dim=128,
          seq_len=4096, batch_seqs=64, chips=8, domain=8, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS)  # fmt: skip


def test_score_bytes_count_each_pass() -> None:
    # tp 4: 4 heads x 4,096 x 4,096 = 67.1M scores of 2 bytes; 4 forward + 7 backward passes
    none = layout.Layout(tp=4, dp=2, recompute="none")
    assert step.score_bytes(none, JOB) == pytest.approx(4 * 4096 * 4096 * 2 * 11)
    # selective recompute repeats the forward's 4; cp 2 halves the rows
    sel = attrs.evolve(none, recompute="selective", cp=2, dp=1)
    assert step.score_bytes(sel, JOB) == pytest.approx(4 * 2048 * 4096 * 2 * 15)


def test_unfused_attention_time() -> None:
    lay = layout.Layout(tp=4, dp=2, recompute="none")
    fused = step.step(lay, JOB)
    unfused = step.step(lay, attrs.evolve(JOB, fused_attention=False))
    # the model's causal attention FLOPs per micro-batch on a rank: 6 x 8 x 4,096 x 2,048 x 4,096 / 4
    flops = 6 * 8 * 4096 * 2048 * 4096 / 4
    fused_s = flops / (1e15 * 0.3)  # the fused share 0.3 (half length 0: no length penalty)
    unfused_s = 2 * flops / (1e15 * 0.5) + 8 * 4 * 4096 * 4096 * 2 * 11 / (2e12 * 0.5)
    per_mb = (unfused.compute - fused.compute) / fused.micro_batches
    assert per_mb == pytest.approx(unfused_s - fused_s, rel=1e-9)


def test_cases_that_say_unfused_run_unfused() -> None:
    reg = registry.build(registry.Settings(profile_dirs=()))
    cases = reg.validation_cases
    unfused = [c for c in cases.values() if not c.fused_attention]
    assert unfused and all(c.kind == "train" for c in unfused)
    case = unfused[0]
    job, _ = validate.train_job(case, reg, training.constants())
    assert job.fused_attention is False


CONSTANTS_copied_kv_heads = Constants(
    matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.0, expert_overlap=0.25
)
# Llama 70B's attention: hidden 8,192, 64 query heads, 8 KV heads of 128
JOB_copied_kv_heads = Job(name="toy", params=70e9, active_params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
          seq_len=4096, batch_seqs=64, chips=64, domain=64, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS_copied_kv_heads)  # fmt: skip


def test_no_copies_while_tensor_parallel_stays_within_the_kv_heads() -> None:
    for tp in (1, 2, 8):
        assert step.copied_kv_flops(layout.Layout(tp=tp), JOB_copied_kv_heads) == 0.0


def test_copies_past_the_kv_heads() -> None:
    # tp 32 over 8 KV heads: each rank computes 1 K and 1 V head, 2 x 8,192 x 128 weights, 3 x 2 FLOPs
    # per weight and token (forward, two backward): 12 x 8,192 x 128 = 12.58M per rank and layer,
    # 32 ranks = 402.7M, against the count's 12 x 8,192 x 128 x 8 = 100.7M: 24 heads' worth more
    per_layer = 12 * 8192 * 128 * 32 - 12 * 8192 * 128 * 8
    assert per_layer == 301_989_888
    assert step.copied_kv_flops(layout.Layout(tp=32), JOB_copied_kv_heads) == pytest.approx(80 * per_layer)


def test_the_copies_cost_matmul_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lay = layout.Layout(tp=32, dp=2, recompute="none")
    full = attrs.evolve(lay, recompute="full")
    with_copies = step.step(lay, JOB_copied_kv_heads), step.step(full, JOB_copied_kv_heads)
    monkeypatch.setattr(step, "copied_kv_flops", lambda *a, **k: 0.0)
    without = step.step(lay, JOB_copied_kv_heads), step.step(full, JOB_copied_kv_heads)
    # per micro-batch: 80 x 301,989,888 x 4,096 tokens / 32 ranks at 1 PFLOPS x 0.5 x 256 / (256 + 1,024)
    flops = 80 * 301_989_888 * 4096 / 32
    seconds = flops / (1e15 * 0.5 * 256 / (256 + 1024))
    assert seconds == pytest.approx(0.030924, rel=1e-4)
    extra = (with_copies[0].compute - without[0].compute) / with_copies[0].micro_batches
    assert extra == pytest.approx(seconds, rel=1e-9)
    # full recompute repeats their forward: 4 / 3 of it
    extra_full = (with_copies[1].compute - without[1].compute) / with_copies[1].micro_batches
    assert extra_full == pytest.approx(seconds * 4 / 3, rel=1e-9)
