"""``hwprof validate``: every published result scored under constants fitted without its document.

Published results come in families: one document (several versions of one table, one run reported two
ways) shares a team, a software stack and often the runs themselves. A case scored under constants that
one of its siblings helped fit is scored in-sample, whatever its role says. So ``hwprof validate``
holds out every case of one document together (``document``: a source's ``document``, else its key),
refits every fitted constant from the calibration cases that remain (``fit``), and estimates the held-out
cases with those constants; calibration cases are scored the same way (their own document held out), so
every published result has an out-of-sample residual. Ranges and their coverage come from these residuals
(``ranges``, ``ranges_fit``).

Where a held-out document took the only cases of a constant with it, the constant is not fitted: it takes
its stated fallback (``FALLBACKS``), what the model assumes where no published run measures it. A chip
whose own calibration runs were held out borrows the nearest chip's software factor (``nearest`` in its
profile), or none, and its class says ``borrowed``; a chip x serving stack whose prefill efficiency was
held out borrows it by the estimates' own rule (``serve.layout.prefill_source``), or none.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

import attrs

from ...data import records
from ...data.registry import Registry
from ...errors import HwprofError
from .. import efficiency as eff
from .. import ranges, validate
from ..serve import cases as serve_cases
from ..serve import layout as sl
from ..serve import serving
from ..train import training
from ..train.job import Constants
from . import calibrate

# What a constant is where no calibration case of its own is left (a judgement each, stated):
FALLBACKS = {
    "matmul_8bit": "the 16-bit share (large 8-bit matmuls reach the same share of their own peak)",
    "expert_overlap": "0 (none of the expert all-to-all hidden)",
    "full_run_factor": "1 (a whole run delivers its steady state)",
    "chip": "the nearest chip's factor (its profile's `nearest`), else 1",
    "prefill_compute_fraction": "the judged decode compute fraction",
    "batched_prefill_compute_fraction": "the single-prompt prefill fraction",
    "prefill_efficiency": "the same runtime's on the chip, then the nearest chips' (as the floors), else 1",
}


def document(case: records.ValidationCase) -> str:
    """The document a case comes from: its source's ``document``, else the source's key."""
    return getattr(case.source, "document", "") or case.source.key


def documents(reg: Registry) -> dict[str, list[records.ValidationCase]]:
    found: dict[str, list[records.ValidationCase]] = {}
    for case in sorted(reg.validation_cases.values(), key=lambda c: c.id):
        found.setdefault(document(case), []).append(case)
    return found


def without(reg: Registry, doc: str) -> Registry:
    """The registry with every case of ``doc`` left out (the rest shared, nothing copied)."""
    kept = {key: case for key, case in reg.validation_cases.items() if document(case) != doc}
    view: Registry = attrs.evolve(reg, validation_cases=kept)
    return view


@attrs.frozen
class Fitted:
    """Every fitted constant, from one set of calibration cases."""

    train: Constants  # chip_factors: the chips with calibration runs of their own
    full_run: float
    serve: sl.Constants  # its ``prefill``: each chip x stack's prefill efficiency fitted (None: the profiles')
    fallbacks: tuple[str, ...]  # constants no case was left to fit (at FALLBACKS)


def fit(reg: Registry) -> Fitted:
    """All constants from ``reg``'s calibration cases alone (validation cases are never read)."""
    train, full_run, missing = fit_train(reg)
    serve, gaps = fit_serve(reg)
    return Fitted(train, full_run, serve, missing + gaps)


def refit(view: Registry, base: Fitted, kinds: set[str]) -> Fitted:
    """``base`` with the constants of ``kinds`` refitted on ``view`` (the others' cases are all still there,
    so their fit is the base's)."""
    fitted = base
    if "train" in kinds:
        train, full_run, missing = fit_train(view)
        fitted = attrs.evolve(fitted, train=train, full_run=full_run, fallbacks=missing)
    if "serve" in kinds:
        serve, gaps = fit_serve(view)
        fitted = attrs.evolve(fitted, serve=serve, fallbacks=fitted.fallbacks + gaps)
    return fitted


