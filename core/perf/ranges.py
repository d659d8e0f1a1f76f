"""The range of an estimate: split-conformal intervals from the residuals of published results.

Every estimate prints low, expected and high. The width is not a judgement: it is how far the model
has been from published results it never saw, measured and applied by a stated procedure.

1. **Residuals.** Every published result is estimated with its published layout under constants
   fitted without its document (leave-one-source-out, ``hwprof.perf.fit.loso``: calibration cases too,
   their own document held out). The signed residual is r = log(published time / model's time):
   positive when the real run was slower than the model says. Throughput-like figures (tokens/s, MFU)
   use the inverse, so r always reads "how much slower than the model".
2. **Classes.** Residuals are grouped by kind (``train``; serving in two regimes, ``first`` for first
   tokens and ``serve`` for decode: time per output token and throughput, ``kind_of``) and the evidence
   class the case was in while held out, decided by what its estimate rested on: ``own`` when its chip
   (or the chip whose runs stand for it, ``evidence_from``: same silicon and software) had a calibration run of its
   kind and the shared constants fit it; ``corrected`` when those runs needed a chip factor of their
   own (``training_efficiency``; serving, the chip x stack's ``prefill_efficiency``); ``other`` when its chip had runs but none on
   its software stack (``ValidationCase.stack``); ``borrowed`` when its chip had none (its factor from
   the nearest chip's, ``nearest``, or none).
3. **Quantiles.** At nominal coverage 1 - a (90%), the range is the lower and upper conformal
   quantiles of the class's signed residuals, a/2 in each tail (asymmetric: the model's bias shows):
   with n residuals sorted, low = the floor((n + 1) a/2)-th, high = the ceil((n + 1)(1 - a/2))-th
   (Vovk et al. 2005; Lei et al. 2018, split conformal). Both are finite only from n = 19 on
   (``MIN_CASES``); the range always contains the model's own value (low <= 0 <= high).
4. **Too few cases.** A class with fewer than ``MIN_CASES`` takes the range of all the kind's
   residuals on calibrated stacks (its own among them; for a serving regime, both regimes' results), made ``BORROWED_FACTOR`` times as wide for
   ``borrowed`` and ``other`` (a judgement, stated: that range was not measured on them, and a pooled
   range under-covers a class unlike the pool); an 8-bit peak ratio no calibration chip has widens it
   ``EXTRAPOLATION_FACTOR`` more. ``borrowed`` and ``other`` with enough cases of their own are never
   narrower than that widened pool: their own results (other chips' or stacks' runs, held out) can
   show that an estimate without runs misses by more, never that it misses by less than one with. Widening scales each end's distance from the model in the time
   ratio (``widen``), never the logarithm, which would compound.
5. **Searched layouts.** An estimate whose layout the search picked (``estimate train`` without
   ``--layout``, ``plan train``) is a different prediction: it claims the time a good layout reaches,
   and experts' published layouts are the evidence of what good layouts reach. Its residuals are the
   same results, each estimated on the layout the search picks on its own (kind ``search``), with the
   same classes and quantiles: when the model thinks some layout is much faster than the one experts
   ran, those ranges show it.
6. **Coverage.** ``hwprof validate`` checks each result against the range of its class fitted on the
   other documents' residuals (its own document's left out), so its in-range share is out of sample
   twice over: neither the constants nor the width saw that document.

The widths are data (``range_table.py``, with the cases each rests on), refitted by
``python -m hwprof.perf.fit.ranges_fit --write``; a test checks the shipped table against a refit.
Validation cases set range widths by this procedure only; they never set a model constant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from ..data import records
from . import range_table
from .efficiency import Default

NOMINAL = 0.9
KINDS = ("train", "serve", "first", "search")
# a searched training estimate is judged by training evidence: the same chips, factors and stacks; a first
# token by serving evidence (``first`` is serving's prompt regime, ``serve`` its decode regime: ``kind_of``)
BASE_KIND = {"search": "train", "first": "serve"}
REGIMES = {"serve": ("serve", "first"), "first": ("serve", "first")}  # the kinds one serving estimate spans
CLASSES = ("own", "corrected", "borrowed", "other")
KIND_TEXT = {"train": "training", "serve": "serving", "first": "first-token", "search": "training"}
KIND_TAIL = {"search": " (each estimated on the layout the search picks)"}
CLASS_TEXT = {"own": "on chips with calibration runs of their own",
              "corrected": "on chips whose own calibration runs needed a chip factor",
              "borrowed": "on chips with no calibration run of their own",
              "other": "on software stacks their chip has no calibration run on"}  # fmt: skip
# The chip figure a chip's own calibration runs set when the shared constants do not fit them.
OWN_FACTOR = {"train": "training_efficiency", "serve": "prefill_efficiency", "first": "prefill_efficiency",
              "search": "training_efficiency"}  # fmt: skip
# (serving's is a chip x stack's: ``own_factor``)
BORROWED_FACTOR = Default(2.0, "a class with too few held-out results of its own takes the range of all the kind's "
                               "results times this: that range was not measured on its chips (a judgement)",
                          calibrated=False)  # fmt: skip
EXTRAPOLATION_FACTOR = Default(1.5, "an 8-bit peak ratio to 16-bit other than the calibrated chips' 2x widens the "
                                    "range this many times more (a judgement: no published result measures it)",
                               calibrated=False)  # fmt: skip


def kind_of(case: records.ValidationCase) -> str:
    """The range kind a published result is judged in: serving's first tokens (``first``: a prompt's
    prefill, its queue and the stack's per-request costs) apart from its decode figures (``serve``: time
    per output token, throughput), whose errors differ in size and sign; training as it is."""
    return "first" if case.kind == "serve" and case.metric == "ttft_s" else case.kind


def min_cases(nominal: float = NOMINAL) -> int:
    """The fewest residuals whose two conformal quantiles are finite: ceil((n + 1)(1 - a/2)) <= n."""
    tail = (1 - nominal) / 2
    return math.ceil(1 / tail - 1 - 1e-9)


MIN_CASES = min_cases()


@attrs.frozen
class Residual:
    """One held-out published result: log(published time / model's time)."""

    case: str
    kind: str
    evidence: str
    value: float


@attrs.frozen
class Width:
    """The range of one (kind, evidence) class, in log(published time / model's time)."""

    kind: str
    evidence: str
    low: float
    high: float
    cases: int  # residuals the quantiles were taken over
    own_cases: int  # residuals of this class (fewer than MIN_CASES: the kind's were used)
    factor: float = 1.0  # the judgement factor applied (1 when the class has enough cases)


@attrs.frozen
class Band:
    """The range an estimate carries (JSON: ``range``), and the line that says where it comes from."""

    kind: str
    evidence: str
    nominal: float
    log_low: float  # log(published time / model's time) at the fast end
    log_high: float  # ... at the slow end
    cases: int
    factor: float
    text: str

    @property
    def fast(self) -> float:
        """Every achieved rate times this at the fast end of the range (at least 1)."""
        return math.exp(-self.log_low)

    @property
    def slow(self) -> float:
        """Every achieved rate times this at the slow end of the range (at most 1)."""
        return math.exp(-self.log_high)


POINT = Band("serve", "own", NOMINAL, 0.0, 0.0, 0, 1.0, "no range: the expected value alone (a fit)")


def _rank(x: float) -> float:
    return round(x, 9)  # (n + 1) x a/2 in floating point: 20 x 0.05 must be exactly 1


def quantiles(values: Sequence[float], nominal: float = NOMINAL) -> tuple[float, float] | None:
    """The split-conformal lower and upper quantiles of ``values``; None when n is too small."""
    n, tail = len(values), (1 - nominal) / 2
    lo, hi = math.floor(_rank((n + 1) * tail)), math.ceil(_rank((n + 1) * (1 - tail)))
    if lo < 1 or hi > n:
        return None
    ordered = sorted(values)
    return ordered[lo - 1], ordered[hi - 1]


def fit(residuals: Iterable[Residual], nominal: float = NOMINAL) -> dict[tuple[str, str], Width]:
    """The width of every (kind, evidence) class from ``residuals`` (see the module docstring)."""
    found = list(residuals)
    table = {}
    for kind in KINDS:
        # runs on stacks no calibration run used measure that software, not the model: their own class only;
        # a serving regime too thin for its own quantiles falls back on both regimes' results
        pool = REGIMES.get(kind, (kind,))
        pooled = [r.value for r in found if r.kind in pool and r.evidence != "other"]
        whole = quantiles(pooled, nominal)
        if whole is None:  # too few results of this kind at all: their extremes, or no range
            whole = (min(pooled), max(pooled)) if pooled else (0.0, 0.0)
        for evidence in CLASSES:
            own = [r.value for r in found if r.kind == kind and r.evidence == evidence]
            q = quantiles(own, nominal) if len(own) >= min_cases(nominal) else None
            if q is not None:
                lo, hi, cases, factor = q[0], q[1], len(own), 1.0
            else:  # the pool holds this class's own cases; only chips or stacks with no run were not measured
                factor = BORROWED_FACTOR.value if evidence in ("borrowed", "other") else 1.0
                lo, hi, cases = whole[0], whole[1], len(pooled)
            lo, hi = widen(min(lo, 0.0), max(hi, 0.0), factor)
            if q is not None and evidence in ("borrowed", "other"):  # at least the widened pool
                floor = widen(min(whole[0], 0.0), max(whole[1], 0.0), BORROWED_FACTOR.value)
                lo, hi, factor = min(lo, floor[0]), max(hi, floor[1]), BORROWED_FACTOR.value
                cases = len(pooled) + (len(own) if evidence == "other" else 0)  # the pool holds borrowed's own
            table[kind, evidence] = Width(kind, evidence, lo, hi, cases, len(own), factor)
    return table


def leave_one_out(residuals: Sequence[Residual], case: str, kind: str, evidence: str) -> Width:
    """The width ``case`` would get from every residual but its own (jackknife)."""
    return fit(r for r in residuals if r.case != case)[kind, evidence]


def shipped() -> dict[tuple[str, str], Width]:
    """The committed table (``range_table.WIDTHS``)."""
    return {(kind, evidence): Width(kind, evidence, *values) for (kind, evidence), values in range_table.WIDTHS.items()}


def evidence(kind: str, chip: records.Chip, own_chips: Iterable[str], stack: str = "",
             own_stacks: Iterable[tuple[str, str]] = ()) -> str:  # fmt: skip
    """The evidence class of an estimate of ``kind`` on ``chip`` (``own_chips``: those with a calibration
    run of their own of that kind; a chip's ``evidence_from`` chip's runs count as its own): ``borrowed``
    without one; ``other`` when ``stack`` is given and none of those runs used it (``own_stacks``: the
    (chip, stack) pairs of the calibration runs); else ``corrected`` when the chip's own runs needed a
    factor of their own, ``own`` when not."""
    mine = chips_like(chip)
    if not mine & set(own_chips):
        return "borrowed"
    if stack and not any((c, stack) in set(own_stacks) for c in mine):
        return "other"
    factor = own_factor(kind, chip, stack)
    return "corrected" if factor is not None and factor.status != "estimated" else "own"


def own_factor(kind: str, chip: records.Chip, stack: str = "") -> records.Figure | None:
    """The figure of its own a chip's runs of ``kind`` needed: training, the chip's ``training_efficiency``;
    serving, the prefill efficiency the profile states for the chip x ``stack`` (default: the chip's
    default serving stack): what a stack's prompts reach belongs to the chip x stack, not the chip."""
    if BASE_KIND.get(kind, kind) != "serve":
        return getattr(chip, OWN_FACTOR[kind], None)
    from .serve import layout as sl

    name = stack or sl.default_stack(chip)
    return sl.stack_prefill(chip, name)


def chips_like(chip: records.Chip) -> set[str]:
    """The chip and the chip whose published runs stand for it (same silicon and software)."""
    other = getattr(chip, "evidence_from", None)
    return {chip.id, *([other.value] if other else [])}


def case_evidence(case: records.ValidationCase, chip: records.Chip, cases: Iterable[records.ValidationCase]) -> str:
    """A published result's class among ``cases``: its chip's, ``other`` when its software stack (``stack``)
    is none its chip's calibration runs of its kind used."""
    found = list(cases)
    return evidence(case.kind, chip, own_chips(found, case.kind), case.stack, own_stacks(found, case.kind))


def shown_class(case: records.ValidationCase, chip: records.Chip, cases: Iterable[records.ValidationCase]) -> str:
    """The class of the range an estimate of a published result's job shows on its chip's default stack."""
    return evidence(case.kind, chip, own_chips(cases, case.kind))


def own_chips(cases: Iterable[records.ValidationCase], kind: str) -> frozenset[str]:
    """The chips with a calibration run of their own of ``kind`` among published results."""
    base = BASE_KIND.get(kind, kind)
    return frozenset(c.chip for c in cases if c.kind == base and c.role == "calibration")


def own_stacks(cases: Iterable[records.ValidationCase], kind: str) -> frozenset[tuple[str, str]]:
    """The (chip, stack) pairs of the calibration runs of ``kind`` among published results."""
    base = BASE_KIND.get(kind, kind)
    return frozenset((c.chip, c.stack) for c in cases if c.kind == base and c.role == "calibration" and c.stack)


def band(kind: str, evidence: str, width: Width | None = None, extrapolated: str = "",
         nominal: float = NOMINAL) -> Band:  # fmt: skip
    """The range of an estimate of ``kind`` in ``evidence`` class, from ``width`` or the shipped table;
    ``extrapolated`` names a reason to widen it ``EXTRAPOLATION_FACTOR`` more."""
    # a class the shipped table lacks (before the first refit) has no range until it is refitted
    w = width or shipped().get((kind, evidence)) or Width(kind, evidence, 0.0, 0.0, 0, 0)
    what = f"held-out published {KIND_TEXT[kind]} result{'' if w.cases == 1 else 's'}{KIND_TAIL.get(kind, '')}"
    if w.own_cases >= min_cases(nominal):
        text = f"{nominal:.0%} of the {w.cases} {what} {CLASS_TEXT[evidence]} fell within {_pct(w.low, w.high)}"
    else:
        few = f"only {w.own_cases}" if w.own_cases else "none yet"
        text = (f"{few} {CLASS_TEXT[evidence]} ({min_cases(nominal)} needed): the {nominal:.0%} range "
                f"of all {w.cases} {what}, {_pct(*widen(w.low, w.high, 1 / w.factor))}")  # fmt: skip
        if w.factor != 1:
            text += f", x{w.factor:g} as it was not measured on them (a judgement): {_pct(w.low, w.high)}"
    lo, hi, factor = w.low, w.high, w.factor
    if extrapolated:
        x = EXTRAPOLATION_FACTOR.value
        (lo, hi), factor = widen(lo, hi, x), factor * x
        text += f"; x{x:g} as {extrapolated} (a judgement): {_pct(lo, hi)}"
    text += " of the model's time, on software stacks like the calibration runs' (split conformal, hwprof.perf.ranges)"
    return Band(kind, evidence, nominal, lo, hi, w.cases, factor, text)


def widen(low: float, high: float, factor: float) -> tuple[float, float]:
    """A range ``factor`` times as wide in the time ratio, not in its logarithm: each end's distance from
    the model, e^high - 1 (slower) and e^-low - 1 (faster), times ``factor``. Scaling the logarithm would
    compound: x2 on +1,650% gives +30,000%."""
    return -math.log1p(factor * math.expm1(-low)), math.log1p(factor * math.expm1(high))


def _pct(low: float, high: float) -> str:
    return f"{math.expm1(low):+.0%}..{math.expm1(high):+.0%}"


def time_span(expected: float, b: Band, fastest: float = 0.0) -> tuple[float, float]:
    """(low, high) of a time: the fast end no shorter than ``fastest`` (a physical bound)."""
    return min(max(expected * math.exp(b.log_low), fastest), expected), expected * math.exp(b.log_high)


def rate_span(expected: float, b: Band, highest: float = math.inf) -> tuple[float, float]:
    """(low, high) of a rate (throughput, MFU): the fast end no higher than ``highest``."""
    return expected * math.exp(-b.log_high), max(min(expected * math.exp(-b.log_low), highest), expected)


def widened(low: float | None, expected: float, high: float | None, b: Band, time_like: bool
            ) -> tuple[float | None, float | None]:  # fmt: skip
    """A range found by rerunning a model at the ends of ``b`` (None: unbounded), made at least as wide
    as ``b`` itself, so the stated coverage holds whatever the model does in between."""
    lo, hi = time_span(expected, b) if time_like else rate_span(expected, b)
    return (min(low, lo) if low is not None else None), (max(high, hi) if high is not None else None)


def residual_of(published: float, expected: float, time_like: bool) -> float:
    """log(published time / model's time) of one result."""
    ratio = published / expected
    return math.log(ratio if time_like else 1 / ratio)
