"""Training estimates for one layout (given, or the fastest the search finds): a typed result with
the step broken down, memory per chip, the interconnect tiers used, time, cost and energy.

    estimate_train(TrainRequest(shape, cluster, tokens, "bf16"), interconnects, layout="tp=8,pp=16,...")

The step model is ``step.py``; its constants ``efficiency.py``. Whole-run losses (restarts,
evaluation, stages) are a separate, stated factor (``full_run``), never folded into the step.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ...cost.pricing import Quote
from ...data.records import Workload
from ...errors import HwprofError
from .. import efficiency as eff
from .. import ranges
from ..cluster import Cluster, check_positive, cost_over, energy_over, rests_on
from . import layout as layouts
from . import memory as mem
from . import search
from .job import TUNED, Constants, Job, Recipe, chip_ranks, default_batch_tokens, job_for
from .step import chip_width, step


def constants() -> Constants:
    return Constants(matmul_16bit=eff.MATMUL_16BIT.value, matmul_8bit=eff.MATMUL_8BIT.value,
                     half_width=eff.MATMUL_HALF_WIDTH.value, overlap_slowdown=eff.OVERLAP_SLOWDOWN.value,
                     expert_overlap=eff.EXPERT_OVERLAP.value, attention_16bit=eff.ATTENTION_16BIT.value,
                     attention_half_length=eff.ATTENTION_HALF_LENGTH.value,
                     memory_fraction=eff.MEMORY_BANDWIDTH_FRACTION.value)  # fmt: skip


@attrs.frozen
class Span:
    low: float
    expected: float
    high: float

    @classmethod
    def around(cls, expected: float, spread: float) -> Span:
        """``expected`` in a range of exp(+-spread) (low is the smaller number)."""
        return cls(expected * math.exp(-spread), expected, expected * math.exp(spread))

    def scaled(self, factor: float) -> Span:
        return Span(self.low * factor, self.expected * factor, self.high * factor)

    def inverse(self, numerator: float) -> Span:
        return Span(numerator / self.high, numerator / self.expected, numerator / self.low)


@attrs.frozen
class StepParts:
    """Seconds of one optimizer step on the slowest pipeline stage."""

    compute_s: float
    tensor_parallel_s: float
    expert_parallel_s: float
    context_parallel_s: float
    pipeline_p2p_s: float
    pipeline_bubble_s: float
    data_parallel_s: float
    optimizer_s: float
    total_s: float
    micro_batches: int
    matmul_share_of_peak: float


@attrs.frozen
class MemoryParts:
    weights_bytes_per_chip: float
    gradients_bytes_per_chip: float
    optimizer_bytes_per_chip: float
    activations_bytes_per_chip: float
    total_bytes_per_chip: float
    usable_bytes_per_chip: float
    fits: bool


@attrs.frozen
class TrainInputs:
    model: str
    model_source: str
    params: float
    active_params: float
    tokens: float
    seq_len: int
    target: str
    chip: str
    chips: int
    precision: str
    global_batch_seqs: int
    global_batch_tokens: float
    ranks_per_chip: int = 1  # layout degrees count ranks: tp x pp x dp x cp = chips x this


@attrs.frozen
class RunnerUp:
    layout: str
    step_s: float
    slower_by: float  # runner-up step / best step - 1


@attrs.frozen
class TrainEstimate:
    kind: str
    inputs: TrainInputs
    layout: str
    layout_basis: str
    runner_up: RunnerUp | None
    flops: float
    flops_breakdown: dict[str, float]
    precision_basis: str
    step: StepParts | None
    memory: MemoryParts | None
    tiers: tuple[str, ...]
    mfu: Span
    tokens_per_s: Span
    time_s: Span
    time_days: Span
    chip_hours: Span
    full_run_factor: float | None
    range_basis: str
    binding: str
    cost: dict[str, Any] | None
    cost_usd: Span | None
    energy: dict[str, Any] | None
    energy_kwh: Span | None
    rests_on: tuple[str, ...]
    notes: tuple[str, ...]
    range: ranges.Band | None = None  # where the range comes from (None: the utilisation was given)
    stack: str = ""  # the software stack the efficiency assumes (the chip's default), "" when none is stated
    stack_basis: str = ""  # what the stack's efficiency rests on
    layout_fields: layouts.Layout | None = None  # ``layout`` as a typed value (None: no layout model ran)


@attrs.frozen
class TrainRequest:
    """What a training estimate is asked: the model on the hardware, how many tokens at which
    precision, steady state or the whole run (``full_run``), at which price, on which stack (None:
    the chip's default)."""

    shape: Workload
    cluster: Cluster
    tokens: float
    precision: str
    full_run: bool = False
    quote: Quote | None = None
    stack: str | None = None
    seq_len: int | None = None  # None: the model's
    global_batch_seqs: int | None = None  # None: 4M tokens, raised to fill a given layout's pipeline


@attrs.frozen
class Pick:
    """The layout an estimate is for, how it was chosen (``basis``: given, or searched), and the
    search's second best."""

    layout: layouts.Layout
    basis: str
    runner_up: RunnerUp | None = None


@attrs.frozen
class Evidence:
    """What an estimate's range rests on: the chips with published runs of their own
    (``ranges.own_chips``) and the chip x stack pairs (``ranges.own_stacks``); ``band`` replaces
    the range they give."""

    published_chips: frozenset[str] = frozenset()
    own_stacks: frozenset[tuple[str, str]] = frozenset()
    band: ranges.Band | None = None


NO_EVIDENCE = Evidence()


def estimate_train(request: TrainRequest, interconnects: dict[str, Any], layout: str | layouts.Layout | None = None,
                   evidence: Evidence = NO_EVIDENCE, mfu: float | None = None, recipe: Recipe = TUNED,
                   consts: Constants | None = None) -> TrainEstimate:  # fmt: skip
    """One training run: ``layout`` as given (text or Layout), or the fastest the search finds.

    ``evidence``: the chips with a calibration run of their own (``ranges.own_chips``; the range is
    wider on the others) and chip x stack pairs (``ranges.own_stacks``): a ``request.stack`` none of
    the chip's calibration runs used keeps the chip's efficiency, borrowed, and takes the wider range
    of class ``other``; ``evidence.band`` replaces the range. ``recipe``: how the software runs it
    (``cross_domain``: tensor parallel may cross scale-up domains).

    ``mfu`` skips the layout model: time = FLOPs / (chips x peak x mfu), for a model known only by
    its parameter count or a measured utilisation.
    """
    shape, cluster = request.shape, request.cluster
    check_positive("--tokens", request.tokens)
    if mfu is not None:
        return given_mfu(request, mfu)
    if layout is None and not (shape.layers and shape.hidden and shape.heads):
        return given_mfu(request, eff.SHAPELESS_MFU.value, evidence.band or ranges.band("train", "borrowed"),
                         f"no layout: {shape.id} is known only by its parameter count ({eff.SHAPELESS_MFU.why})")  # fmt: skip
    given = layout_of(layout, cluster) if layout is not None else None
    job = make_job(request, interconnects, given, recipe, consts)
    runner_up = None
    if given is None:
        found = search.search(job)
        if not found.layouts:
            raise HwprofError(f"no layout of {shape.id} fits {cluster.label}: {refusal_text(found.refused)}")
        chosen = found.layouts[0]
        basis = f"searched: the fastest of {found.evaluated:,} layouts, {len(found.layouts)} kept"
        if len(found.layouts) > 1:
            runner_up = RunnerUp(str(found.layouts[1]), found.step_s[1], found.step_s[1] / found.step_s[0] - 1)
    else:
        chosen = given
        layouts.check(chosen, job)
        basis = "given"
    return result_for(request, job, Pick(chosen, basis, runner_up), evidence)


def layout_of(layout: str | layouts.Layout, cluster: Cluster) -> layouts.Layout:
    """``layout`` as a Layout: text (``--layout``) is parsed here, once, its degrees counting the
    cluster's ranks (dp defaults to what they leave)."""
    if isinstance(layout, layouts.Layout):
        return layout
    return layouts.parse(layout, cluster.chips * chip_ranks(cluster.chip))


def make_job(request: TrainRequest, interconnects: dict[str, Any], layout: str | layouts.Layout | None = None,
             recipe: Recipe = TUNED, consts: Constants | None = None) -> Job:  # fmt: skip
    """The Job of a run: one step of the request's model on its cluster at its precision, sequence
    length and batch (``request.tokens``, price and stack play no part); without a global batch, 4M
    tokens raised to fill a given layout's pipeline."""
    shape, cluster, batch = request.shape, request.cluster, request.global_batch_seqs
    seq = request.seq_len or shape.seq_len
    if batch is None and layout is not None and seq:
        lay = layout_of(layout, cluster)
        batch = max(lay.dp * lay.pp * lay.mb, default_batch_tokens(cluster.chips) // seq)
    return job_for(shape, cluster, interconnects, request.precision, consts or constants(), seq, batch, recipe)


def refusal_text(refused: dict[str, int]) -> str:
    if not refused:
        return "no layout to try"
    # Rules are checked in order; the last one that refused anything removed the last candidates.
    rule, count = list(refused.items())[-1]
    others = ", ".join(f"{r} {n:,}" for r, n in refused.items() if r != rule)
    return f"{layouts.RULE_TEXT.get(rule, rule)} ({count:,} layouts; before it: {others or 'none'})"


# -- range hook (hwprof.perf.ranges) ---------------------------------------------------------------
def band_for(job: Job, chip: Any, published_chips: frozenset[str] | set[str], searched: bool = False, stack: str = "",
             own_stacks: frozenset[tuple[str, str]] = frozenset()) -> ranges.Band:  # fmt: skip
    """The range of an estimate of ``job`` on ``chip`` (on ``stack`` when given): its evidence class's
    conformal width, measured on searched layouts when the search picked this one (kind ``search``)."""
    kind = "search" if searched else "train"
    evidence = ranges.evidence(kind, chip, published_chips, stack, own_stacks)
    return ranges.band(kind, evidence, extrapolated=extrapolated(job))


def stack_basis(given: str | None, evidence: str, default: str) -> str:
    """What an estimate's stack rests on, in words."""
    if given and evidence == "other":
        return "given; no published run on this chip used it: the efficiency is borrowed, the range widened"
    if given and evidence == "borrowed":
        return "given; no published training run on this chip: its efficiency is borrowed (see range)"
    if given:
        return "given; the efficiency is the published runs on it"
    if default:
        return "the chip's default training stack: its efficiency is the published runs on it"
    return "none stated: no published training run on this chip; its efficiency is borrowed (see range)"


def stack_of(chip: Any) -> str:
    """The training stack an estimate on ``chip`` assumes: its profile's default, else none stated."""
    figure = getattr(chip, "training_stack", None)
    return str(figure.value) if figure else ""


def extrapolated(job: Job) -> str:
    """Why the range widens beyond its class's (the 8-bit share was fitted where the peak ratio is 2), or ""."""
    ratio = job.peak_matmul / job.peak_16bit
    if job.low_precision and abs(ratio - 2) > 0.2:
        return f"its 8-bit peak is {ratio:.2f}x its 16-bit one, the 8-bit share was fitted where it is 2x"
    return ""


def matmul_ceiling(job: Job) -> float:
    """The largest share of the run precision's peak any run reaches (the large-matmul rate): the fast
    end of a range stops there."""
    c = job.constants
    ceiling = (max(c.matmul_8bit, c.matmul_16bit * job.peak_16bit / job.peak_matmul) if job.low_precision
               else c.matmul_16bit)  # fmt: skip
    return float(ceiling * job.software)


# -------------------------------------------------------------------------------------------------------


def result_for(request: TrainRequest, job: Job, pick: Pick, evidence: Evidence = NO_EVIDENCE) -> TrainEstimate:
    """The estimate of ``pick.layout`` running ``job``: the step and memory models, the range from
    ``evidence``, time, cost and energy over ``request.tokens``."""
    cluster, tokens, precision, stack = request.cluster, request.tokens, request.precision, request.stack
    chosen = pick.layout
    st = step(chosen, job)
    memory = mem.memory(chosen, job)
    batch_tokens = job.batch_seqs * job.seq_len
    matmul, attention = job.flops_per_token()
    flops = (matmul + attention) * tokens
    factor = eff.FULL_RUN_FACTOR.value if request.full_run else None
    seconds = tokens / batch_tokens * st.total / (factor or 1.0)
    band = evidence.band or band_for(job, cluster.chip, evidence.published_chips, pick.basis.startswith("searched"),
                                     stack or "", evidence.own_stacks)  # fmt: skip
    # No run beats its large-matmul rate: the fast end of the range stops there (MFU at most that share).
    ceiling = matmul_ceiling(job)
    fastest = flops / (job.chips * job.peak_matmul * ceiling) / (factor or 1.0)  # ranks x a rank's peak
    time = Span(ranges.time_span(seconds, band, fastest)[0], seconds, ranges.time_span(seconds, band)[1])
    hours = {k: getattr(time, k) / 3600 for k in ("low", "expected", "high")}
    cost = cost_over(request.quote, cluster, hours)
    energy = energy_over(cluster, hours)
    named = {"compute": st.compute, "tensor-parallel communication": st.tensor, "expert all-to-all": st.expert,
             "context-parallel exchange": st.context, "pipeline bubble": st.bubble + st.pipeline,
             "data-parallel communication": st.data}  # fmt: skip
    mfu_expected = flops / (seconds * job.chips * job.peak_matmul)
    r = job.ranks_per_chip
    return TrainEstimate(
        kind="train",
        inputs=inputs_of(request, job),
        layout=str(chosen),
        layout_basis=pick.basis,
        runner_up=pick.runner_up,
        flops=flops,
        flops_breakdown=flops_breakdown(matmul, attention, tokens),
        precision_basis=precision_basis(precision, job, chosen, st.matmul_share),
        step=step_parts(st),
        memory=memory_parts(memory, r),
        tiers=tiers_text(job),
        mfu=Span(*_mid(ranges.rate_span(mfu_expected, band, ceiling * (factor or 1.0)), mfu_expected)),
        tokens_per_s=time.inverse(tokens),
        time_s=time,
        time_days=time.scaled(1 / 86400),
        chip_hours=time.scaled(cluster.chips / 3600),
        full_run_factor=factor,
        range_basis=band.text,
        binding=max(named, key=lambda k: named[k]),
        cost=cost,
        cost_usd=Span(**cost["cost_usd"]) if cost else None,
        energy=energy,
        energy_kwh=Span(**energy["energy_kwh"]) if energy else None,
        rests_on=tuple(rests_on(cluster, cluster.chip.peak_dense_tflops[precision])[:4])
        + tuple(f"{t.link.name}: {t.link.basis}" for t in job.tiers),
        notes=notes_for(request, job, band, bool(memory.total <= memory.usable), factor),
        range=band,
        stack=stack or stack_of(cluster.chip),
        stack_basis=stack_basis(stack, band.evidence, stack_of(cluster.chip)),
        layout_fields=chosen,
    )


def flops_breakdown(matmul: float, attention: float, tokens: float) -> dict[str, float]:
    return {"dense_6n": matmul * tokens, "attention": attention * tokens,
            "attention_share": attention / matmul if matmul else 0.0}  # fmt: skip


def inputs_of(request: TrainRequest, job: Job) -> TrainInputs:
    shape, cluster = request.shape, request.cluster
    return TrainInputs(model=shape.id, model_source=shape.citation, params=shape.params, active_params=shape.active,
                       tokens=request.tokens, seq_len=job.seq_len, target=cluster.label, chip=cluster.chip.id,
                       chips=cluster.chips, precision=request.precision, global_batch_seqs=job.batch_seqs,
                       global_batch_tokens=float(job.batch_seqs * job.seq_len), ranks_per_chip=job.ranks_per_chip)  # fmt: skip


def step_parts(st: Any) -> StepParts:
    return StepParts(
        compute_s=st.compute, tensor_parallel_s=st.tensor, expert_parallel_s=st.expert, context_parallel_s=st.context,
        pipeline_p2p_s=st.pipeline, pipeline_bubble_s=st.bubble, data_parallel_s=st.data, optimizer_s=st.optimizer,
        total_s=st.total, micro_batches=int(st.micro_batches), matmul_share_of_peak=st.matmul_share,
    )  # fmt: skip


def memory_parts(memory: Any, ranks: int) -> MemoryParts:
    """Per chip: the memory model counts one rank, a chip holds ``ranks`` of them."""
    return MemoryParts(
        weights_bytes_per_chip=memory.weights * ranks,
        gradients_bytes_per_chip=memory.gradients * ranks,
        optimizer_bytes_per_chip=memory.optimizer * ranks,
        activations_bytes_per_chip=memory.activations * ranks,
        total_bytes_per_chip=memory.total * ranks,
        usable_bytes_per_chip=memory.usable * ranks,
        fits=bool(memory.total <= memory.usable),
    )  # fmt: skip


def tiers_text(job: Job) -> tuple[str, ...]:
    """Each tier in chips and per-chip bandwidth as the profile states them (the job counts ranks)."""
    r = job.ranks_per_chip
    return tuple(
        f"{t.link.name}: {t.domain // r} chips{f' ({t.domain} ranks)' if r > 1 else ''}, "
        f"{t.link.gb_s_per_direction * r:g} GB/s per direction x {t.link.efficiency:g}, {t.link.latency_us:g} us "
        f"({t.link.basis})"
        for t in job.tiers
    )  # fmt: skip


def precision_basis(precision: str, job: Job, chosen: layouts.Layout, matmul_share: float) -> str:
    r = job.ranks_per_chip
    width = min(int(chip_width(chosen, job)), chosen.mb * job.seq_len // chosen.cp)
    return (
        f"matmuls at {precision} on its own dense peak, {job.peak_matmul * r / 1e12:g} TFLOPS per chip, "
        f"reaching {matmul_share:.0%} of it (per-{'rank' if job.rank_half_width else 'chip'} matmul width {width}); attention "
        f"at 16 bits ({job.peak_16bit * r / 1e12:g} TFLOPS)"
    )  # fmt: skip


def notes_for(request: TrainRequest, job: Job, band: ranges.Band, fits: bool, factor: float | None) -> tuple[str, ...]:
    """What a reader of the estimate should know: bare chips, ranks per chip, the whole-run factor, a
    stack with no runs of its own on the chip, a layout that does not fit."""
    cluster, stack = request.cluster, request.stack
    notes = []
    if cluster.system is None:
        link = job.tiers[0].link.name if job.tiers else "none"
        notes.append(
            f"bare chips: joined by {cluster.chip.id}'s native scale-up link ({link}), as its profile names it"
        )
    r = job.ranks_per_chip
    if r > 1:
        notes.append(f"layout in ranks: {cluster.chip.id} runs {r} per chip (its cores), each with 1/{r} of the chip's "
                     f"memory ({job.memory_bytes / 2**30:,.0f} GiB), compute and links; memory below is per chip")  # fmt: skip
    if factor:
        notes.append(f"whole run: steady state x {factor:g} ({eff.FULL_RUN_FACTOR.why})")
    if stack and band.evidence == "other":
        default = stack_of(cluster.chip) or "none stated"
        notes.append(
            f"stack {stack}: no published training run on {cluster.chip.id} used it; the efficiency is "
            f"borrowed from the chip's runs (its default stack: {default}), the range widened as such"
        )
    if not fits:
        notes.append("memory: this layout does not fit by the model (weights, gradients, optimizer state and "
                     "activations exceed the usable memory)")  # fmt: skip
    return tuple(notes)


def _mid(ends: tuple[float, float], expected: float) -> tuple[float, float, float]:
    return ends[0], expected, ends[1]


def given_mfu(request: TrainRequest, mfu: float, band: ranges.Band | None = None, why: str = "") -> TrainEstimate:
    """The plain estimate when the utilisation is given (no range) or assumed (``band``, ``why``)."""
    shape, cluster, tokens, precision = request.shape, request.cluster, request.tokens, request.precision
    if not 0 < mfu <= 1:
        raise HwprofError(f"the utilisation must be between 0 and 1 (a fraction of peak), got {mfu:g}")
    peak = cluster.chip.peak_dense_tflops.get(precision)
    if peak is None:
        raise HwprofError(
            f"{cluster.chip.id} has no dense {precision} peak; it has {', '.join(cluster.chip.peak_dense_tflops)}"
        )
    seq = request.seq_len or shape.seq_len
    dense, attention = shape.train_flops_per_token(seq)
    flops = (dense + attention) * tokens
    factor = eff.FULL_RUN_FACTOR.value if request.full_run else None
    seconds = flops / (cluster.chips * peak.value * 1e12 * mfu) / (factor or 1.0)
    # no run beats the large-matmul share: the fast end of an assumed utilisation stops there too
    cap = max(eff.MATMUL_16BIT.value, eff.MATMUL_8BIT.value, mfu)
    time = (
        Span(*_mid(ranges.time_span(seconds, band, seconds * mfu / cap), seconds))
        if band
        else Span(seconds, seconds, seconds)
    )
    hours = {k: getattr(time, k) / 3600 for k in ("low", "expected", "high")}
    cost, energy = cost_over(request.quote, cluster, hours), energy_over(cluster, hours)
    return TrainEstimate(
        kind="train",
        inputs=TrainInputs(model=shape.id, model_source=shape.citation, params=shape.params,
                           active_params=shape.active, tokens=tokens, seq_len=seq or 0, target=cluster.label,
                           chip=cluster.chip.id, chips=cluster.chips, precision=precision, global_batch_seqs=0,
                           global_batch_tokens=0.0),  # fmt: skip
        layout="", layout_basis=why or "none: utilisation given", runner_up=None, flops=flops,
        flops_breakdown=flops_breakdown(dense, attention, tokens),
        precision_basis=f"dense {precision} peak, {peak.value:g} TFLOPS per chip ({peak.status}) x "
        + (f"an assumed {mfu:g}" if why else f"the given {mfu:g}"),
        step=None, memory=None, tiers=(), mfu=Span(*_mid(ranges.rate_span(mfu, band, cap), mfu)) if band else Span(mfu, mfu, mfu), tokens_per_s=time.inverse(tokens), time_s=time,
        time_days=time.scaled(1 / 86400), chip_hours=time.scaled(cluster.chips / 3600), full_run_factor=factor,
        range_basis=f"no layout model: as for chips with no run of their own; {band.text}" if band
        else "none: the utilisation was given",
        binding="compute (assumed utilisation)" if why else "compute (given utilisation)", cost=cost,
        cost_usd=Span(**cost["cost_usd"]) if cost else None, energy=energy,
        energy_kwh=Span(**energy["energy_kwh"]) if energy else None,
        rests_on=tuple(rests_on(cluster, peak)[:4]),
        notes=(why or "utilisation given: no layout, memory or communication model",), range=band,
    )  # fmt: skip