def fit_train(reg: Registry) -> tuple[Constants, float, tuple[str, ...]]:
    """``calibrate.fit``, but a constant with no case left takes its fallback instead of failing."""
    entries = calibrate.fitted(reg)
    usable = {name: e for name, e in entries.items() if calibrate.cases_for(reg, e[3])}
    # the chips' factors are only listed when a case names them; a shared constant with no case keeps
    # its fallback, or (the 16-bit share, which has none) its shipped value, and says so
    missing = tuple(name for name in entries if name not in usable)
    chips = {e[0].removeprefix("chip:") for e in usable.values() if e[0].startswith("chip:")}
    consts = calibrate.shipped(reg)
    consts = attrs.evolve(consts, chip_factors=tuple((c, v) for c, v in consts.chip_factors if c in chips))
    if "expert_overlap" in missing:
        consts = attrs.evolve(consts, expert_overlap=0.0)

    def tied(c: Constants) -> Constants:
        return attrs.evolve(c, matmul_8bit=c.matmul_16bit) if "matmul_8bit" in missing else c

    consts = tied(consts)
    for _ in range(40):
        before = consts
        for name, (field, *_rest) in usable.items():
            consts = tied(calibrate.with_value(consts, field, calibrate.fit_one(name, reg, consts)))
        if all(abs(calibrate.value_of(consts, f) - calibrate.value_of(before, f))
               <= 1e-3 * abs(calibrate.value_of(before, f)) + 1e-9 for f, *_ in usable.values()):  # fmt: skip
            break
    if calibrate.cases_for(reg, calibrate.FULL_RUN):
        full_run = calibrate.fit_full_run(reg, consts)
    else:
        full_run, missing = 1.0, (*missing, "full_run_factor")
    return consts, full_run, missing


def fit_serve(reg: Registry) -> tuple[sl.Constants, tuple[str, ...]]:
    names = {n for c in reg.validation_cases.values() if c.kind == "serve" and c.role == "calibration"
             for n in c.calibrates}  # fmt: skip
    if "memory_bandwidth_fraction" not in names:  # no decode run at all: nothing to fit the rest against
        return attrs.evolve(sl.SHIPPED, prefill=()), ("serving constants (no calibration case)",)
    k = serve_cases.calibrate(reg)
    missing: tuple[str, ...] = ()
    if "prefill_compute_fraction" not in names:
        k, missing = (
            attrs.evolve(k, prefill_compute_fraction=eff.DECODE_COMPUTE_FRACTION.value),
            ("prefill_compute_fraction",),
        )
    if "batched_prefill_compute_fraction" not in names:
        k = attrs.evolve(k, batched_prefill_compute_fraction=k.prefill_compute_fraction)
        missing += ("batched_prefill_compute_fraction",)
    return k, missing  # the stack floors and prefill efficiencies are in k


def train_factor(fitted: Fitted, chip: records.Chip) -> tuple[float, str]:
    """(software factor, how) of ``chip`` under ``fitted``: its own (or its evidence chip's), the nearest
    chip's (borrowed), or 1 (the reference stacks the shared constants were fitted on)."""
    factors = dict(fitted.train.chip_factors)
    for other in (chip.id, *evidence_chips(chip)):
        if other in factors:
            return factors[other], "own"
    for other in nearest(chip):
        if other in factors:
            return factors[other], "borrowed"
    return 1.0, "reference"


def evidence_chips(chip: records.Chip) -> list[str]:
    """The chip whose published runs stand for this one (``evidence_from``), if any."""
    found = getattr(chip, "evidence_from", None)
    return [found.value] if found else []


def nearest(chip: records.Chip) -> list[str]:
    return list(getattr(chip, "nearest", ()) or ())


