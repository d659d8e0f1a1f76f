"""Run the estimators on published results and measure the error: ``hwprof validate``.

Each training case runs twice: with its published layout (the keys the source published fixed,
the others searched and said so), and with the layout the search picks on its own.
"""

from __future__ import annotations

import statistics
from typing import Any

import attrs

from hwprof.data import records
from hwprof.data.registry import Registry
from hwprof.errors import HwprofError
from hwprof.perf import efficiency as eff
from hwprof.perf import ranges
from hwprof.perf.train import layout, search, training
from hwprof.perf.train.job import Constants, Job, default_batch_tokens, job_for
from hwprof.perf.train.step import step


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
    job = job_for(work, reg.chip(case.chip), case.chips, system, reg.interconnects, case.precision, consts,
                  case.seq_len, batch, ranks_per_chip=ranks, fused_attention=case.fused_attention,
                  node_dispatch=case.expert_dispatch == "node", a2a_overlap=case.expert_a2a_overlap,
                  a2a_paired=case.expert_a2a_paired)  # fmt: skip
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
        text = ",".join(f"{k}={v}" for k, v in fixed.items() if k != "min_vpp")
        chosen = roomy.layouts[0] if roomy.layouts else layout.parse(text, job.chips)
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
    from hwprof.perf.serve import cases as serve_cases

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


def _span(case: records.ValidationCase, reg: Registry, got: dict[str, Any], band: ranges.Band) -> dict[str, Any]:
    """``got`` with its range under ``band``: a training run's from the run already made, a serving
    estimate's by rerunning its queue at the band's ends."""
    if "run" in got:
        low, high = train_span(case, got["run"], band)
        return {**got, "low": low, "high": high}
    return {**got, **{k: v for k, v in predict(case, reg, band=band).items() if k in ("low", "high")}}


def run(reg: Registry, role: str | None = None) -> dict[str, Any]:
    """Every case's estimate and error, and whether the published value falls inside a range fitted
    without that case (leave-one-out: ``ranges``); every case is estimated, ``role`` picks the rows."""
    rows: list[dict[str, Any]] = []
    unusable: list[dict[str, str]] = []  # cases the estimators refuse: reported, the rest still run
    estimated: list[tuple[records.ValidationCase, dict[str, Any], dict[str, Any] | None]] = []
    for case in sorted(reg.validation_cases.values(), key=lambda c: (c.role, c.kind, c.id)):
        try:
            got = predict(case, reg)
            searched = predict(case, reg, searched=True) if case.kind == "train" else None
        except HwprofError as exc:
            if not role or case.role == role:
                unusable.append({"id": case.id, "origin": case.origin, "reason": str(exc)})
            continue
        estimated.append((case, got, searched))
    found = residuals(reg, [(case, got["expected"]) for case, got, _ in estimated])
    found += residuals(reg, [(case, s["expected"]) for case, _, s in estimated if s is not None], "search")
    table = ranges.fit(found)
    for case, got, searched in estimated:
        if role and case.role != role:
            continue
        evidence = ranges.case_evidence(case, reg.chip(case.chip), reg.validation_cases.values())
        # Checked against the range an estimate of this job shows: a run on a stack no calibration run
        # used (class other) sets no width, and an estimate knows no stack, so it gets its chip's class.
        shown = ranges.shown_class(case, reg.chip(case.chip), reg.validation_cases.values())
        width = (ranges.leave_one_out(found, case.id, case.kind, shown) if case.role == "validation"
                 else table[case.kind, shown])  # fmt: skip
        band = ranges.band(case.kind, shown, width, got["extrapolated"])
        got = _span(case, reg, got, band)
        row = {
            "id": case.id, "kind": case.kind, "role": case.role, "metric": case.metric,
            "published": case.published, "estimate": {k: got[k] for k in ("low", "expected", "high")},
            "error": got["expected"] / case.published - 1,
            "in_range": _inside(case.published, got), "range_class": shown, "evidence": evidence,
            "range_cases": width.cases,
            "source": case.source.title, "note": case.note, "calibrates": list(case.calibrates),
        }  # fmt: skip
        if searched is not None:
            wide = (ranges.leave_one_out(found, case.id, "search", shown) if case.role == "validation"
                    else table["search", shown])  # fmt: skip
            spread = _span(case, reg, searched, ranges.band("search", shown, wide, got["extrapolated"]))
            row.update({
                "layout": got["layout"], "layout_fits": got["fits"], "layout_refused": got["refused"],
                "published_layout": case.layout,
                "searched_layout": searched["layout"], "searched_estimate": searched["expected"],
                "searched_error": searched["expected"] / case.published - 1,
                "searched_in_range": _inside(case.published, spread),
                # the search's step against the published layout's (same model): above 0 means slower
                "searched_vs_published": _slower(case, got["expected"], searched["expected"]),
            })  # fmt: skip
        rows.append(row)
    summary: dict[str, dict[str, float]] = {}
    for group in ("calibration", "validation"):
        chosen = [r for r in rows if r["role"] == group]
        if not chosen:
            continue
        summary[group] = {
            "cases": len(chosen),
            "train_cases": sum(r["kind"] == "train" for r in chosen),
            "serve_cases": sum(r["kind"] == "serve" for r in chosen),
            "median_abs_error": statistics.median(abs(r["error"]) for r in chosen),
            "in_range_share": sum(r["in_range"] for r in chosen) / len(chosen),
        }
        for kind in ("train", "serve"):  # the share on stacks like the calibration runs' (class other left out)
            tuned = [r for r in chosen if r["kind"] == kind and r["evidence"] != "other"]
            if tuned:
                summary[group][f"{kind}_tuned_stack_cases"] = len(tuned)
                summary[group][f"{kind}_tuned_stack_in_range_share"] = sum(r["in_range"] for r in tuned) / len(tuned)
        trains = [r for r in chosen if r["kind"] == "train"]
        if trains:
            summary[group]["train_median_abs_error"] = statistics.median(abs(r["error"]) for r in trains)
            summary[group]["train_in_range_share"] = sum(r["in_range"] for r in trains) / len(trains)
            summary[group]["searched_median_abs_error"] = statistics.median(abs(r["searched_error"]) for r in trains)
            summary[group]["searched_in_range_share"] = sum(r["searched_in_range"] for r in trains) / len(trains)
            summary[group]["searched_worst_vs_published"] = max(r["searched_vs_published"] for r in trains)
            # experts' layouts are near-optimal on real hardware: a search much faster than them is a model error
            summary[group]["searched_median_vs_published"] = statistics.median(
                r["searched_vs_published"] for r in trains
            )
            summary[group]["searched_best_vs_published"] = min(r["searched_vs_published"] for r in trains)
        serves = [r for r in chosen if r["kind"] == "serve"]
        if serves:
            summary[group]["serve_median_abs_error"] = statistics.median(abs(r["error"]) for r in serves)
            summary[group]["serve_in_range_share"] = sum(r["in_range"] for r in serves) / len(serves)
    return {"cases": rows, "summary": summary, "unusable": unusable,
            "ranges": [_with_coverage(attrs.asdict(w), rows) for w in table.values()]}  # fmt: skip


