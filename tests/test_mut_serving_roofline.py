"""A decode step by its stated roofline (serve_layout.Step): max(weight reads, matmul FLOPs) +
max(KV reads, attention FLOPs) + collectives, each term worked here from the replica's achieved
rates (``serve_layout.replica``, read at test time) and the model's shape: 2 x active parameters of
matmul FLOPs per token, 4 x layers x context x heads x head_dim of attention FLOPs. Checked where
the weights bind (few sequences) and where the matmuls do (many short ones).
"""

from __future__ import annotations

import pytest

from hwprof.core.data import registry
from hwprof.core.perf import cluster, serving
from hwprof.core.perf import serve_layout as sl


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


@pytest.mark.parametrize(
    ("i", "o", "load"), [(1000, 200, {"rate_per_s": 1.0}), (64, 64, {}), (64, 64, {"concurrency": 3})]
)
def test_the_decode_step_is_its_roofline(reg: registry.Registry, i: int, o: int, load: dict[str, float]) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("p5.48xlarge")
    target = cluster.cluster_for(reg.chip(system.chip), 8, system, reg.interconnects)
    lay = sl.ServeLayout(tp=1, dp=8)
    est = serving.estimate_serve(work, target, lay, serving.Traffic(i, o, **load))  # type: ignore[arg-type]
    r = sl.replica(work, target, lay)
    b = est.breakdown.running_sequences_per_replica
    context = i + o / 2
    weights = r.weights_bytes_per_chip / r.hbm_bytes_per_s
    matmul = 2 * work.active * b / (r.chips * r.decode_flops_per_s)
    kv = context * r.kv_bytes_per_token_per_chip * b / r.hbm_bytes_per_s
    attention = (
        4 * work.layers * context * work.heads * (work.hidden // work.heads) * b / (r.chips * r.attention_flops_per_s)
    )
    got = est.breakdown
    assert got.decode_memory_s + got.decode_compute_s == pytest.approx(max(weights, matmul) + max(kv, attention))
    assert got.decode_memory_s == pytest.approx((weights if weights >= matmul else 0) + (kv if kv >= attention else 0))
    assert got.decode_step_s == pytest.approx(got.decode_memory_s + got.decode_compute_s + got.decode_comm_s)
    assert got.decode_comm_s == pytest.approx(r.comm_fixed_s + r.comm_per_token_s * b)
    if not load:  # offline, many short sequences: the matmuls bind
        assert matmul > weights and got.decode_compute_s >= matmul * (1 - 1e-9)