@attrs.frozen
class Scored:
    """One published result estimated with constants fitted without its document."""

    case: records.ValidationCase
    document: str
    expected: float
    evidence: str  # the class it was in while held out
    factor: str  # how its chip's software factor was found: own, borrowed (nearest chip), none
    fitted: Fitted = attrs.field(eq=False, repr=False)
    run: Any = attrs.field(default=None, eq=False, repr=False)  # training: the TrainRun (its range's bound)
    searched: Any = attrs.field(default=None, eq=False, repr=False)  # training: on the searched layout

    @property
    def error(self) -> float:
        return self.expected / self.case.published - 1


def shipped(reg: Registry) -> Fitted:
    """The shipped constants as a fit: what every document without a calibration case is scored under
    (they were fitted on calibration cases alone, none of them from that document)."""
    return Fitted(calibrate.shipped(reg), eff.FULL_RUN_FACTOR.value, sl.SHIPPED, ())


def score(reg: Registry, known: dict[str, tuple[Any, Any]] | None = None) -> list[Scored]:
    """Every case under the fit without its document; cases the estimators refuse are left out
    (``hwprof validate`` lists them). ``known``: case id -> (run, searched run) of training cases already
    estimated with the shipped constants, reused where the shipped constants are the held-out fit; where
    they are not, the layout the search picked is timed under the held-out constants (searching again
    under them would double validate's time for a layout choice they barely move)."""
    base = shipped(reg)
    layouts = {key: searched.layout for key, (_run, searched) in (known or {}).items()}
    out: list[Scored] = []
    for doc, held in documents(reg).items():
        view = without(reg, doc)
        fitted = refit(view, base, {c.kind for c in held if c.role == "calibration"})
        for case in held:
            try:
                reuse = (known or {}).get(case.id) if fitted is base else None
                out.append(_score(case, doc, view, fitted, reuse, layouts))
            except HwprofError:
                continue
    return out


def _score(case: records.ValidationCase, doc: str, view: Registry, fitted: Fitted,
           known: tuple[Any, Any] | None, layouts: dict[str, str]) -> Scored:  # fmt: skip
    chip = view.chip(case.chip)
    evidence = ranges.case_evidence(case, chip, view.validation_cases.values())
    if case.kind == "train":
        value, how = train_factor(fitted, chip)
        consts = calibrate.with_value(fitted.train, f"chip:{chip.id}", value)
        if known is not None:
            run, searched = known
        elif case.id in layouts:  # the layout the search picked with the shipped constants, timed under these
            run = validate.run_train(case, view, consts)
            searched = validate.run_train(attrs.evolve(case, layout=layouts[case.id], interleaved=False), view, consts)
        else:
            run, searched = validate.run_train(case, view, consts), validate.run_train(case, view, consts, True)
        return Scored(case, doc, _whole(case, run.value, fitted), evidence, how, fitted, run, searched)
    k, how = serve_constants(fitted, view, case)
    # its class is the one its estimate shows: borrowed where its stack's floors or prefill efficiency are
    stack = sl.stack_of(chip, case.stack or None, attrs.evolve(k, evidence=serve_cases.evidence_of(view)))
    evidence = serving.stack_evidence(evidence, stack)
    return Scored(case, doc, serve_cases.predict(case, view, k)["expected"], evidence, how, fitted)


def searched_value(s: Scored) -> float:
    return _whole(s.case, s.searched.value, s.fitted)


def _whole(case: records.ValidationCase, value: float, fitted: Fitted) -> float:
    """A whole run's chip-hours under the held-out whole-run factor (``run_train`` applies the shipped one)."""
    if case.full_run and case.metric == "chip_hours":
        return float(value * eff.FULL_RUN_FACTOR.value / fitted.full_run)
    return float(value)


