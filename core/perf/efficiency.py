"""How much of a chip's peak a workload gets: the calibrated part of every estimate.

Published runs put 6ND-implied utilisation anywhere from about 15% to 55%. One constant is not an
estimator, so the model has four factors, each a named default with where it came from:

    training MFU = base(precision) x scale(chips) x run(kind)

MFU here is measured against the dense peak *of the precision the run uses* (FP8 runs against
the FP8 peak), with FLOPs counted as ``6N + causal attention`` (``hwprof.core.perf.shape``). The
calibration cases are the ones marked ``calibration`` in ``hwprof validate``; the others are
kept apart to check the model; each calibration case names the default it sets. Serving uses
achieved-bandwidth and achieved-compute fractions and a per-step collective latency, calibrated the
same way.
"""

from __future__ import annotations

import math

import attrs


@attrs.frozen
class Default:
    value: float
    why: str
    calibrated: bool = True  # False: a judgement, not fitted on published runs


# Calibrated defaults are fitted on the published results whose `calibrates` names them
# (`hwprof validate --role calibration`); tests check each has at least one.
BASE_MFU_16BIT = Default(0.52, "steady-state 16-bit runs at 64-576 chips reach 51-56% MFU")
LOW_PRECISION_SPEEDUP = Default(1.45, "8-bit runs reach 1.34-1.53x the 16-bit throughput, not 2x")
SCALE_LOSS_PER_DOUBLING = Default(0.06, "above 1,024 chips, each doubling loses about 6% of MFU (40% at 16,384 chips)")
SCALE_FREE_CHIPS = 1024
FULL_RUN_FACTOR = Default(0.85, "whole runs (restarts, evaluation, long-context stages) deliver about 85-90% of "
                                "steady state")  # fmt: skip
MIXTURE_OF_EXPERTS = Default(0.43, "mixture-of-experts runs reach about 43% of a dense model's MFU: expert all-to-all "
                                   "and small expert matmuls")  # fmt: skip
RANGE = Default(0.2, "MFU of calibration runs spreads about +-20% around the model", calibrated=False)

# Serving (refit with `python -m hwprof.core.perf.serve_cases`; tests/test_serve_calibration.py
# checks each shipped value against its refit within 3%)
MEMORY_BANDWIDTH_FRACTION = Default(0.724, "batch-1 decode of Llama 3.3 70B FP8 at TP2 (a GPU inference service) reads weights and "
                                           "KV cache at about 72% of peak memory bandwidth")  # fmt: skip
PREFILL_COMPUTE_FRACTION = Default(0.508, "one prompt alone (TTFT at one user: Llama 3.3 70B FP8 at TP2 on a "
                                          "GPU inference service) reaches about half of dense peak; a chip's own prefill_efficiency "
                                          "scales it where its published runs differ")  # fmt: skip
BATCHED_PREFILL_COMPUTE_FRACTION = Default(0.681, "prompts prefilled under load, mixed into the decode steps of a "
                                                  "full batch (TensorRT-LLM max-throughput 8B, 5000/500), run at "
                                                  "about 68% of peak")  # fmt: skip
DECODE_COMPUTE_FRACTION = Default(0.5, "large-batch decode matmuls reach about half of peak (a judgement)",
                                  calibrated=False)  # fmt: skip
THIN_EVIDENCE_SPREAD = Default(2.0, "a serving estimate that rests on an estimated figure (a chip figure or the "
                                    "efficiency of a link it crosses, no published measurement) gets this many times "
                                    "the range (a judgement)", calibrated=False)  # fmt: skip
COLLECTIVE_LATENCY_US = Default(12.0, "an inference engine's latency per collective step (at least this, whatever "
                                      "the link); fitted on batch-1 decode of 70B at TP 64 ranks on 16 chips, where all-reduce "
                                      "latency is most of the step")  # fmt: skip

DEFAULTS: dict[str, Default] = {
    "base_mfu_16bit": BASE_MFU_16BIT, "low_precision_speedup": LOW_PRECISION_SPEEDUP,
    "scale_loss_per_doubling": SCALE_LOSS_PER_DOUBLING, "full_run_factor": FULL_RUN_FACTOR,
    "mixture_of_experts": MIXTURE_OF_EXPERTS, "range": RANGE,
    "memory_bandwidth_fraction": MEMORY_BANDWIDTH_FRACTION, "prefill_compute_fraction": PREFILL_COMPUTE_FRACTION,
    "batched_prefill_compute_fraction": BATCHED_PREFILL_COMPUTE_FRACTION,
    "decode_compute_fraction": DECODE_COMPUTE_FRACTION, "collective_latency_us": COLLECTIVE_LATENCY_US,
    "thin_evidence_spread": THIN_EVIDENCE_SPREAD,
}  # fmt: skip

LOW_PRECISIONS = frozenset({"fp8", "mxfp8", "int8", "fp6", "mxfp6", "fp4", "mxfp4", "nvfp4", "int4"})


@attrs.frozen
class Efficiency:
    """The utilisation an estimate used, its range and where each factor came from."""

    expected: float
    low: float
    high: float
    source: str
    factors: dict[str, float]

    def as_json(self) -> dict[str, object]:
        return {"low": self.low, "expected": self.expected, "high": self.high, "source": self.source,
                "factors": self.factors}  # fmt: skip


def training_mfu(
    precision: str,
    chips: int,
    full_run: bool = False,
    override: float | None = None,
    moe: bool = False,
    chip_factor: tuple[float, str] | None = None,
) -> Efficiency:
    """Expected MFU (against the peak of ``precision``) for a training run on ``chips`` chips.

    ``chip_factor`` is a chip profile's ``training_efficiency`` (value, provenance), for chips whose
    software reaches a different share of peak than the reference runs.
    """
    if override is not None:
        return Efficiency(override, override, override, "given with --mfu", {"mfu": override})
    base = BASE_MFU_16BIT.value
    factors = {"base_16bit": base}
    if precision in LOW_PRECISIONS:
        # The same wall-clock gain measured against a peak twice as high.
        factors["low_precision"] = LOW_PRECISION_SPEEDUP.value / 2
    doublings = max(0.0, math.log2(chips / SCALE_FREE_CHIPS)) if chips > 0 else 0.0
    factors["scale"] = max(0.5, 1 - SCALE_LOSS_PER_DOUBLING.value * doublings)
    if full_run:
        factors["full_run"] = FULL_RUN_FACTOR.value
    if moe:
        factors["mixture_of_experts"] = MIXTURE_OF_EXPERTS.value
    if chip_factor is not None:
        factors["chip_software"] = chip_factor[0]
    expected = math.prod(factors.values())
    spread = RANGE.value
    parts = [BASE_MFU_16BIT.why, SCALE_LOSS_PER_DOUBLING.why]
    if "low_precision" in factors:
        parts.append(LOW_PRECISION_SPEEDUP.why)
    if full_run:
        parts.append(FULL_RUN_FACTOR.why)
    if moe:
        parts.append(MIXTURE_OF_EXPERTS.why)
    if chip_factor is not None:
        parts.append(f"this chip's software factor: {chip_factor[1]}")
    return Efficiency(expected, expected * (1 - spread), min(0.95, expected * (1 + spread)),
                      "calibrated model: " + "; ".join(parts), factors)  # fmt: skip
