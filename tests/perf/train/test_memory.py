"""Training memory per chip, formula by formula, against arithmetic done by hand here.

Memory per chip in the corners mutation testing found unchecked: context parallel and micro-batches
of more than one sequence in unfused attention, a two-stage pipeline whose second or last stage is
the busiest, the expert shard floor, exact bytes where nothing should be added. Hand arithmetic here.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.perf import comm
from hwprof.perf.train import layout, memory, step
from hwprof.perf.train.job import Constants, Job

LINK = comm.Link("up", gb_s_per_direction=100, efficiency=1.0, latency_us=0.0)
CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=1024.0, overlap_slowdown=0.1, memory_fraction=0.5)
JOB = Job(name="toy", params=1.2e9, active_params=1.2e9, layers=8, hidden=1024, heads=8, kv_heads=8, head_dim=128,
          seq_len=2048, batch_seqs=64, chips=16, domain=8, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS, tiers=(comm.Tier(16, LINK),))  # fmt: skip
BASE = layout.Layout(tp=2, pp=2, dp=4)  # cp 1, ep 1, vpp 1, mb 1, zero 1, selective, sp 1


def test_korthikantis_gpt_count_is_recovered() -> None:
    # GPT (Korthikanti et al. 2022): q = kv = h, a 2-matrix MLP of 4h (gated-equivalent f = 8h/3), dropout,
    # attention not fused: 34 h + 5 a s bytes per token (10 h outside the tp region, 24 h + 5 a s inside)
    h, a, s = 12288, 96, 2048
    outside, inside = memory.layer_bytes(h, h, h, a, 8 * h / 3, seq=s, fused=False, dropout=True)
    assert outside == 10 * h
    assert inside == pytest.approx(24 * h + 5 * a * s)
    assert outside + inside == pytest.approx(34 * h + 5 * a * s)
    # fused, no dropout (the stacks here): 32 h + 4 bytes of statistics per head
    outside, inside = memory.layer_bytes(h, h, h, a, 8 * h / 3)
    assert (outside, inside) == pytest.approx((8 * h, 24 * h + 4 * a))


def test_llama_405b_keeps_65088_bytes_per_token_and_layer_at_tp_8() -> None:
    # h = q = 16,384, kv = 8 x 128 = 1,024, 128 heads, f = 53,248: (8h + 4q + 4kv + 4 x 128 + 6f) / 8
    outside, inside = memory.layer_bytes(16384, 16384, 1024, 128, 53248)
    assert outside == 131072
    assert inside == 65536 + 4096 + 512 + 319488
    assert (outside + inside) / 8 == 65088  # Korthikanti's 34 h / t would say 69,632


def test_a_gated_and_a_plain_mlp_of_the_same_parameters_keep_the_same_bytes() -> None:
    # plain: width F keeps its activation's input and output, 2F + 2F bytes; gated f = 2F/3 (3hf = 2hF):
    # gate and up 4f, the activation's output 2f
    plain_width = 4096.0
    _, gated = memory.layer_bytes(0, 0, 0, 0, 2 * plain_width / 3)
    assert gated == pytest.approx(4 * plain_width)


def test_routed_experts_keep_their_permuted_copies() -> None:
    _, dense = memory.layer_bytes(1024, 1024, 1024, 8, 0)
    _, routed = memory.layer_bytes(1024, 1024, 1024, 8, 0, routed=2)
    assert routed - dense == 2 * 2 * 1024  # top-2 copies of h, 2 bytes each


def test_an_uneven_split_lightens_the_first_stage_and_the_second_may_hold_more() -> None:
    seven = attrs.evolve(JOB, layers=7)
    lay = layout.Layout(tp=2, pp=2, dp=4, uneven=1)
    assert memory.stage_layers(lay, seven) == (3, 4)  # ceil(7 / 2) = 4, one fewer on the first
    # 16 micro-batches: the first holds 3 layers x 2, the second 4 x 1
    assert memory.in_flight(lay, seven) == 3 * 2
    even = attrs.evolve(JOB, layers=8)
    assert memory.stage_layers(lay, even) == (4, 4)  # nothing to take off


def test_llama3s_split_with_interleaving_peaks_on_the_second_stage() -> None:
    # 126 layers on 16 stages (8 each, 7 on the first), vpp 7; rank r holds pp + (pp - 2r - 1) / vpp
    # micro-batches' worth, at most the m a step has
    meta = attrs.evolve(JOB, layers=126, chips=16 * 8, batch_seqs=16 * 8)
    lay = layout.Layout(tp=1, pp=16, dp=8, vpp=7, uneven=1)  # 16 micro-batches: every forward first
    assert memory.micro_in_flight(lay, meta, 0) == 16  # min(16, 16 + 15 / 7)
    assert memory.in_flight(lay, meta) == 8 * 16  # the second stage's 8 layers beat the first's 7
    more = attrs.evolve(meta, batch_seqs=32 * 8)  # 32 micro-batches
    assert memory.micro_in_flight(lay, more, 0) == pytest.approx(16 + 15 / 7)
    assert memory.micro_in_flight(lay, more, 1) == pytest.approx(16 + 13 / 7)
    assert memory.in_flight(lay, more) == pytest.approx(max(7 * (16 + 15 / 7), 8 * (16 + 13 / 7)))
    # the last rank: pp - (pp - 1) / vpp = 16 - 15 / 7
    assert memory.micro_in_flight(lay, more, 15) == pytest.approx(16 - 15 / 7)
    plain = attrs.evolve(lay, vpp=1)  # 1F1B: rank r holds pp - r
    assert [memory.micro_in_flight(plain, more, r) for r in (0, 1, 15)] == [16, 15, 1]


def test_the_last_stage_holds_the_logits_under_interleaving_too() -> None:
    worded = attrs.evolve(JOB, vocab=32000)
    lay = attrs.evolve(BASE, vpp=2)  # pp 2: last rank holds 2 - 1 / 2 = 1.5 micro-batches' worth
    kept = memory.activation_per_layer(lay, worded)
    logits = 4 * 2048 * 32000 / 2
    assert memory.memory(lay, worded).activations == pytest.approx(max(4 * 2.5 * kept, 4 * 1.5 * kept + logits))


def test_one_stage_holds_its_layers_and_the_logits() -> None:
    worded = attrs.evolve(JOB, vocab=1000)
    lay = layout.Layout(tp=2, pp=1, dp=8)
    kept = memory.activation_per_layer(lay, worded)
    assert memory.memory(lay, worded).activations == pytest.approx(8 * kept + 4 * 2048 * 1000 / 2)


def test_gradients_take_the_layouts_bits() -> None:
    per_chip = 1.2e9 / (2 * 2)
    assert memory.memory(BASE, JOB).gradients == pytest.approx(4 * per_chip)  # 32 bits by default
    sixteen = attrs.evolve(BASE, grads=16)
    assert memory.memory(sixteen, JOB).gradients == pytest.approx(2 * per_chip)
    assert memory.memory(attrs.evolve(sixteen, zero=2), JOB).gradients == pytest.approx(2 * per_chip / 4)
    # Adam touches 26 bytes + one gradient per local parameter (sharded over dp = 4 by ZeRO 1), at 1 TB/s
    assert step.step(sixteen, JOB).optimizer == pytest.approx(28 * per_chip / 4 / 1e12)
    assert step.step(BASE, JOB).optimizer == pytest.approx(30 * per_chip / 4 / 1e12)


def test_grads_is_a_layout_key_of_16_or_32_bits() -> None:
    lay = layout.parse("tp=8,pp=16,dp=128,grads=16")
    assert lay.grads == 16 and str(lay).endswith(",grads=16")
    assert layout.parse(str(lay)) == lay
    assert "grads" not in str(layout.parse("tp=8,pp=16,dp=128"))  # 32, the default, is not printed
    with pytest.raises(layout.LayoutError, match=r"\(syntax\): grads=8: gradients are kept in 16 or 32 bits"):
        layout.parse("grads=8", chips=1)


def test_unfused_attention_keeps_its_probabilities_unless_recomputed() -> None:
    # heads / tp x s probabilities of 2 bytes per token replace the fused kernel's 4-byte statistics
    unfused = attrs.evolve(JOB, fused_attention=False)
    none = attrs.evolve(BASE, recompute="none")
    fused_kept = memory.activation_per_layer(none, JOB)
    probabilities = 2048 * (2 * 8 / 2 * 2048 - 4 * 8 / 2)  # tokens x (2 bytes x 4 heads per rank x s - statistics)
    assert memory.activation_per_layer(none, unfused) == pytest.approx(fused_kept + probabilities)
    # Korthikanti's selective recompute drops exactly those; full keeps the layer input either way
    assert memory.activation_per_layer(BASE, unfused) == pytest.approx(fused_kept)
    full = attrs.evolve(BASE, recompute="full")
    assert memory.activation_per_layer(full, unfused) == memory.activation_per_layer(full, JOB)
    # without dropout the probabilities are the only s x s tensor kept: 2 a s per token, not 5 a s
    _, inside = memory.layer_bytes(1024, 1024, 1024, 8, 0, seq=2048, fused=False)
    assert inside == 4 * 1024 + 4 * 1024 + 2 * 8 * 2048


def test_validate_names_the_rule_that_refused_a_published_layout() -> None:
    from hwprof.data import registry
    from hwprof.perf import validate
    from hwprof.perf.train import training

    reg = registry.build(registry.Settings(profile_dirs=()))
    case = reg.validation_cases["val-mbridge260401-qwen3-235b-fp8-256"]
    # As published (expert_tensor_parallel_size 1) ep 32 folds over tp x dp = 32 ranks: it runs
    assert validate.run_train(case, reg, training.constants()).fits
    # with the experts split by tp, ep 32 must divide dp x cp = 16: the experts rule refuses it, not memory
    split = attrs.evolve(case, layout=case.layout.replace("etp=1", "etp=2"))
    run = validate.run_train(split, reg, training.constants())
    assert not run.fits and run.refused == "experts"


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