def serve_constants(fitted: Fitted, view: Registry, case: records.ValidationCase) -> tuple[sl.Constants, str]:
    """The serving constants a case is estimated under, and how its chip x stack's prefill efficiency
    was found among ``view``'s calibration runs: ``own`` (fitted on its own, or its evidence chip's),
    ``borrowed from <stack> on <chip>`` (``serve.layout.prefill_source``), ``none`` (1: its own held out,
    none to borrow), or ``reference`` (1: none on file, the pooled fraction the reference stacks fit)."""
    chip = view.chip(case.chip)
    stack = case.stack or sl.default_stack(chip)
    source = sl.prefill_source(chip, stack, attrs.evolve(fitted.serve, evidence=serve_cases.evidence_of(view)))
    if source is None:
        return fitted.serve, "none" if sl.stack_prefill(chip, stack) is not None else "reference"
    at, name, borrowed = source
    return fitted.serve, f"borrowed from {name} on {at.id}" if borrowed else "own"


def residuals(scored: Iterable[Scored]) -> list[ranges.Residual]:
    """Each scored case's residual with the class it was in while held out (kind ``search`` again for the
    searched layouts): what the range widths are fitted on."""
    out = []
    for s in scored:
        time_like = s.case.metric in validate.TIME_METRICS
        out.append(ranges.Residual(s.case.id, ranges.kind_of(s.case), s.evidence,
                                   ranges.residual_of(s.case.published, s.expected, time_like)))  # fmt: skip
        if s.searched is not None:
            out.append(ranges.Residual(s.case.id, "search", s.evidence,
                                       ranges.residual_of(s.case.published, searched_value(s), time_like)))  # fmt: skip
    return out


# The records a held-out fit reads; two registries with equal ones give equal results (the estimators and
# the shipped constants are fixed within a process), so a registry built again finds the last computation.
_TABLES = ("chips", "interconnects", "systems", "workloads", "validation_cases")
_CACHE: list[tuple[tuple[Any, ...], Any]] = []  # (contents, value), the newest last


def _contents(reg: Registry) -> tuple[Any, ...]:
    # a record's origin is not compared, and the refused cases name theirs
    return (*(getattr(reg, name) for name in _TABLES), [c.origin for c in reg.validation_cases.values()])


def _remembered(key: tuple[Any, ...], compute: Any) -> Any:
    """``compute()``, once per ``key`` (the contents of a registry, and what else the value depends on);
    the least recently used goes first (a process seldom holds more than one registry, a test run a few)."""
    for i, (seen, value) in enumerate(_CACHE):
        if seen == key:
            _CACHE.append(_CACHE.pop(i))
            return value
    value = compute()
    del _CACHE[:-15]
    _CACHE.append((key, value))
    return value


def evaluated(reg: Registry) -> tuple[list[Scored], dict[str, float], list[dict[str, str]]]:
    """(every case held out, every case's in-sample estimate, the cases the estimators refuse), computed
    once per registry contents (a full run takes a while; the report, the range refit and each output
    format share it)."""
    return _remembered(("evaluated", *_contents(reg)), lambda: _evaluate(reg))  # type: ignore[no-any-return]


def _evaluate(reg: Registry) -> tuple[list[Scored], dict[str, float], list[dict[str, str]]]:
    refused: list[dict[str, str]] = []  # reported, the rest still run
    known: dict[str, tuple[Any, Any]] = {}
    in_sample: dict[str, float] = {}
    for case in sorted(reg.validation_cases.values(), key=lambda c: (c.role, c.kind, c.id)):
        try:
            got = validate.predict(case, reg)
            if case.kind == "train":
                known[case.id] = (got["run"], validate.run_train(case, reg, training.constants(), True))
        except HwprofError as exc:
            refused.append({"id": case.id, "origin": case.origin, "reason": str(exc), "role": case.role})
            continue
        in_sample[case.id] = got["expected"]
    return [s for s in score(reg, known) if s.case.id in in_sample], in_sample, refused


