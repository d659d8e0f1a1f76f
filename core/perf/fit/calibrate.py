"""Fit the training model's constants on the calibration cases, with their published layouts.

    python -m hwprof.perf.fit.calibrate        # prints each constant, its cases and the fit

Each constant is fitted on the calibration cases that name it (``calibrates``) so that the median
of log(estimate / published) over them is zero, the others held; the constants are refitted in
turn until none moves (a few rounds). Validation cases are never read here. Paste the printed
values into ``efficiency.py`` (tests refit each one and check the shipped value within 3%).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import attrs

from ...data.registry import Registry
from .. import efficiency as eff
from .. import validate
from ..train import training
from ..train.job import Constants

# constant -> (the Constants field, search bracket, the `calibrates` names that select its cases;
# older names the published results still use are accepted). A field "chip:ID" is that chip's
# software factor (its profile's training_efficiency), printed for the profile rather than
# efficiency.py. The matmul half width is not fitted here: every 16-bit calibration run has the same
# per-chip matmul width, so they cannot tell the share of a large matmul from the width at which it
# halves; the width is measured on GEMM kernels (``kernel_fit``, efficiency.MATMUL_HALF_WIDTH) and the
# runs fit the share.
FITTED: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
    "matmul_16bit": ("matmul_16bit", 0.05, 1.0,
                     ("matmul_16bit", "matmul_half_width", "base_mfu_16bit", "scale_loss_per_doubling")),
    "matmul_8bit": ("matmul_8bit", 0.05, 1.0, ("matmul_8bit", "low_precision_speedup")),
    "expert_overlap": ("expert_overlap", 0.0, 0.99, ("expert_overlap", "mixture_of_experts")),
}  # fmt: skip


def kernel_fit(points: tuple[tuple[float, float], ...], peak: float) -> tuple[float, float]:
    """(a, n_half) of the matmul-size curve a x n / (n + n_half) fitted on kernel measurements
    ``(width n, TFLOPS)`` against ``peak`` TFLOPS: least squares of log(share) - log(curve). For a
    given n_half the best log a is the mean of log(share) - log(n / (n + n_half)); n_half by golden
    section over log n_half (the squared error has one minimum there)."""
    logs = [(n, math.log(tflops / peak)) for n, tflops in points]

    def best(half: float) -> tuple[float, float]:
        gaps = [s - math.log(n / (n + half)) for n, s in logs]
        mean = sum(gaps) / len(gaps)
        return sum((g - mean) ** 2 for g in gaps), mean

    low, high = math.log(1.0), math.log(1e5)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(200):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if best(math.exp(left))[0] <= best(math.exp(right))[0]:
            high = right
        else:
            low = left
    half = math.exp((low + high) / 2)
    return math.exp(best(half)[1]), half


def fitted(reg: Registry) -> dict[str, tuple[str, float, float, tuple[str, ...]]]:
    """The constants, and a software factor for every chip a calibration case names as
    ``CHIP.training_efficiency`` (the chips come from the data, not from here)."""
    chips = sorted({name.removesuffix(".training_efficiency") for c in reg.validation_cases.values()
                    if c.role == "calibration" and c.kind == "train" for name in c.calibrates
                    if name.endswith(".training_efficiency")})  # fmt: skip
    return {**FITTED, **{f"{chip}.training_efficiency": (f"chip:{chip}", 0.05, 1.5, (f"{chip}.training_efficiency",))
                         for chip in chips}}  # fmt: skip


def value_of(consts: Constants, field: str) -> float:
    """A fitted field's value in ``consts``: a constant, or a chip's trial software factor."""
    if field.startswith("chip:"):
        return dict(consts.chip_factors)[field.removeprefix("chip:")]
    return float(getattr(consts, field))


def with_value(consts: Constants, field: str, value: float) -> Constants:
    if field.startswith("chip:"):
        chip = field.removeprefix("chip:")
        return attrs.evolve(
            consts, chip_factors=(*((c, v) for c, v in consts.chip_factors if c != chip), (chip, value))
        )
    changed: Constants = attrs.evolve(consts, **{field: value})  # type: ignore[arg-type]
    return changed


def shipped(reg: Registry) -> Constants:
    """The shipped constants, with each fitted chip's factor read from its profile."""
    consts = training.constants()
    for field, *_ in fitted(reg).values():
        if field.startswith("chip:"):
            figure = reg.chip(field.removeprefix("chip:")).training_efficiency
            consts = with_value(consts, field, figure.value if figure else 1.0)
    return consts


FULL_RUN = ("full_run_factor",)


def cases_for(reg: Registry, names: tuple[str, ...]) -> list[Any]:
    return sorted((c for c in reg.validation_cases.values()
                   if c.role == "calibration" and c.kind == "train" and any(_names(n, names) for n in c.calibrates)),
                  key=lambda c: c.id)  # fmt: skip


def _names(name: str, names: tuple[str, ...]) -> bool:
    """Whether a case's ``calibrates`` entry selects a constant (".x" matches any chip's figure x)."""
    return name in names or any(n.startswith(".") and name.endswith(n) for n in names)


def known(name: str) -> bool:
    """Whether a ``calibrates`` entry names a training constant (or an older name for one)."""
    return any(_names(name, names) for *_, names in FITTED.values()) or name in FULL_RUN


