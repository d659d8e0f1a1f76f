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


def test_a_static_batch_case_encodes_its_prompts_in_one_pass(reg: registry.Registry) -> None:
    """Transformers NeuronX's 'Batch' rows feed 4 prompts at once: the first token waits for one prompt
    pass over all 4. Llama-2-70b, 2,048 tokens each, on 16 Trainium1 chips: the pass computes 4 x one
    prompt's FLOPs (compute-bound: 4 x 2,048 tokens of 70B outlast one read of the weights), moves 4 x its
    per-token collectives and pays the fixed costs (request floor, step floor, collective latency) once."""
    from hwprof.perf import cluster
    from hwprof.perf.serve import layout as sl
    from hwprof.perf.serve import options

    case = reg.validation_cases["val-serve-tnx-trn1-llama2-70b-b4-2048-2048-ttft"]
    assert case.static_batch and case.batch == 4
    work, system = reg.workload(case.model), reg.system(case.system)
    tgt = cluster.cluster_for(reg.chip(system.chip), case.chips, system, reg.interconnects)
    k = attrs.evolve(sl.SHIPPED, evidence=cases.evidence_of(reg))
    r = sl.replica(work, tgt, cases.layout_of(case), k, sl.stack_of(tgt.chip, case.stack, k))
    padded, flops, attention = options.NONE.prompt(work, 2048, r.prompt_buckets)
    compute, rest = sl.prompt_time(r, padded, flops, 1, attention_flops=attention)
    fixed = r.request_s + r.floor_s + r.comm_fixed_s
    assert compute > r.weights_bytes_per_chip / r.hbm_bytes_per_s
    expected = 4 * compute + fixed + 4 * (rest - fixed)
    assert cases.predict(case, reg)["expected"] == pytest.approx(expected, rel=1e-6)
    one = cases.predict(attrs.evolve(case, static_batch=False, concurrency=1, batch=1), reg)["expected"]
    assert one == pytest.approx(compute + rest, rel=1e-6)  # alone: one prompt's pass


def test_a_constant_rate_case_is_served_with_evenly_spaced_arrivals(reg: registry.Registry) -> None:
    """guidellm's sweep sends its one intermediate profile at a constant rate: the case's first token
    then waits for no earlier prompt (a D/D/1 lane), only for the running decode step."""
    case = reg.validation_cases["val-serve-optimum-trn2-8b-rate-ttft"]
    assert case.arrivals == "constant" and case.request_rate_per_s == 2.46
    lay = cases.layout_of(case)
    assert cases.traffic_of(case, lay).arrivals == "constant"
    even = cases.predict(case, reg)["expected"]
    poisson = cases.predict(attrs.evolve(case, arrivals="poisson"), reg)["expected"]
    assert even < poisson  # the Poisson lane's M/D/1 wait is gone
    idle = cases.predict(attrs.evolve(case, request_rate_per_s=0.01), reg)["expected"]
    assert idle < even < idle * 1.1  # only the wait for a running decode step is added


def test_a_max_throughput_run_holds_at_most_the_batch_its_tool_set(reg: registry.Registry) -> None:
    """trtllm-bench sets DeepSeek-R1's max batch itself (tuning.py): its KV estimate per token is
    2 x 61 layers x 128 heads x 56 x 1 byte, so a 1,024 + 8,192-token request takes 7.5 GiB, and the
    8 x 140.4 GiB less 685e9 one-byte weights, times 0.9, holds 58 requests: under 256, rounded up to a
    multiple of 32 and at least 64, per attention rank, so 8 x 64 sequences in flight; the KV cache
    would hold 945."""
    case = reg.validation_cases["val-serve-trtllm12-h200-deepseek-r1-dep8-1024-8192"]
    per_request = 2 * 61 * 128 * 56 * 1 * (1024 + 8192) / 2**30
    requests = (8 * 140.4 - 685e9 / 2**30) * 0.9 / per_request
    assert 32 < requests < 64
    assert case.batch == 8 * 64
    traffic = cases.traffic_of(case, cases.layout_of(case))
    assert traffic.max_batch == 512 and traffic.concurrency is None
    running = cases.estimate(case, reg).breakdown.running_sequences_per_replica
    assert running == pytest.approx(512, rel=1e-3)
    free = cases.estimate(attrs.evolve(case, batch=None), reg).breakdown.running_sequences_per_replica
    assert free > 900


def test_a_tensorrt_llm_0_5_batch_reads_its_cache_once_per_query_head(reg: registry.Registry) -> None:
    """Llama 2 70B on 2 x H200 at TP 2, a static batch of 512, 128 in / 2,048 out: a decode step at the
    mean context of 128 + 1,024 tokens reads 512 x 1,152 x (2 x 80 x 8 x 128 x 1 byte / 2 chips) of cache,
    8 times (64 query heads over 8 KV heads), at 4.8 TB/s x 0.724; the weights' reads hide under the
    matmuls, so that is the step's memory time."""
    case = reg.validation_cases["val-serve-h200-70b-tp2-b512-128-2048"]
    assert case.static_batch and case.kv_read_per_query_head
    reads = 512 * 1152 * (2 * 80 * 8 * 128 / 2) * 8
    est = cases.estimate(case, reg)
    assert est.breakdown.decode_memory_s == pytest.approx(reads / (4.8e12 * 0.724), rel=1e-2)
    assert est.breakdown.running_sequences_per_replica == 512
    grouped = cases.estimate(attrs.evolve(case, kv_read_per_query_head=False), reg)
    assert grouped.breakdown.decode_memory_s == pytest.approx(reads / 8 / (4.8e12 * 0.724), rel=1e-2)