def run(reg: Registry, role: str | None = None) -> dict[str, Any]:
    """Every case's estimate and error out of sample: leave-one-source-out (``loso``), each case under
    constants fitted without its document, checked against a range fitted on the other documents'
    residuals. The shipped model's own (in-sample) error is reported beside it. Every case is
    estimated; ``role`` picks the rows. Computed once per registry contents and role (a copy each call)."""
    import copy

    return copy.deepcopy(_remembered(("run", role, *_contents(reg)), lambda: _run(reg, role)))


def _run(reg: Registry, role: str | None) -> dict[str, Any]:
    scored, in_sample, refused = evaluated(reg)
    unusable = [{k: v for k, v in u.items() if k != "role"} for u in refused if not role or u["role"] == role]
    found = residuals(scored)
    table = ranges.fit(found)
    by_doc: dict[str, set[str]] = {}
    for s in scored:
        by_doc.setdefault(s.document, set()).add(s.case.id)
    widths = {doc: ranges.fit(r for r in found if r.case not in ids) for doc, ids in by_doc.items()}
    rows: list[dict[str, Any]] = []
    for s in sorted(scored, key=lambda s: (s.case.role, s.case.kind, s.case.id)):
        case = s.case
        if role and case.role != role:
            continue
        kind = ranges.kind_of(case)
        width = widths[s.document][kind, s.evidence]
        band = ranges.band(kind, s.evidence, width, training.extrapolated(s.run.job) if s.run else "")
        got = _loso_span(case, reg, s, band)
        row = {
            "id": case.id, "kind": case.kind, "range_kind": kind, "role": case.role, "metric": case.metric,
            "chip": case.chip, "stack": case.stack or "-", "document": s.document,
            "published": case.published, "estimate": {k: got[k] for k in ("low", "expected", "high")},
            "error": got["expected"] / case.published - 1,
            "in_range": validate.inside(case.published, got), "range_class": s.evidence, "evidence": s.evidence,
            "software_factor": s.factor, "range_cases": width.cases,
            "in_sample_estimate": in_sample[case.id], "in_sample_error": in_sample[case.id] / case.published - 1,
            "source": case.source.title, "note": case.note, "calibrates": list(case.calibrates),
        }  # fmt: skip
        if s.searched is not None:
            wide = widths[s.document]["search", s.evidence]
            searched = searched_value(s)
            spread = _loso_span(case, reg, s, ranges.band("search", s.evidence, wide, training.extrapolated(s.run.job)),
                                searched=True)  # fmt: skip
            row.update({
                "layout": s.run.layout, "layout_fits": s.run.fits, "layout_refused": s.run.refused,
                "published_layout": case.layout,
                "searched_layout": s.searched.layout, "searched_estimate": searched,
                "searched_error": searched / case.published - 1,
                "searched_in_range": validate.inside(case.published, spread),
                # the search's step against the published layout's (same model): above 0 means slower
                "searched_vs_published": validate.slower(case, got["expected"], searched),
            })  # fmt: skip
        rows.append(row)
    summary: dict[str, dict[str, Any]] = {}
    for group in ("calibration", "validation", "all"):
        chosen = [r for r in rows if group in ("all", r["role"])]
        if chosen:
            summary[group] = _summary(chosen)
    return {"cases": rows, "summary": summary, "unusable": unusable, "method": METHOD,
            "fallbacks": sorted({f for s in scored for f in s.fitted.fallbacks}),
            "ranges": [_with_coverage(attrs.asdict(w), rows) for w in table.values()]}  # fmt: skip


METHOD = ("leave-one-source-out: every case estimated with every fitted constant refitted without the cases of "
          "its document (all versions of one table, one run reported twice: one document), and checked against "
          "a range fitted on the other documents' residuals (hwprof.perf.fit.loso)")  # fmt: skip


