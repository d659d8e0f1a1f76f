"""How much of a chip's peak a workload gets: the calibrated part of every estimate.

Training rests on a model of how a job runs (``core/perf/step.py``): matmuls at an achieved share
of *their own precision's* peak, lower for small per-chip matmuls, plus exposed communication per
interconnect tier, the pipeline bubble and the optimizer step. Its few constants are fitted on the
calibration cases with their published layouts (``core/perf/calibrate.py``); the cases marked
``validation`` in ``hwprof validate`` only measure the error. Serving uses achieved-bandwidth and
achieved-compute fractions and a per-step collective latency, calibrated the same way.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Default:
    value: float
    why: str
    calibrated: bool = True  # False: a judgement, not fitted on published runs


# Calibrated defaults are fitted on the published results whose `calibrates` names them
# (`hwprof validate --role calibration`; rerun the fit with `python -m hwprof.core.perf.calibrate`);
# tests refit each from its cases alone and check the value below within 3%.
# Training (core/perf/step.py): the achieved share of a precision's own peak by large matmuls, the
# per-chip matmul width at which that share halves, the share of expert all-to-all hidden behind
# compute, and whole-run losses.
# The 16-bit share is a measured ceiling, not a fit: the best single BF16 GEMM on the chip of the
# 16-bit calibration runs reaches 794.5 of its 989 TFLOPS (80.3%; 8-bit 1,402.6 of 1,979, 70.9%),
# S. Bekman, ml-engineering, compute/accelerator/README.md, "Maximum Achievable Matmul FLOPS" table
# (mamf-finder.py; reported).
MATMUL_16BIT = Default(0.8, "large 16-bit matmuls reach at most this share of the 16-bit dense peak (the best "
                            "measured BF16 GEMM on the 16-bit calibration runs' chip: 794.5 of 989 TFLOPS, "
                            "ml-engineering MAMF table, reported); a bound, not a fit: those runs all have one "
                            "per-chip matmul width, so they fit the half width below instead", calibrated=False)  # fmt: skip
MATMUL_8BIT = Default(0.6296, "large 8-bit matmuls reach this share of the 8-bit peak (fitted on NeMo Llama 3.1 70B FP8 "
                            "against its BF16 twin, on a chip whose 8-bit peak is 2x its 16-bit one)")  # fmt: skip
MATMUL_HALF_WIDTH = Default(387.4, "per-chip matmul width (the narrower of hidden / tensor parallel and a micro-batch's "
                                   "tokens / context parallel) at which the matmul share halves (fitted on the 16-bit "
                                   "NeMo and Llama 3 runs, with the 16-bit share bounded above)")  # fmt: skip
# Fused attention (forward + backward) on the 16-bit calibration runs' chip, head dim 128, cuDNN (the fused
# kernel Megatron-based stacks call): forward 497 / 574 / 617 / 609 / 600 / 595 TFLOPS and backward 305 / 408 /
# 465 / 499 / 518 / 516 at 512 / 1K / 2K / 4K / 8K / 16K tokens (J. Shah et al., "FlashAttention-3",
# arXiv:2407.08608, 2024, Fig. 5-6; reported). The backward does 2.5x the forward's FLOPs (it recomputes the
# scores) where the model counts 2x, so on the model's 6 units the rate is 6 / (2 / fwd + 5 / bwd): 0.297 of the
# 989 TFLOPS peak at 512 tokens, 0.467 at 8K. Least squares of log(share) against a n / (n + n_half): a = 0.487,
# n_half = 305 tokens (fitted on the kernel measurements, not on training runs).
ATTENTION_16BIT = Default(0.487, "fused attention (forward and backward) reaches at most this share of the 16-bit peak "
                                 "on long sequences (cuDNN bars of the FlashAttention-3 paper, head dim 128, counted as "
                                 "the model counts attention FLOPs; reported)", calibrated=False)  # fmt: skip
ATTENTION_HALF_LENGTH = Default(305.0, "tokens of one chip's sequence chunk (sequence / context parallel) at which fused "
                                       "attention's share halves (the same measurements, 512 to 16K tokens)",
                                calibrated=False)  # fmt: skip
EXPERT_OVERLAP = Default(0.4904, "share of the expert all-to-all hidden behind compute (fitted on NeMo DeepSeek-V3 FP8 "
                                 "on 1,024 chips)")  # fmt: skip
# Compute beside a collective: overlapped compute kernels ran 18.9% slower on average (up to 40%)
# than alone, GPT and Llama training on 4-accelerator servers of two vendors, two generations each
# (S. Lee et al., "Characterizing Compute-Communication Overlap in GPU-Accelerated Distributed Deep
# Learning", arXiv:2507.03114, 2025; reported). Replaces a judged 0.5 "share of one micro-batch that
# hides data-parallel traffic", which no calibration case was sensitive to.
OVERLAP_SLOWDOWN = Default(0.189, "compute slows by this share while a collective runs beside it on the chip (the "
                                  "mean measured on GPT and Llama training, Lee et al. 2025, arXiv:2507.03114; "
                                  "reported): data-parallel traffic hides behind the compute it overlaps at this cost",
                           calibrated=False)  # fmt: skip
FULL_RUN_FACTOR = Default(0.8786, "whole runs (restarts, evaluation, long-context stages) deliver this share of "
                                  "steady state: Llama 3.1 405B's 30.84M GPU-hours against the 41% MFU its paper "
                                  "gives for the same run")  # fmt: skip
SHAPELESS_MFU = Default(0.4, "a model known only by its parameter count has no layout to model: its MFU is taken as "
                              "0.4, about the published steady-state runs' 38-46% (a judgement), with the range of "
                              "chips with no published run of their own", calibrated=False)  # fmt: skip
# Serving (refit with `python -m hwprof.core.perf.serve_cases`; tests/test_serve_calibration.py
# checks each shipped value against its refit within 3%)
MEMORY_BANDWIDTH_FRACTION = Default(0.724, "batch-1 decode of Llama 3.3 70B FP8 at TP2 (a GPU inference service) reads weights and "
                                           "KV cache at about 72% of peak memory bandwidth")  # fmt: skip
PREFILL_COMPUTE_FRACTION = Default(0.549, "one prompt alone (TTFT at one user: Llama 3.3 70B FP8 at TP2 on a "
                                          "GPU inference service) reaches about half of dense peak at wide matmuls (serving "
                                          "multiplies every compute fraction by w / (w + MATMUL_HALF_WIDTH), w = hidden / tp); "
                                          "a chip's own prefill_efficiency scales it where its published runs differ")  # fmt: skip
BATCHED_PREFILL_COMPUTE_FRACTION = Default(0.737, "prompts prefilled under load, mixed into the decode steps of a "
                                                  "full batch (TensorRT-LLM max-throughput 8B, 5000/500), run at "
                                                  "about 73% of peak at wide matmuls")  # fmt: skip
DECODE_COMPUTE_FRACTION = Default(0.5, "large-batch decode matmuls reach about half of peak at wide matmuls (a judgement)",
                                  calibrated=False)  # fmt: skip
COLLECTIVE_LATENCY_US = Default(12.0, "an inference engine's latency per collective step (at least this, whatever "
                                      "the link); fitted on batch-1 decode of 70B at TP 64 ranks on 16 torus-linked chips (2 log2 16 "
                                      "= 8 steps per all-reduce; a switch takes 2 at any size), where all-reduce "
                                      "latency is most of the step")  # fmt: skip

DEFAULTS: dict[str, Default] = {
    "matmul_16bit": MATMUL_16BIT, "matmul_8bit": MATMUL_8BIT, "matmul_half_width": MATMUL_HALF_WIDTH,
    "expert_overlap": EXPERT_OVERLAP, "attention_16bit": ATTENTION_16BIT,
    "attention_half_length": ATTENTION_HALF_LENGTH, "overlap_slowdown": OVERLAP_SLOWDOWN, "full_run_factor": FULL_RUN_FACTOR,
    "shapeless_mfu": SHAPELESS_MFU, "memory_bandwidth_fraction": MEMORY_BANDWIDTH_FRACTION, "prefill_compute_fraction": PREFILL_COMPUTE_FRACTION,
    "batched_prefill_compute_fraction": BATCHED_PREFILL_COMPUTE_FRACTION,
    "decode_compute_fraction": DECODE_COMPUTE_FRACTION, "collective_latency_us": COLLECTIVE_LATENCY_US,
}  # fmt: skip
