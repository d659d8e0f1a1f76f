"""The range of an estimate: split-conformal intervals from the residuals of published results.

Every estimate prints low, expected and high. The width is not a judgement: it is how far the model
has been from published results it never saw, measured and applied by a stated procedure.

1. **Residuals.** For every held-out published result (a ``validation`` case, run with its published
   layout) the signed residual is r = log(published time / model's time): positive when the real
   run was slower than the model says. Throughput-like figures (tokens/s, MFU) use the inverse, so
   r always reads "how much slower than the model". Calibration cases are left out: the constants
   were fitted on them, so their residuals are in-sample (zero by construction for serving) and
   would make the range too narrow.
2. **Classes.** Residuals are grouped by kind (``train`` / ``serve``) and evidence class, decided by
   what the chip's efficiency rests on: ``own`` when it has a calibration run of its own of that
   kind and the shared constants fit it; ``corrected`` when its own runs needed a chip factor of
   their own (``training_efficiency``, ``prefill_efficiency``: the shared physics did not describe
   its software, so its other runs are less predictable); ``borrowed`` when it has no calibration
   run of its own (its efficiency comes from other chips' runs).
3. **Quantiles.** At nominal coverage 1 - a (90%), the range is the lower and upper conformal
   quantiles of the class's signed residuals, a/2 in each tail (asymmetric: the model's bias shows):
   with n residuals sorted, low = the floor((n + 1) a/2)-th, high = the ceil((n + 1)(1 - a/2))-th
   (Vovk et al. 2005; Lei et al. 2018, split conformal). Both are finite only from n = 19 on
   (``MIN_CASES``); the range always contains the model's own value (low <= 0 <= high).
4. **Too few cases.** A class with fewer than ``MIN_CASES`` takes the range of all the kind's
   residuals (its own among them), made ``BORROWED_FACTOR`` times as wide for ``borrowed`` chips (a
   judgement, stated: that range was not measured on them, and a pooled range under-covers a class
   unlike the pool); an 8-bit peak ratio no
   calibration chip has widens it ``EXTRAPOLATION_FACTOR`` more. Widening scales each end's distance
   from the model in the time ratio (``widen``), never the logarithm, which would compound.
5. **Searched layouts.** An estimate whose layout the search picked (``estimate train`` without
   ``--layout``, ``plan train``) is a different prediction: it claims the time a good layout reaches,
   and experts' published layouts are the evidence of what good layouts reach. Its residuals are the
   same held-out training results, each estimated on the layout the search picks on its own
   (kind ``search``), with the same classes and quantiles: when the model thinks some layout is much
   faster than the one experts ran, those ranges show it.
6. **Other software.** A published result on a software stack (``ValidationCase.stack``) that no
   calibration run of its kind used is class ``other``: it measures that software more than the
   model. Its class's spread is printed, but it sets no range an estimate shows: an estimate is of
   a job on a tuned stack of the kind the model was calibrated on, and says so. It is estimated,
   listed and checked like every case, against the range an estimate of its job shows (its chip's
   class, ``shown_class``): that is the range a user would have read for it. (Checked against its
   own class instead, a class of one or two results gives a range of the other's single residual,
   which no case can fall in by design, and a larger one a range no user ever sees.)

The widths are data (``range_table.py``, with the cases each rests on), refitted by
``python -m hwprof.perf.fit.ranges_fit --write``; a test checks the shipped table against a refit.
``hwprof validate`` checks each case against a range fitted without it (leave-one-out), so its
in-range share is an honest out-of-sample figure. Validation cases set range widths by this
procedure only; they never set a model constant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from hwprof.data import records
from hwprof.perf import range_table
from hwprof.perf.efficiency import Default

NOMINAL = 0.9
KINDS = ("train", "serve", "search")
# a searched training estimate is judged by training evidence: the same chips, factors and stacks
BASE_KIND = {"search": "train"}
CLASSES = ("own", "corrected", "borrowed", "other")
KIND_TEXT = {"train": "training", "serve": "serving", "search": "training"}
KIND_TAIL = {"search": " (each estimated on the layout the search picks)"}
CLASS_TEXT = {"own": "on chips with calibration runs of their own",
              "corrected": "on chips whose own calibration runs needed a chip factor",
              "borrowed": "on chips with no calibration run of their own",
              "other": "on software stacks with no calibration run (reported; they set no range an estimate shows)"}  # fmt: skip
# The chip figure a chip's own calibration runs set when the shared constants do not fit them.
OWN_FACTOR = {"train": "training_efficiency", "serve": "prefill_efficiency", "search": "training_efficiency"}
BORROWED_FACTOR = Default(2.0, "a class with too few held-out results of its own takes the range of all the kind's "
                               "results times this: that range was not measured on its chips (a judgement)",
                          calibrated=False)  # fmt: skip
EXTRAPOLATION_FACTOR = Default(1.5, "an 8-bit peak ratio to 16-bit other than the calibrated chips' 2x widens the "
                                    "range this many times more (a judgement: no published result measures it)",
                               calibrated=False)  # fmt: skip


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
        # runs on stacks no calibration run used measure that software, not the model: their own class only
        pooled = [r.value for r in found if r.kind == kind and r.evidence != "other"]
        whole = quantiles(pooled, nominal)
        if whole is None:  # too few results of this kind at all: their extremes, or no range
            whole = (min(pooled), max(pooled)) if pooled else (0.0, 0.0)
        for evidence in CLASSES:
            own = [r.value for r in found if r.kind == kind and r.evidence == evidence]
            q = quantiles(own, nominal) if len(own) >= min_cases(nominal) else None
            if q is not None:
                lo, hi, cases, factor = q[0], q[1], len(own), 1.0
            elif evidence == "other":  # too few to take quantiles of: their extremes, shown, never applied
                lo, hi, cases, factor = min(own, default=0.0), max(own, default=0.0), len(own), 1.0
            else:  # the pool holds this class's own cases; only chips with no run of their own were not measured
                factor = BORROWED_FACTOR.value if evidence == "borrowed" else 1.0
                lo, hi, cases = whole[0], whole[1], len(pooled)
            lo, hi = widen(min(lo, 0.0), max(hi, 0.0), factor)
            table[kind, evidence] = Width(kind, evidence, lo, hi, cases, len(own), factor)
    return table


def leave_one_out(residuals: Sequence[Residual], case: str, kind: str, evidence: str) -> Width:
    """The width ``case`` would get from every residual but its own (jackknife)."""
    return fit(r for r in residuals if r.case != case)[kind, evidence]


def shipped() -> dict[tuple[str, str], Width]:
    """The committed table (``range_table.WIDTHS``)."""
    return {(kind, evidence): Width(kind, evidence, *values) for (kind, evidence), values in range_table.WIDTHS.items()}


def evidence(kind: str, chip: records.Chip, own_chips: Iterable[str]) -> str:
    """The evidence class of an estimate of ``kind`` on ``chip`` (``own_chips``: those with a
    calibration run of their own of that kind)."""
    if chip.id not in set(own_chips):
        return "borrowed"
    factor = getattr(chip, OWN_FACTOR[kind], None)
    return "corrected" if factor is not None and factor.status != "estimated" else "own"


def case_evidence(case: records.ValidationCase, chip: records.Chip, cases: Iterable[records.ValidationCase]) -> str:
    """A published result's class: ``other`` when its software stack (``stack``) is none a calibration
    run of its kind used, else the class an estimate on its chip gets."""
    found = list(cases)
    stacks = {c.stack for c in found if c.kind == case.kind and c.role == "calibration" and c.stack}
    if case.stack and case.stack not in stacks:
        return "other"
    return shown_class(case, chip, found)


def shown_class(case: records.ValidationCase, chip: records.Chip, cases: Iterable[records.ValidationCase]) -> str:
    """The class of the range an estimate of a published result's job shows: its chip's, whatever its
    stack (an estimate knows no stack; class other sets no width)."""
    return evidence(case.kind, chip, own_chips(cases, case.kind))


def own_chips(cases: Iterable[records.ValidationCase], kind: str) -> frozenset[str]:
    """The chips with a calibration run of their own of ``kind`` among published results."""
    base = BASE_KIND.get(kind, kind)
    return frozenset(c.chip for c in cases if c.kind == base and c.role == "calibration")


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
        text = (f"only {w.own_cases} {CLASS_TEXT[evidence]} ({min_cases(nominal)} needed): the {nominal:.0%} range "
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
