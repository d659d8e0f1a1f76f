"""Unfused attention (a case with ``fused_attention = false``): the whole s x s square at the matmul
rate and the scores through memory. Worked by hand here."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.data import registry
from hwprof.core.perf import layout, step, training, validate
from hwprof.core.perf.job import Constants, Job

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
