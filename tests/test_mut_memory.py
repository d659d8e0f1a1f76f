"""Memory per chip in the corners mutation testing found unchecked: context parallel and micro-batches
of more than one sequence in unfused attention, a two-stage pipeline whose second or last stage is
the busiest, the expert shard floor, exact bytes where nothing should be added. Hand arithmetic here."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.perf import layout, memory
from tests.test_memory import BASE, JOB

UNFUSED = attrs.evolve(JOB, fused_attention=False)  # 8 layers, h 1,024, 8 heads of 128, s 2,048


def test_unfused_probabilities_scale_with_the_ranks_chunk_and_the_micro_batch() -> None:
    lay = attrs.evolve(BASE, cp=2, mb=2, dp=2, recompute="none")
    # the rank's chunk is 2,048 / 2 = 1,024 tokens, 2 sequences: 2,048 tokens, each keeping 2 bytes x
    # 8 / 2 heads x 2,048 keys, less the 4-byte statistics of those 4 heads it replaces
    tokens = 2048 / 2 * 2
    probabilities = tokens * (2 * 4 * 2048 - 4 * 4)
    assert memory._scores(lay, UNFUSED) == pytest.approx(probabilities)
    assert memory.kept_per_layer(lay, UNFUSED) == pytest.approx(memory.kept_per_layer(lay, JOB) + probabilities)
    # full recompute rebuilds one such layer at a time: its working set carries the probabilities
    full = attrs.evolve(lay, recompute="full")
    extra = memory.memory(full, UNFUSED).activations - memory.memory(full, JOB).activations
    assert extra == pytest.approx(probabilities)


def test_a_score_width_given_without_a_sequence_keeps_no_probabilities() -> None:
    _, inside = memory.layer_bytes(1024, 1024, 1024, 8, 0, fused=False)
    assert inside == 4 * 1024 + 4 * 1024


def test_logits_scale_with_the_micro_batch() -> None:
    worded = attrs.evolve(JOB, vocab=1000)
    one, two = layout.Layout(tp=2, pp=1, dp=8), layout.Layout(tp=2, pp=1, dp=4, mb=2)
    logits = 4 * 2048 * 1000 / 2  # 32-bit logits of one sequence over tp 2
    for lay, seqs in ((one, 1), (two, 2)):
        kept = memory.activation_per_layer(lay, worded)
        assert memory.memory(lay, worded).activations == pytest.approx(8 * kept + seqs * logits)


def test_the_second_stage_of_two_can_hold_the_most() -> None:
    # 3 layers on 2 stages, uneven: 1 on the first, 2 on the second; vpp 2 with many micro-batches:
    # rank 0 holds 2 + 1/2, rank 1 holds 2 + (2 - 2 - 1)/2 = 1.5 micro-batches' worth
    three = attrs.evolve(JOB, layers=3)
    lay = layout.Layout(tp=2, pp=2, dp=4, vpp=2, uneven=1)
    assert memory.in_flight(lay, three) == pytest.approx(max(1 * 2.5, 2 * 1.5))
    assert memory.in_flight(lay, three) == pytest.approx(3.0)


def test_the_last_of_two_stages_holds_its_full_share_of_layers_and_the_logits() -> None:
    # 3 layers, pp 2, uneven: the last stage has 2 layers, 1 micro-batch in flight (1F1B), and the logits
    worded = attrs.evolve(JOB, layers=3, vocab=200_000)
    lay = layout.Layout(tp=2, pp=2, dp=4, uneven=1)
    kept = memory.activation_per_layer(lay, worded)
    logits = 4 * 2048 * 200_000 / 2
    first = 1 * 2 * kept
    last = 2 * 1 * kept + logits
    assert last > first
    assert memory.memory(lay, worded).activations == pytest.approx(last)


def test_micro_batches_are_whole_sequences_per_rank() -> None:
    # 20 sequences over dp 2 x mb 3: 3 whole micro-batches (20 // 6), fewer than the 8 stages
    job = attrs.evolve(JOB, batch_seqs=20)
    lay = layout.Layout(tp=1, pp=8, dp=2, mb=3)
    assert memory.micro_in_flight(lay, job, 0) == 3


def test_nothing_is_added_where_nothing_is_kept() -> None:
    # ZeRO 1, no full recompute: the weights are exactly 2 bytes per local parameter and the
    # activations exactly the layers in flight (exact equality: a stray byte must show)
    need = memory.memory(BASE, JOB)
    assert need.weights == 2 * 1.2e9 / (2 * 2)
    kept = memory.activation_per_layer(BASE, JOB)
    assert need.activations == 4 * 2 * kept  # 4 layers on the first stage, 2 micro-batches in flight


def test_experts_shard_over_every_rank_that_holds_the_same_ones() -> None:
    # 1.2B parameters of which 0.8B routed experts; ep = dp x cp = 4: each expert shard lives on one
    # rank, so ZeRO has nothing to split them over (dp x cp / ep = 1)
    moe = attrs.evolve(JOB, experts=8, experts_per_token=2, expert_params=0.8e9, moe_layers=8)
    lay = layout.Layout(tp=2, pp=2, dp=4, ep=4)
    dense, expert = 0.4e9 / 4, 0.8e9 / (4 * 4)
    assert memory.memory(lay, moe).optimizer == pytest.approx(12 * (dense / 4 + expert / 1))