def _with_coverage(width: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A class's width with how many of its held-out cases fell inside the leave-one-out range each was
    checked against (for class other: the range an estimate on its chip shows)."""
    kind = ranges.BASE_KIND.get(width["kind"], width["kind"])
    inside = "searched_in_range" if width["kind"] == "search" else "in_range"
    mine = [r for r in rows if r["role"] == "validation" and (r["kind"], r["evidence"]) == (kind, width["evidence"])]
    return {**width, "held_out": len(mine), "held_out_inside": sum(r[inside] for r in mine)}


def residuals(reg: Registry, estimates: list[tuple[records.ValidationCase, float]],
              kind: str = "") -> list[ranges.Residual]:  # fmt: skip
    """The signed residual of every held-out (validation) case, with its class: what ranges are fitted
    on. ``kind`` overrides the case's (``search``: training estimated on the searched layout)."""
    return [ranges.Residual(case.id, kind or case.kind, ranges.case_evidence(case, reg.chip(case.chip),
                                                                     reg.validation_cases.values()),
                            ranges.residual_of(case.published, expected, case.metric in TIME_METRICS))
            for case, expected in estimates if case.role == "validation"]  # fmt: skip


def all_residuals(reg: Registry) -> list[ranges.Residual]:
    """Every held-out case's residual, each estimated with its published layout, and each training
    case's again on the layout the search picks (kind ``search``); cases the estimators refuse are left out."""
    out, searched = [], []
    for case in reg.validation_cases.values():
        if case.role != "validation":
            continue
        try:
            out.append((case, predict(case, reg)["expected"]))
            if case.kind == "train":
                searched.append((case, predict(case, reg, searched=True)["expected"]))
        except HwprofError:
            continue
    return residuals(reg, out) + residuals(reg, searched, "search")


def _slower(case: records.ValidationCase, published: float, searched: float) -> float:
    """How much slower the searched layout runs than the published one (negative: faster)."""
    if case.metric == "chip_hours":
        return searched / published - 1
    return published / searched - 1


def _inside(published: float, got: dict[str, Any]) -> bool:
    """Inside the range; an end given as None is unbounded on its side (a serving estimate whose
    slow end cannot serve the load: a time without an upper bound, a throughput without a lower)."""
    low, high = got["low"], got["high"]
    if low is None or high is None:
        return bool((low is None or low <= published) and (high is None or published <= high))
    return bool(min(low, high) <= published <= max(low, high))
