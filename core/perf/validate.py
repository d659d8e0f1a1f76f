"""The estimators on one published result: its job, its published layout, the metric it published.

Each training case runs twice: with its published layout (the keys the source published fixed,
the others searched and said so), and with the layout the search picks on its own. ``hwprof
validate`` scores every case this way under constants fitted without its document
(``hwprof.perf.fit.loso``).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..data import records
from ..data.registry import Registry
from . import efficiency as eff
from . import ranges
from .cluster import cluster_for
from .train import layout, search, training
from .train.job import Constants, Job, Recipe, default_batch_tokens, job_for
from .train.step import step


@attrs.frozen
class TrainRun:
    """A training case estimated under one layout."""

    value: float  # the published metric, estimated
    layout: str
    basis: str
    step_s: float
    fits: bool
    job: Job
    refused: str = ""  # when nothing passes: "memory", or the other rules that refused every layout


def published_keys(case: records.ValidationCase, work: records.Workload) -> dict[str, Any]:
    """The keys the case's source published, in ranks (a chip runs ``ranks_per_chip`` of them)."""
    fixed = layout.given(case.layout)
    if work.layers and work.layers % (fixed.get("pp", 1) * fixed.get("vpp", 1)):
        fixed["uneven"] = 1  # the source splits the layers unevenly (e.g. 126 layers over 16 stages)
    if case.interleaved and "vpp" not in fixed:
        fixed["min_vpp"] = 2  # interleaved, into how many virtual stages not published: searched from 2 up
    return fixed


def train_job(case: records.ValidationCase, reg: Registry, consts: Constants) -> tuple[Job, dict[str, Any]]:
    work = reg.workload(case.model)
    fixed = published_keys(case, work)
    seq = case.seq_len or work.seq_len or 0
    batch = case.global_batch or max(fixed.get("dp", 1) * fixed.get("pp", 1) * fixed.get("mb", 1),
                                     default_batch_tokens(case.chips) // max(seq, 1))  # fmt: skip
    system = reg.system(case.system) if case.system else None
    # A case that publishes its ranks per chip runs at that count; otherwise the chip's default.
    ranks = case.ranks_per_chip if case.ranks_per_chip > 1 else None
    # How the published run ran: its ranks per chip, attention kernels, MoE dispatch and overlap.
    recipe = Recipe(ranks_per_chip=ranks, fused_attention=case.fused_attention,
                    node_dispatch=case.expert_dispatch == "node", a2a_overlap=case.expert_a2a_overlap,
                    a2a_paired=case.expert_a2a_paired)  # fmt: skip
    cluster = cluster_for(reg.chip(case.chip), case.chips, system, reg.interconnects)
    job = job_for(work, cluster, reg.interconnects, case.precision, consts, case.seq_len, batch, recipe)
    return job, fixed


def run_train(case: records.ValidationCase, reg: Registry, consts: Constants, searched: bool = False) -> TrainRun:
    job, fixed = train_job(case, reg, consts)
    given: dict[str, Any] = {k: fixed[k] for k in ("uneven", "grads") if k in fixed}  # how it ran: never searched
    keys: dict[str, Any] = given if searched else fixed
    found = search.search(job, keys or None, top=1)
    if searched:
        basis = "searched"
    else:
        moot = ("dp", "uneven", "grads") + (("etp",) if not job.experts or fixed.get("tp") == 1 else ())  # one value
        filled = [f.name for f in attrs.fields(layout.Layout) if f.name not in fixed and f.name not in moot]
        basis = "published" + (f"; not published, searched: {', '.join(filled)}" if filled else "")
    if found.layouts:
        chosen, fits, refused = found.layouts[0], True, ""
    else:  # nothing passes: the fastest layout with these keys memory aside, flagged with the rule that refused
        roomy = search.search(attrs.evolve(job, memory_bytes=float("inf")), keys or None, top=1)
        published = {k: v for k, v in fixed.items() if k != "min_vpp"}
        chosen = roomy.layouts[0] if roomy.layouts else layout.from_keys(published, job.chips)
        fits = False
        refused = "memory" if roomy.layouts else ", ".join(r for r in found.refused if r != "memory")
    seconds = float(step(chosen, job).total)
    return TrainRun(metric(case, job, seconds), str(chosen), basis, seconds, fits, job, refused)


def metric(case: records.ValidationCase, job: Job, step_s: float) -> float:
    tokens_per_s = job.batch_seqs * job.seq_len / step_s
    if case.metric == "mfu":
        matmul, attention = job.flops_per_token()
        return (matmul + attention) * tokens_per_s / (job.chips * job.peak_matmul)
    if case.metric == "chip_hours":
        factor = eff.FULL_RUN_FACTOR.value if case.full_run else 1.0
        return (case.tokens or 1e12) / tokens_per_s / 3600 * case.chips / factor
    return tokens_per_s / case.chips


TIME_METRICS = ("chip_hours", "ttft_s", "tpot_s")  # the others are rates (tokens/s, MFU)


def predict(case: records.ValidationCase, reg: Registry, searched: bool = False,
            band: ranges.Band | None = None) -> dict[str, Any]:  # fmt: skip
    """The estimate of the metric a case published and the layout used; with ``band``, its range
    (low, high) too, formed as an estimate's range is (``ranges``)."""
    if case.kind == "train":
        run = run_train(case, reg, training.constants(), searched)
        got: dict[str, Any] = {"expected": run.value, "layout": run.layout, "fits": run.fits, "refused": run.refused,
                               "extrapolated": training.extrapolated(run.job), "run": run}  # fmt: skip
        if band is not None:
            got["low"], got["high"] = train_span(case, run, band)
        return got
    from .serve import cases as serve_cases

    return {**serve_cases.predict(case, reg, band=band), "extrapolated": ""}


def train_span(case: records.ValidationCase, run: TrainRun, band: ranges.Band) -> tuple[float, float]:
    """(low, high) of a training run's metric under ``band``; the fast end stops at the large-matmul
    rate, as in an estimate (``training.result_for``)."""
    matmul, attention = run.job.flops_per_token()
    mfu = (
        (matmul + attention) * run.job.batch_seqs * run.job.seq_len / run.step_s / (run.job.chips * run.job.peak_matmul)
    )
    bound = training.matmul_ceiling(run.job) / mfu
    if case.metric in TIME_METRICS:
        return ranges.time_span(run.value, band, run.value / bound)
    return ranges.rate_span(run.value, band, run.value * bound)


def slower(case: records.ValidationCase, published: float, searched: float) -> float:
    """How much slower the searched layout runs than the published one (negative: faster)."""
    if case.metric == "chip_hours":
        return searched / published - 1
    return published / searched - 1


def inside(published: float, got: dict[str, Any]) -> bool:
    """Inside the range; an end given as None is unbounded on its side (a serving estimate whose
    slow end cannot serve the load: a time without an upper bound, a throughput without a lower)."""
    low, high = got["low"], got["high"]
    if low is None or high is None:
        return bool((low is None or low <= published) and (high is None or published <= high))
    return bool(min(low, high) <= published <= max(low, high))