def _loso_span(case: records.ValidationCase, reg: Registry, s: Any, band: ranges.Band,
               searched: bool = False) -> dict[str, Any]:  # fmt: skip
    """The held-out estimate with its range under ``band``: a training run's from its run, a serving
    estimate's by rerunning its queue at the band's ends under the held-out constants."""
    if s.run is not None:
        run = s.searched if searched else s.run
        value = searched_value(s) if searched else s.expected
        low, high = validate.train_span(case, run, band)
        scale = value / run.value  # a whole run's held-out factor
        return {"low": low * scale, "expected": value, "high": high * scale}
    view = without(reg, s.document)
    k, _how = serve_constants(s.fitted, view, case)
    got = serve_cases.predict(case, view, k, band=band)
    return {**got, "expected": s.expected}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median absolute error and in-range share over ``rows``, overall, by kind, by chip, by stack and by
    document (each a dict of group -> {cases, median_abs_error, in_range_share})."""
    out: dict[str, Any] = {
        "cases": len(rows),
        "train_cases": sum(r["kind"] == "train" for r in rows),
        "serve_cases": sum(r["kind"] == "serve" for r in rows),
        "median_abs_error": statistics.median(abs(r["error"]) for r in rows),
        "in_range_share": sum(r["in_range"] for r in rows) / len(rows),
        "in_sample_median_abs_error": statistics.median(abs(r["in_sample_error"]) for r in rows),
    }
    for kind in ("train", "serve"):  # the share on stacks a calibration run used
        tuned = [r for r in rows if r["kind"] == kind and r["evidence"] != "other"]
        if tuned:
            out[f"{kind}_tuned_stack_cases"] = len(tuned)
            out[f"{kind}_tuned_stack_in_range_share"] = sum(r["in_range"] for r in tuned) / len(tuned)
    trains = [r for r in rows if r["kind"] == "train"]
    if trains:
        out["train_median_abs_error"] = statistics.median(abs(r["error"]) for r in trains)
        out["train_in_range_share"] = sum(r["in_range"] for r in trains) / len(trains)
        out["searched_median_abs_error"] = statistics.median(abs(r["searched_error"]) for r in trains)
        out["searched_in_range_share"] = sum(r["searched_in_range"] for r in trains) / len(trains)
        out["searched_worst_vs_published"] = max(r["searched_vs_published"] for r in trains)
        # experts' layouts are near-optimal on real hardware: a search much faster than them is a model error
        out["searched_median_vs_published"] = statistics.median(r["searched_vs_published"] for r in trains)
        out["searched_best_vs_published"] = min(r["searched_vs_published"] for r in trains)
    serves = [r for r in rows if r["kind"] == "serve"]
    if serves:
        out["serve_median_abs_error"] = statistics.median(abs(r["error"]) for r in serves)
        out["serve_in_range_share"] = sum(r["in_range"] for r in serves) / len(serves)
    for key, name in (("kind", "by_kind"), ("chip", "by_chip"), ("stack", "by_stack"), ("document", "by_document")):
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(f"{r['kind']} {r[key]}" if key != "kind" else r[key], []).append(r)
        out[name] = {g: {"cases": len(rs), "median_abs_error": statistics.median(abs(r["error"]) for r in rs),
                         "in_range_share": sum(r["in_range"] for r in rs) / len(rs)}
                     for g, rs in sorted(groups.items())}  # fmt: skip
    return out


def _with_coverage(width: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A class's width with how many of its held-out cases fell inside the leave-one-out range each was
    checked against (for class other: the range an estimate on its chip shows)."""
    kind = "train" if width["kind"] == "search" else width["kind"]
    inside = "searched_in_range" if width["kind"] == "search" else "in_range"
    mine = [r for r in rows if (r["range_kind"], r["evidence"]) == (kind, width["evidence"])]
    return {**width, "held_out": len(mine), "held_out_inside": sum(r[inside] for r in mine)}


def all_residuals(reg: Registry) -> list[ranges.Residual]:
    """Every case's leave-one-source-out residual with the class it was in while held out, each training
    case again on the layout the search picks (kind ``search``): what the range widths are fitted on."""
    return residuals(evaluated(reg)[0])
