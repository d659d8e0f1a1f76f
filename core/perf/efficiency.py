"""How much of a chip's peak a workload gets: the calibrated part of every estimate.

Training rests on a model of how a job runs (``core/perf/train/step.py``): matmuls at an achieved share
of *their own precision's* peak, lower for small per-chip matmuls, plus exposed communication per
interconnect tier, the pipeline bubble and the optimizer step. Its few constants are fitted on the
calibration cases with their published layouts (``core/perf/fit/calibrate.py``); the cases marked
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
# (`hwprof validate --role calibration`; rerun the fit with `python -m hwprof.perf.fit.calibrate`);
# tests refit each from its cases alone and check the value below within 3%.
# Training (core/perf/train/step.py): the achieved share of a precision's own peak by large matmuls, the
# share of expert all-to-all hidden behind compute, and whole-run losses (the per-chip matmul width at
# which the matmul share halves is measured on kernels, below).
# The matmul-size curve a x n / (n + n_half) is measured on GEMM kernels, as the attention curve below is,
# not fitted on training runs (the 16-bit calibration runs all have one per-chip width, 2,048, so they
# cannot tell a from n_half). Dense 16-bit GEMMs on the 16-bit calibration runs' chip generation with
# 16,384 / 8,192 / 4,096 rows (b x m: a micro-batch's tokens on a chip; the calibration runs have 4,096 to
# 8,192), the other side 4,096, the narrow side n = 256 / 512 / 1K / 2K / 4K: narrow inner dimension
# 503.9 / 619.9 / 725.5 / 764.6 / 793.1, 464.0 / 607.7 / 693.0 / 763.0 / 807.7, 392.2 / 543.1 / 677.4 /
# 738.7 / 783.3 TFLOPS; narrow output (to 2K) 622.5 / 728.6 / 777.6 / 808.7, 584.2 / 729.7 / 750.6 / 783.2,
# 376.2 / 650.0 / 738.5 / 758.4 TFLOPS (OpenXLA's measured matmul performance table, xla/service/gpu/model/
# matmul_interpolator_data.h, sm_90 entries with m = 4,096 and b = 4 / 2 / 1, bf16; reported). Least
# squares of log(share of the 989.5 TFLOPS peak) against a n / (n + n_half) over the 27 shapes
# (``calibrate.kernel_fit``): a = 0.857, n_half = 185. Fewer rows halve sooner: each row count alone gives
# 123 (16,384 rows), 149 (8,192), 303 (4,096), so the one curve is a compromise over the runs' micro-batches.
# A training layer's matmuls have both kinds (column-parallel outputs, row-parallel inputs, their
# gradients). The narrow side is where bytes per FLOP grow (about 1 / n): the curve is a roofline's.
# The share of large matmuls is then fitted on the 16-bit runs: what training reaches of a wide matmul
# (kernels around it, launch gaps), below the kernels' 0.857.
# Routed experts (grouped GEMMs, one matmul per local expert) use the same curve at their per-expert shape
# (``step.expert_size_factor``): in DeepGEMM's FP8 tables (its README at 55ab91f, 2025-03-25, on the export
# part with the same compute; reported) 8 groups of 4,096 rows run at 1,346 / 1,214 TFLOPS against 1,265 /
# 1,168 for one dense GEMM of 4,096 rows with the same N and K, and 1,024 rows split into groups of 1,024 /
# 512 / 256 fall as this curve predicts (-18% to +14%; the grouped shapes' own fit halves at 143 rows, inside
# the row-count spread above): no constant of their own (tests/test_expert_matmul.py).
GEMM_KERNEL_PEAK_TFLOPS = 989.5
GEMM_KERNEL_TFLOPS: tuple[tuple[float, float], ...] = (
    (256, 503.9), (512, 619.9), (1024, 725.5), (2048, 764.6), (4096, 793.1),  # 16,384 rows, narrow inner
    (256, 622.5), (512, 728.6), (1024, 777.6), (2048, 808.7),  # narrow output
    (256, 464.0), (512, 607.7), (1024, 693.0), (2048, 763.0), (4096, 807.7),  # 8,192 rows
    (256, 584.2), (512, 729.7), (1024, 750.6), (2048, 783.2),
    (256, 392.2), (512, 543.1), (1024, 677.4), (2048, 738.7), (4096, 783.3),  # 4,096 rows
    (256, 376.2), (512, 650.0), (1024, 738.5), (2048, 758.4),
)  # fmt: skip
GEMM_KERNEL_SHARE = 0.857  # a of the kernel fit: the most a wide 16-bit matmul reaches
MATMUL_16BIT = Default(0.6393, "large 16-bit matmuls reach this share of the 16-bit dense peak in training (fitted on the "
                               "16-bit NeMo and Llama 3 runs with the measured half width below; the GEMM kernels "
                               "alone reach 0.857)")  # fmt: skip
MATMUL_8BIT = Default(0.4758, "large 8-bit matmuls reach this share of the 8-bit peak (fitted on NeMo Llama 3.1 70B FP8 "
                            "against its BF16 twin, on a chip whose 8-bit peak is 2x its 16-bit one)")  # fmt: skip
MATMUL_HALF_WIDTH = Default(185.0, "per-chip matmul width (the narrower of hidden / tensor parallel and a micro-batch's "
                                   "tokens / context parallel) at which the matmul share halves (least squares on "
                                   "measured 16-bit GEMM kernels, 256 to 4,096 wide, 4,096 to 16,384 rows; reported), not fitted on "
                                   "training runs", calibrated=False)  # fmt: skip
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
EXPERT_OVERLAP = Default(0.2192, "share of the expert all-to-all hidden behind compute (fitted on NeMo DeepSeek-V3 FP8 "
                                 "on 1,024 chips: node-level dispatch, experts whole on each rank (etp=1), all-to-all "
                                 "overlapped with another micro-batch; runs that do not overlap hide none)")  # fmt: skip
# Compute beside a collective: overlapped compute kernels ran 18.9% slower on average (up to 40%)
# than alone, GPT and Llama training on 4-accelerator servers of two vendors, two generations each
# (S. Lee et al., "Characterizing Compute-Communication Overlap in GPU-Accelerated Distributed Deep
# Learning", arXiv:2507.03114, 2025; reported). Replaces a judged 0.5 "share of one micro-batch that
# hides data-parallel traffic", which no calibration case was sensitive to.
OVERLAP_SLOWDOWN = Default(0.189, "compute slows by this share while a collective runs beside it on the chip (the "
                                  "mean measured on GPT and Llama training, Lee et al. 2025, arXiv:2507.03114; "
                                  "reported): data-parallel traffic hides behind the compute it overlaps at this cost",
                           calibrated=False)  # fmt: skip
# Whole runs: one run's published whole-run cost against its published steady state is the only pair there
# is (Llama 3.1 405B). The same model card gives the 70B and 8B whole runs (7.0M and 1.46M GPU-hours for
# ~15T tokens: 6N x 15T over them is 25.5% and 13.9% MFU, against 33.3% for the 405B's 30.84M), but no
# GPU count or steady-state rate for them, so they cannot be paired: they show that smaller runs lose far
# more of their steady state (or include more than the 405B's figure does), which the estimate says.
FULL_RUN_FACTOR = Default(0.866, "whole runs deliver this share of steady state, covering restarts, evaluation "
                                 "and long-context stages: the median of two whole runs, Llama 3.1 405B's 30.84M "
                                 "GPU-hours against the 41% MFU its paper gives for the same run (0.879) and "
                                 "DeepSeek-V3's 2.664M H800 GPU-hours against the model's steady state on its "
                                 "published layout (0.853); the Llama 3.1 card's 70B and 8B whole runs imply 25.5% "
                                 "and 13.9% MFU over ~15T tokens against the 405B's 33.3%, so smaller runs may cost "
                                 "1.3-2.4x more than this")  # fmt: skip
SHAPELESS_MFU = Default(0.4, "a model known only by its parameter count has no layout to model: its MFU is taken as "
                              "0.4, about the published steady-state runs' 38-46% (a judgement), with the range of "
                              "chips with no published run of their own", calibrated=False)  # fmt: skip
# Serving (refit with `python -m hwprof.perf.serve.cases`; tests/test_serve_calibration.py
# checks each shipped value against its refit within 3%)
MEMORY_BANDWIDTH_FRACTION = Default(0.724, "batch-1 decode of Llama 3.3 70B FP8 at TP2 (a GPU inference service) reads weights and "
                                           "KV cache at about 72% of peak memory bandwidth")  # fmt: skip
PREFILL_COMPUTE_FRACTION = Default(0.5467, "one prompt alone (TTFT at one user: Llama 3.3 70B FP8 at TP2 on a "
                                          "GPU inference service) reaches about half of dense peak at wide matmuls (serving "
                                          "multiplies every compute fraction by w / (w + MATMUL_HALF_WIDTH), w = hidden / tp); "
                                          "a chip's own prefill_efficiency scales it where its published runs differ")  # fmt: skip
BATCHED_PREFILL_COMPUTE_FRACTION = Default(0.7041, "prompts prefilled under load, mixed into the decode steps of a "
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
