"""The training estimate's bookkeeping against arithmetic written here: time from the step model
(``step.step``, the scalar formula, computed in the test), FLOPs from the model's shape by hand,
MFU, the range and its fast-end bound, cost and energy by hand, the step and memory parts passed
through field by field, the searched layout and its runner-up, and the given-utilisation path.

Nothing pins a figure the model prints today: every expectation is computed from the inputs and
the module's own constants read at test time.

A training result whose job runs several ranks per chip: memory is shown per chip (a rank's
times the ranks), peaks per chip, and a note says so; built with ``job_for`` with ``Recipe(ranks_per_chip=2)``.
"""

from __future__ import annotations

import math

import attrs
import pytest

from hwprof.cost import pricing
from hwprof.data import registry
from hwprof.errors import HwprofError
from hwprof.perf import cluster, ranges
from hwprof.perf import efficiency as eff
from hwprof.perf.cluster import cluster_for
from hwprof.perf.train import job, layout, memory, search, step, training
from hwprof.perf.train.job import default_batch_tokens
from tests.facts import facts

TOKENS = 1e11
LAYOUT = "tp=2,pp=1,dp=4"


def target(reg: registry.Registry, system: str = "p5.48xlarge", count: int = 1) -> cluster.Cluster:
    s = reg.system(system)
    return cluster.cluster_for(reg.chip(s.chip), count * s.chips, s, reg.interconnects)


def quote(reg: registry.Registry, system: str = "p5.48xlarge") -> pricing.Quote:
    return pricing.quote(reg.cost_model("aws"), system, region="us-east-1")


def flops_by_hand(work: object, seq: int, tokens: float) -> tuple[float, float]:
    """(6 x active params, 6 x layers x seq x heads x head_dim) x tokens."""
    head_dim = work.head_dim or work.hidden // work.heads  # type: ignore[attr-defined]
    return 6 * work.active * tokens, 6 * work.layers * seq * work.heads * head_dim * tokens  # type: ignore[attr-defined]


def test_constants_are_the_efficiency_defaults() -> None:
    c = training.constants()
    assert (c.matmul_16bit, c.matmul_8bit, c.half_width, c.overlap_slowdown, c.expert_overlap) == (
        eff.MATMUL_16BIT.value, eff.MATMUL_8BIT.value, eff.MATMUL_HALF_WIDTH.value, eff.OVERLAP_SLOWDOWN.value,
        eff.EXPERT_OVERLAP.value)  # fmt: skip


def test_span_arithmetic() -> None:
    s = training.Span.around(100.0, math.log(2))
    assert (s.low, s.expected, s.high) == pytest.approx((50.0, 100.0, 200.0))
    assert training.Span(1.0, 2.0, 4.0).scaled(3) == training.Span(3.0, 6.0, 12.0)
    assert training.Span(1.0, 2.0, 4.0).inverse(8.0) == training.Span(2.0, 4.0, 8.0)  # low from high
    assert training.Span(2.0, 4.0, 8.0).inverse(16.0) == training.Span(2.0, 4.0, 8.0)