def residual(case: Any, reg: Registry, consts: Constants) -> float:
    """log(estimate / published) for a steady-state case (whole-run cases without their factor)."""
    run = validate.run_train(case, reg, consts)
    value = run.value
    if case.full_run and case.metric == "chip_hours":
        value *= eff.FULL_RUN_FACTOR.value  # the step model alone, before the whole-run factor
    return math.log(value / case.published)


def twin(case: Any, reg: Registry) -> Any:
    """The 16-bit run published beside an 8-bit one (same model, chips, layout and source), if any."""
    return next((c for c in reg.validation_cases.values() if c.kind == "train" and c.precision in ("bf16", "fp16")
                 and (c.model, c.chips, c.layout, c.source.key) == (case.model, case.chips, case.layout, case.source.key)),
                None)  # fmt: skip


def twin_residual(case: Any, reg: Registry, consts: Constants) -> float:
    """For an 8-bit case with a 16-bit twin: log of the estimated 8-bit gain over the published gain,
    so the 8-bit share is fitted on the speed-up itself, not on the 16-bit error it would inherit."""
    other = twin(case, reg)
    if other is None:
        return residual(case, reg, consts)
    return residual(case, reg, consts) - residual(other, reg, consts)


def _speed(case: Any, r: float) -> float:
    """Residual as 'estimate too fast' (> 0) whatever the metric's direction."""
    return -r if case.metric == "chip_hours" else r


def fit_one(name: str, reg: Registry, consts: Constants, tolerance: float = 1e-4) -> float:
    """The value of ``name`` that zeroes the median residual of its cases, the other constants held."""
    field, low, high, names = fitted(reg)[name]
    cases = cases_for(reg, names)
    if not cases:
        raise ValueError(f"no calibration case names {name}")

    def too_fast(value: float) -> float:
        trial = with_value(consts, field, value)
        return statistics.median(_speed(c, twin_residual(c, reg, trial) if name == "matmul_8bit" else
                                        residual(c, reg, trial)) for c in cases)  # fmt: skip

    rising = too_fast(high) > too_fast(low)  # does raising the constant make estimates faster?
    for _ in range(60):
        mid = (low + high) / 2
        if (too_fast(mid) > 0) == rising:
            high = mid
        else:
            low = mid
        if high - low <= tolerance * max(abs(mid), 1e-9):
            break
    return (low + high) / 2


def fit_full_run(reg: Registry, consts: Constants) -> float:
    """Whole-run factor: published steady-state throughput against the published whole run.

    A whole-run case (chip-hours of a full run) is paired with the steady-state MFU case of the same
    run (same model, chip and chip count); the factor is the chip-hours the steady MFU implies over
    the published chip-hours, so the model's own error does not leak into it. Without such a twin,
    the model's steady-state estimate stands in for it.
    """
    ratios = []
    for case in cases_for(reg, FULL_RUN):
        twin = next((c for c in reg.validation_cases.values() if c.role == "calibration" and c.metric == "mfu"
                     and (c.model, c.chip, c.chips) == (case.model, case.chip, case.chips)), None)  # fmt: skip
        job, _ = validate.train_job(case, reg, consts)
        if twin is not None:
            matmul, attention = job.flops_per_token()
            steady_s = (case.tokens or 0) * (matmul + attention) / (twin.published * job.peak_matmul * job.chips)
            steady = steady_s / 3600 * case.chips
        else:
            steady = validate.run_train(case, reg, consts).value * eff.FULL_RUN_FACTOR.value
        ratios.append(steady / case.published)
    return float(statistics.median(ratios))


def fit(reg: Registry, rounds: int = 40) -> tuple[Constants, float, float]:
    """(constants, whole-run factor, residual spread) fitted from the shipped values as a start,
    refitting each in turn until none moves by more than 0.1%."""
    consts = shipped(reg)
    entries = fitted(reg)
    for _ in range(rounds):
        before = consts
        for name, (field, *_rest) in entries.items():
            consts = with_value(consts, field, fit_one(name, reg, consts))
        if all(abs(value_of(consts, f) - value_of(before, f)) <= 1e-3 * abs(value_of(before, f)) + 1e-9
               for f, *_ in entries.values()):  # fmt: skip
            break
    full_run = fit_full_run(reg, consts)
    return consts, full_run, spread(reg, consts)


def spread(reg: Registry, consts: Constants, share: float = 0.9) -> float:
    """The ``share`` quantile of |log residual| over the steady-state training calibration cases."""
    found = sorted(abs(residual(c, reg, consts)) for c in reg.validation_cases.values()
                   if c.role == "calibration" and c.kind == "train" and not c.full_run)  # fmt: skip
    index = min(len(found) - 1, math.ceil(share * len(found)) - 1)
    return found[index] if found else 0.0


def main() -> None:
    from ...data import registry

    reg = registry.build(registry.Settings(profile_dirs=()))
    consts, full_run, spread_ = fit(reg)
    for name, (field, *_rest, names) in fitted(reg).items():
        print(f"{name:30s} {value_of(consts, field):.4g}   cases: {', '.join(c.id for c in cases_for(reg, names))}")
    print(f"{'full_run_factor':20s} {full_run:.4g}   cases: {', '.join(c.id for c in cases_for(reg, FULL_RUN))}")
    print(f"{'residual_spread':20s} {spread_:.4g}   (90th percentile of |log residual|, steady-state cases)")
    for case in sorted(reg.validation_cases.values(), key=lambda c: c.id):
        if case.role == "calibration" and case.kind == "train":
            print(f"  {case.id:34s} {math.expm1(residual(case, reg, consts)):+.3f}")


if __name__ == "__main__":
    main()
