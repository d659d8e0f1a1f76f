"""Serving layouts from their ``--layout`` text: what ``dp`` defaults to; what a replica reads."""

from __future__ import annotations

import pytest

from hwprof.data import registry
from hwprof.perf import cluster
from hwprof.perf.serve import layout as sl


def test_dp_defaults_to_what_the_chips_leave_or_to_the_default_given() -> None:
    assert sl.parse("tp=2,pp=2", 16) == sl.ServeLayout(tp=2, pp=2, dp=4)  # 16 chips / (2 x 2)
    assert sl.parse("tp=2", 0, dp=1).dp == 1  # a pool of one worker unless the text says
    assert sl.parse("tp=2,dp=3", 0, dp=1).dp == 3
    # "adp=" is not "dp=": attention data parallel leaves the replicas to the default
    assert sl.parse("tp=2,ep=2,adp=1", 0, dp=1) == sl.ServeLayout(tp=2, dp=1, ep=2, adp=1)


def test_ungrouped_decode_attention_reads_each_kv_head_once_per_query_head(reg: registry.Registry) -> None:
    """Llama 3.1 70B: 64 query heads share 8 KV heads. A kernel that gives every query head its own
    pass reads the cache 64 / 8 = 8 times at tp 2 (32 query heads over 4 KV heads per chip); at tp 16
    each chip holds 4 query heads and one copied KV head: 4 times. Memory held is unchanged."""
    s = reg.system("p5en.48xlarge")
    llama = reg.workload("llama3.1-70b")
    grouped = sl.StackServing(name="x")
    ungrouped = sl.StackServing(name="x", kv_read_per_query_head=True)
    for tp, reads in ((2, 8.0), (16, 4.0)):
        target = cluster.cluster_for(reg.chip(s.chip), 16, s, reg.interconnects)
        lay = sl.ServeLayout(tp=tp, dp=16 // tp, weights="fp8", kv_cache="fp8")
        once, each = (sl.replica(llama, target, lay, stack=st) for st in (grouped, ungrouped))
        assert each.kv_bytes_per_token_per_chip == once.kv_bytes_per_token_per_chip
        assert sl.step_of(each, 1000.0, 0.0).kv_s == pytest.approx(reads * sl.step_of(once, 1000.0, 0.0).kv_s)