def test_a_given_layout_estimate_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    q = quote(reg)
    est = training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "bf16", quote=q), reg.interconnects, LAYOUT)
    lay = layout.parse(LAYOUT, 8)
    seq = work.seq_len
    # the batch: 4M tokens (8 chips) in sequences, at least dp x pp x mb
    batch = max(4 * 1 * 1, default_batch_tokens(8) // seq)
    assert est.inputs.global_batch_seqs == batch and est.inputs.global_batch_tokens == batch * seq
    job = training.make_job(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, LAYOUT)
    assert job.batch_seqs == batch
    st = step.step(lay, job)
    seconds = TOKENS / (batch * seq) * st.total
    assert est.time_s.expected == pytest.approx(seconds, rel=1e-12)
    dense, attention = flops_by_hand(work, seq, TOKENS)
    assert est.flops == pytest.approx(dense + attention, rel=1e-12)
    assert est.flops_breakdown == pytest.approx({"dense_6n": dense, "attention": attention,
                                                 "attention_share": attention / dense})  # fmt: skip
    peak = tgt.chip.peak_dense_tflops["bf16"].value * 1e12
    mfu = (dense + attention) / (seconds * 8 * peak)
    assert est.mfu.expected == pytest.approx(mfu, rel=1e-12)
    # the range: the band of the chip's evidence class (no chips with runs of their own were passed),
    # its ends exp(log_low) and exp(log_high) of the time; the fast end never beats every FLOP at the
    # large-matmul rate
    band = training.band_for(job, tgt.chip, frozenset())
    assert est.range == band and est.range_basis == band.text
    assert band.log_low <= 0 <= band.log_high
    c = job.constants
    ceiling = c.matmul_16bit * job.software
    assert training.matmul_ceiling(job) == pytest.approx(ceiling)
    fastest = (dense + attention) / (8 * peak * ceiling)
    assert est.time_s.high == pytest.approx(seconds * math.exp(band.log_high), rel=1e-12)
    assert est.time_s.low == pytest.approx(min(max(seconds * math.exp(band.log_low), fastest), seconds), rel=1e-12)
    assert est.mfu.low == pytest.approx(mfu * math.exp(-band.log_high), rel=1e-12)
    assert est.mfu.high == pytest.approx(max(mfu, min(mfu * math.exp(-band.log_low), ceiling)))
    assert est.time_days.expected == pytest.approx(seconds / 86400)
    assert est.chip_hours.expected == pytest.approx(seconds * 8 / 3600)
    assert est.chip_hours.high == pytest.approx(est.time_s.high * 8 / 3600)
    assert est.tokens_per_s.expected == pytest.approx(TOKENS / seconds)
    assert est.tokens_per_s.low == pytest.approx(TOKENS / est.time_s.high)
    # cost: one instance at its hourly price for the hours; energy: 8 x TDP x hours
    assert est.cost_usd is not None
    assert est.cost_usd.expected == pytest.approx(q.usd_per_hour * seconds / 3600, rel=1e-12)
    assert est.cost_usd.high == pytest.approx(q.usd_per_hour * est.time_s.high / 3600, rel=1e-12)
    assert est.energy_kwh is not None
    assert est.energy_kwh.expected == pytest.approx(8 * tgt.chip.tdp_w.value / 1000 * seconds / 3600)
    # the parts, field by field
    parts = est.step
    assert parts is not None
    assert (parts.compute_s, parts.tensor_parallel_s, parts.expert_parallel_s, parts.context_parallel_s,
            parts.pipeline_p2p_s, parts.pipeline_bubble_s, parts.data_parallel_s, parts.optimizer_s,
            parts.total_s) == pytest.approx((st.compute, st.tensor, st.expert, st.context, st.pipeline, st.bubble,
                                             st.data, st.optimizer, st.total))  # fmt: skip
    assert parts.micro_batches == batch // 4 and parts.matmul_share_of_peak == pytest.approx(st.matmul_share)
    m = memory.memory(lay, job)
    mp = est.memory
    assert mp is not None
    assert (mp.weights_bytes_per_chip, mp.gradients_bytes_per_chip, mp.optimizer_bytes_per_chip,
            mp.activations_bytes_per_chip, mp.total_bytes_per_chip, mp.usable_bytes_per_chip) == pytest.approx(
        (m.weights, m.gradients, m.optimizer, m.activations, m.total, m.usable))  # fmt: skip
    assert mp.fits is True
    # what the result says about itself
    assert est.kind == "train" and est.layout == str(lay) and est.layout_basis == "given" and est.runner_up is None
    assert est.full_run_factor is None and est.notes == ()
    assert (est.inputs.model, est.inputs.params, est.inputs.active_params, est.inputs.tokens, est.inputs.seq_len,
            est.inputs.chip, est.inputs.chips, est.inputs.precision, est.inputs.target) == (
        work.id, work.params, work.active, TOKENS, seq, "h100-sxm", 8, "bf16", tgt.label)  # fmt: skip
    assert est.inputs.model_source == work.citation
    assert f"{peak / 1e12:g} TFLOPS" in est.precision_basis and f"{st.matmul_share:.0%}" in est.precision_basis
    assert f"per-chip matmul width {min(job.hidden // 2, seq)}" in est.precision_basis
    assert len(est.tiers) == len(job.tiers) and all(t.link.name in s for t, s in zip(job.tiers, est.tiers, strict=True))
    first = job.tiers[0]
    assert est.tiers[0].startswith(f"{first.link.name}: {first.domain} chips, {first.link.gb_s_per_direction:g} GB/s")
    assert est.rests_on[:1] == ("peak: " + tgt.chip.peak_dense_tflops["bf16"].status,)
    assert est.rests_on[-len(job.tiers) :] == tuple(f"{t.link.name}: {t.link.basis}" for t in job.tiers)
    named = {"compute": st.compute, "tensor-parallel communication": st.tensor, "expert all-to-all": st.expert,
             "context-parallel exchange": st.context, "pipeline bubble": st.bubble + st.pipeline,
             "data-parallel communication": st.data}  # fmt: skip
    assert est.binding == max(named, key=lambda k: named[k])


def test_the_whole_run_factor_divides_the_time(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    steady = training.estimate_train(
        training.TrainRequest(work, target(reg), TOKENS, "bf16"), reg.interconnects, LAYOUT
    )
    whole = training.estimate_train(
        training.TrainRequest(work, target(reg), TOKENS, "bf16", full_run=True), reg.interconnects, LAYOUT
    )
    factor = eff.FULL_RUN_FACTOR.value
    assert whole.full_run_factor == factor
    assert whole.time_s.expected == pytest.approx(steady.time_s.expected / factor, rel=1e-12)
    assert whole.time_s.high == pytest.approx(steady.time_s.high / factor, rel=1e-12)
    assert whole.time_s.low == pytest.approx(steady.time_s.low / factor, rel=1e-12)
    assert whole.mfu.expected == pytest.approx(steady.mfu.expected * factor, rel=1e-12)
    assert any(f"x {factor:g}" in n for n in whole.notes)


def band(log_low: float, log_high: float) -> ranges.Band:
    return ranges.Band("train", "own", 0.9, log_low, log_high, 20, 1.0, "a stated band")


def test_a_given_band_replaces_the_shipped_range(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    est = training.estimate_train(
        training.TrainRequest(work, target(reg), TOKENS, "bf16"),
        reg.interconnects,
        LAYOUT,
        evidence=training.Evidence(band=band(-0.2, 0.5)),
    )
    assert est.range_basis == "a stated band" and est.range == band(-0.2, 0.5)
    assert est.time_s.high == pytest.approx(est.time_s.expected * math.exp(0.5))
    assert est.time_s.low == pytest.approx(est.time_s.expected * math.exp(-0.2))  # far from the matmul bound
    assert est.mfu.low == pytest.approx(est.mfu.expected * math.exp(-0.5))
    assert est.mfu.high == pytest.approx(est.mfu.expected * math.exp(0.2))
    assert est.tokens_per_s.low == pytest.approx(TOKENS / est.time_s.high)


def test_a_layout_that_does_not_fit_is_refused_and_result_for_flags_it(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-70b")
    tgt = target(reg)
    with pytest.raises(layout.LayoutError, match=r"\(memory\)"):
        training.estimate_train(
            training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, "tp=1,pp=1,dp=8,zero=0"
        )
    job = training.make_job(
        training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, "tp=1,pp=1,dp=8,zero=0"
    )
    lay = layout.parse("tp=1,pp=1,dp=8,zero=0", 8)
    est = training.result_for(training.TrainRequest(work, tgt, TOKENS, "bf16"), job, training.Pick(lay, "given"))
    assert est.memory is not None and est.memory.fits is False
    assert any(n.startswith("memory: this layout does not fit") for n in est.notes)
    assert est.cost is None and est.cost_usd is None


def test_the_search_picks_the_fastest_and_names_the_runner_up(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    est = training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects)
    job = training.make_job(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects)
    found = search.search(job)
    assert est.layout == str(found.layouts[0])
    facts(est.layout_basis, "searched", "fastest", f"{found.evaluated:,} layouts", f"{len(found.layouts)} kept")
    assert est.runner_up is not None and est.runner_up.layout == str(found.layouts[1])
    assert est.runner_up.step_s == pytest.approx(found.step_s[1])
    assert est.runner_up.slower_by == pytest.approx(found.step_s[1] / found.step_s[0] - 1)
    assert est.step is not None and est.step.total_s == pytest.approx(found.step_s[0])


def test_no_layout_fits_names_the_last_rule(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-405b")
    with pytest.raises(HwprofError) as caught:
        training.estimate_train(training.TrainRequest(work, target(reg), TOKENS, "bf16"), reg.interconnects)
    facts(str(caught.value), "no layout", "llama3.1-405b", "p5.48xlarge", "weights, gradients")


def test_refusal_text() -> None:
    facts(training.refusal_text({}), "no layout")
    text = training.refusal_text({"heads": 1200, "batch": 30, "memory": 5})
    facts(text, layout.RULE_TEXT["memory"], "5 layouts", "heads 1,200", "batch 30")
    assert text.index("heads 1,200") > text.index("5 layouts")  # the last rule first, those before it after
    facts(training.refusal_text({"memory": 7}), layout.RULE_TEXT["memory"], "7 layouts", "none")
    facts(training.refusal_text({"odd": 2}), "odd", "2 layouts", "none")


def test_the_global_batch_fills_a_given_pipeline(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg, count=64)  # 512 chips: 4M tokens
    seq = work.seq_len
    plain = training.make_job(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects)
    assert plain.batch_seqs == default_batch_tokens(512) // seq
    # dp 256 x pp 2 x mb 8 = 4,096 sequences is more than 4M tokens hold: raised to fill the pipeline
    big = training.make_job(
        training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, "tp=1,pp=2,dp=256,mb=8"
    )
    assert big.batch_seqs == max(256 * 2 * 8, default_batch_tokens(512) // seq) == 4096
    given = training.make_job(
        training.TrainRequest(work, tgt, TOKENS, "bf16", global_batch_seqs=96),
        reg.interconnects,
        "tp=1,pp=2,dp=256,mb=8",
    )
    assert given.batch_seqs == 96
    short = training.make_job(
        training.TrainRequest(work, tgt, TOKENS, "bf16", seq_len=1024), reg.interconnects, layout.Layout(tp=8, dp=64)
    )
    assert short.seq_len == 1024 and short.batch_seqs == default_batch_tokens(512) // 1024
    cross = training.make_job(
        training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, None, job.Recipe(cross_domain=True)
    )
    assert cross.cross_domain is True and plain.cross_domain is False
    mine = attrs.evolve(training.constants(), overlap_slowdown=0.123)
    assert (
        training.make_job(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, consts=mine).constants
        == mine
    )


def test_the_range_widens_for_chips_without_runs_and_odd_8bit_ratios(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    job = training.make_job(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects)
    own = training.band_for(job, tgt.chip, {"h100-sxm"})
    borrowed = training.band_for(job, tgt.chip, set())
    assert own.evidence in ("own", "corrected") and borrowed.evidence == "borrowed"
    fp8 = training.make_job(training.TrainRequest(work, tgt, TOKENS, "fp8"), reg.interconnects)
    ratio = fp8.peak_matmul / fp8.peak_16bit
    assert abs(ratio - 2) <= 0.2 and training.extrapolated(fp8) == ""  # H100: 2x, the calibrated ratio
    assert training.band_for(fp8, tgt.chip, {"h100-sxm"}) == own
    x = ranges.EXTRAPOLATION_FACTOR.value
    for peak, widened in ((fp8.peak_16bit * 2.21, True), (fp8.peak_16bit * 2.19, False),
                          (fp8.peak_16bit * 1.79, True), (fp8.peak_16bit * 1.81, False)):  # fmt: skip
        odd = attrs.evolve(fp8, peak_matmul=peak)
        why = training.extrapolated(odd)
        assert bool(why) == widened, peak / fp8.peak_16bit
        got = training.band_for(odd, tgt.chip, {"h100-sxm"})
        # widened in the time ratio: each end's distance from the model, e^|log| - 1, times x
        f = x if widened else 1
        assert got.log_high == pytest.approx(math.log(1 + f * (math.exp(own.log_high) - 1)))
        assert got.log_low == pytest.approx(-math.log(1 + f * (math.exp(-own.log_low) - 1)))
        if widened:
            ratio = peak / fp8.peak_16bit
            facts(why, "8-bit peak", f"{ratio:.2f}x", "16-bit", "fitted where it is 2x")
    # a 16-bit run never widens for the ratio
    assert training.extrapolated(attrs.evolve(job, peak_matmul=job.peak_16bit * 3)) == ""


def test_the_8bit_fast_end_stops_at_the_faster_of_the_two_shares(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    job = training.make_job(training.TrainRequest(work, tgt, TOKENS, "fp8"), reg.interconnects, LAYOUT)
    lay = layout.parse(LAYOUT, 8)
    for consts in (attrs.evolve(job.constants, matmul_8bit=0.3, matmul_16bit=0.9),
                   attrs.evolve(job.constants, matmul_8bit=0.9, matmul_16bit=0.3)):  # fmt: skip
        j = attrs.evolve(job, constants=consts)
        est = training.result_for(training.TrainRequest(work, tgt, TOKENS, "fp8"), j, training.Pick(lay, "given"),
                                  training.Evidence(band=band(-5.0, 5.0)))  # fmt: skip
        ceiling = max(consts.matmul_8bit, consts.matmul_16bit * j.peak_16bit / j.peak_matmul) * j.software
        assert training.matmul_ceiling(j) == pytest.approx(ceiling)
        fastest = est.flops / (8 * j.peak_matmul * ceiling)
        assert est.time_s.low == pytest.approx(min(max(est.time_s.expected * math.exp(-5.0), fastest),
                                                   est.time_s.expected))  # fmt: skip
        assert est.mfu.high == pytest.approx(max(est.mfu.expected, ceiling))


def test_a_bare_chip_says_which_link_joins_it(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    chip = reg.chip("h100-sxm")
    bare = cluster.cluster_for(chip, 8, None, reg.interconnects)
    est = training.estimate_train(training.TrainRequest(work, bare, TOKENS, "bf16"), reg.interconnects, LAYOUT)
    link = bare.tiers[0].link.name
    facts(est.notes[0], "bare chips", "h100-sxm", "native scale-up link", link)
    assert est.cost is None


def test_tokens_must_be_positive(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(HwprofError) as caught:
            training.estimate_train(training.TrainRequest(work, target(reg), bad, "bf16"), reg.interconnects, LAYOUT)
        assert caught.value.subject == "tokens"


def test_tensor_parallel_stays_in_a_domain_unless_asked(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    two = target(reg, count=2)  # 16 chips, 8 to a domain
    with pytest.raises(layout.LayoutError, match=r"\(domain\)"):
        training.estimate_train(training.TrainRequest(work, two, TOKENS, "bf16"), reg.interconnects, "tp=16,pp=1,dp=1")
    across = training.estimate_train(
        training.TrainRequest(work, two, TOKENS, "bf16"),
        reg.interconnects,
        "tp=16,pp=1,dp=1",
        recipe=job.Recipe(cross_domain=True),
    )
    assert across.layout.startswith("tp=16") and across.inputs.ranks_per_chip == 1


def test_a_given_utilisation_by_hand(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    tgt = target(reg)
    q = quote(reg)
    est = training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "bf16", quote=q), reg.interconnects, mfu=0.4)
    dense, attention = flops_by_hand(work, work.seq_len, TOKENS)
    peak = tgt.chip.peak_dense_tflops["bf16"].value * 1e12
    seconds = (dense + attention) / (8 * peak * 0.4)
    assert est.time_s == training.Span(pytest.approx(seconds), pytest.approx(seconds), pytest.approx(seconds))
    assert est.mfu == training.Span(0.4, 0.4, 0.4)
    assert est.flops == pytest.approx(dense + attention)
    assert est.flops_breakdown["attention_share"] == pytest.approx(attention / dense)
    facts(est.range_basis, "none", "utilisation was given")
    assert est.binding == "compute (given utilisation)"
    assert est.layout == "" and est.layout_basis == "none: utilisation given" and est.step is None
    assert est.inputs.global_batch_seqs == 0 and est.inputs.seq_len == work.seq_len
    assert est.cost_usd is not None and est.cost_usd.expected == pytest.approx(q.usd_per_hour * seconds / 3600)
    assert est.energy_kwh is not None
    assert est.energy_kwh.expected == pytest.approx(8 * tgt.chip.tdp_w.value / 1000 * seconds / 3600)
    assert est.chip_hours.expected == pytest.approx(seconds * 8 / 3600)
    assert est.tokens_per_s.expected == pytest.approx(TOKENS / seconds)
    assert est.time_days.expected == pytest.approx(seconds / 86400)
    assert "the given 0.4" in est.precision_basis and est.notes == (
        "utilisation given: no layout, memory or communication model",)  # fmt: skip
    whole = training.estimate_train(
        training.TrainRequest(work, tgt, TOKENS, "bf16", full_run=True), reg.interconnects, mfu=0.4
    )
    assert whole.time_s.expected == pytest.approx(seconds / eff.FULL_RUN_FACTOR.value)
    at_1k = training.estimate_train(
        training.TrainRequest(work, tgt, TOKENS, "bf16", seq_len=1024), reg.interconnects, mfu=0.4
    )
    assert at_1k.flops == pytest.approx(sum(flops_by_hand(work, 1024, TOKENS)))
    for bad in (0.0, 1.01, -0.2):
        with pytest.raises(HwprofError, match="between 0 and 1"):
            training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, mfu=bad)
    training.estimate_train(
        training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects, mfu=1.0
    )  # 1 is allowed
    with pytest.raises(HwprofError, match="has no dense int3 peak"):
        training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "int3"), reg.interconnects, mfu=0.4)


def test_a_model_known_only_by_its_parameters_gets_the_assumed_utilisation(reg: registry.Registry) -> None:
    work = attrs.evolve(reg.workload("llama3.1-8b"), layers=None, hidden=None, heads=None)
    tgt = target(reg)
    est = training.estimate_train(training.TrainRequest(work, tgt, TOKENS, "bf16"), reg.interconnects)
    b = ranges.band("train", "borrowed")
    assumed = eff.SHAPELESS_MFU.value
    assert est.mfu.expected == assumed and est.range == b
    # the fast end stops at the large-matmul share (the larger of the two precisions', or the assumed one)
    cap = max(eff.MATMUL_16BIT.value, eff.MATMUL_8BIT.value, assumed)
    assert est.mfu.high == pytest.approx(max(min(assumed * math.exp(-b.log_low), cap), assumed))
    assert est.mfu.low == pytest.approx(assumed * math.exp(-b.log_high))
    peak = tgt.chip.peak_dense_tflops["bf16"].value * 1e12
    seconds = 6 * work.active * TOKENS / (8 * peak * assumed)
    assert est.time_s.expected == pytest.approx(seconds)
    assert est.time_s.low == pytest.approx(min(max(seconds * math.exp(b.log_low), seconds * assumed / cap), seconds))
    assert est.time_s.high == pytest.approx(seconds * math.exp(b.log_high))
    facts(est.range_basis, "no layout model", "no run of their own", b.text)
    assert est.binding == "compute (assumed utilisation)"
    assert est.layout_basis.startswith(f"no layout: {work.id} is known only by its parameter count")
    assert f"an assumed {assumed:g}" in est.precision_basis and est.notes == (est.layout_basis,)


def test_two_ranks_per_chip(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("trn1.32xlarge")
    chip = reg.chip(system.chip)
    target = cluster.cluster_for(chip, system.chips, system, reg.interconnects)
    j = job.job_for(
        work,
        cluster_for(chip, system.chips, system, reg.interconnects),
        reg.interconnects,
        "bf16",
        training.constants(),
        batch_seqs=64,
        recipe=job.Recipe(ranks_per_chip=2),
    )
    lay = layout.parse("tp=8,pp=1", j.chips)  # 2 ranks x 16 chips = 32 ranks: dp 4
    est = training.result_for(training.TrainRequest(work, target, 1e11, "bf16"), j, training.Pick(lay, "given"))
    m = memory.memory(lay, j)
    got = est.memory
    assert got is not None
    assert (got.weights_bytes_per_chip, got.gradients_bytes_per_chip, got.optimizer_bytes_per_chip,
            got.activations_bytes_per_chip, got.total_bytes_per_chip, got.usable_bytes_per_chip) == pytest.approx(
        (2 * m.weights, 2 * m.gradients, 2 * m.optimizer, 2 * m.activations, 2 * m.total, 2 * m.usable))  # fmt: skip
    assert got.fits == bool(m.total <= m.usable)
    assert est.inputs.ranks_per_chip == 2 and est.inputs.chips == system.chips
    peak = chip.peak_dense_tflops["bf16"].value
    assert f"{peak:g} TFLOPS per chip" in est.precision_basis and f"at 16 bits ({peak:g} TFLOPS)" in est.precision_basis
    facts(est.notes[0], "ranks", f"{chip.id} runs 2 per chip", "1/2", f"{chip.memory_bytes / 2 / 2**30:,.0f} GiB",
          "memory below is per chip")  # fmt: skip


def test_link_lines_count_chips_and_state_each_chips_bandwidth(reg: registry.Registry) -> None:
    """A Trainium2 job runs several ranks per chip; its link lines still say how many chips a tier
    joins and the per-chip bandwidth the profile gives, with the ranks beside (issue 23: 'efa-v3-trn2:
    4096 chips' for a 1,024-chip job)."""
    system = reg.system("trn2.48xlarge")
    chip = reg.chip(system.chip)
    target = cluster.cluster_for(chip, 1024, system, reg.interconnects)
    result = training.estimate_train(
        training.TrainRequest(reg.workload("llama3.1-70b"), target, 1e12, "bf16"), reg.interconnects
    )
    r = job.chip_ranks(chip)
    assert r > 1
    efa = reg.interconnect("efa-v3-trn2")
    [line] = [t for t in result.tiers if t.startswith("efa-v3-trn2:")]
    assert line.startswith(f"efa-v3-trn2: 1024 chips ({1024 * r} ranks), {efa.per_direction_gb_s:g} GB/s per direction")
