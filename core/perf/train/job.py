"""What stays fixed while layouts vary: the model's numbers, the batch, the chip and its links.

A ``Job`` is built once per (model, cluster, precision) by ``job_for`` and handed, with one layout
or arrays of layouts, to ``memory``, ``step`` and ``layout.rules``. Plain numbers only, so the
formulas run on floats and on numpy arrays alike.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...errors import HwprofError
from .. import comm

LOW_PRECISIONS = frozenset({"fp8", "mxfp8", "int8", "fp6", "mxfp6", "fp4", "mxfp4", "nvfp4", "int4"})


def default_batch_tokens(chips: int) -> int:
    """Tokens per optimizer step when none is given: Llama 3 405B's staged batches, 4M tokens up to
    1,024 chips, 8M up to 4,096, 16M beyond (the paper's 16K-GPU stage)."""
    return (4 if chips <= 1024 else 8 if chips <= 4096 else 16) * 2**20


@attrs.frozen
class Constants:
    """The calibrated constants of the training model (values and sources: ``efficiency``)."""

    matmul_16bit: float  # achieved share of the 16-bit peak by large matmuls
    matmul_8bit: float  # achieved share of the 8-bit peak by large matmuls
    half_width: float  # per-chip matmul width (hidden / tp) at which the share halves
    overlap_slowdown: float = 0.189  # compute slows by this share while collectives run beside it
    expert_overlap: float = 0.0  # share of the expert all-to-all hidden behind compute
    attention_16bit: float = 0.487  # achieved share of the 16-bit peak by fused attention on long sequences
    attention_half_length: float = 305.0  # tokens per chip's sequence chunk at which that share halves
    memory_fraction: float = 0.724  # achieved share of memory bandwidth by memory-bound kernels
    usable_memory: float = 0.9  # of capacity; runtime, fragmentation and buffers take the rest
    # (chip id, software factor) pairs that replace a chip profile's training_efficiency: how the
    # calibration tries values; estimates leave it empty and read the profile.
    chip_factors: tuple[tuple[str, float], ...] = ()


@attrs.frozen
class Job:
    name: str
    params: float
    active_params: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    seq_len: int
    batch_seqs: int  # global batch, in sequences
    chips: int
    domain: int  # chips in the largest scale-up domain (tensor parallel stays inside it)
    memory_bytes: float  # per chip, capacity
    memory_bw: float  # per chip, bytes/s
    peak_matmul: float  # FLOP/s per chip at the run's precision
    peak_16bit: float  # FLOP/s per chip at 16 bits (attention runs there)
    constants: Constants
    tiers: tuple[comm.Tier, ...] = ()
    low_precision: bool = False
    vocab: int = 0
    experts: int = 0
    experts_per_token: int = 0
    expert_params: float = 0.0  # all routed experts' parameters
    moe_layers: int = 0
    cross_domain: bool = False  # allow tensor parallel across scale-up domains
    # Share of the matmul rate this chip's software stack reaches against the reference stacks the
    # constants were fitted on (the chip profile's training_efficiency; 1 when it has none).
    software: float = 1.0
    # Gated-equivalent MLP width per token (active MLP parameters per layer / (3 x hidden)): sizes the
    # activation function's memory traffic; 0 when unknown.
    ffn: float = 0.0
    # Ranks per chip (a chip's cores run as separate devices): the fields above are then per rank --
    # ``chips`` counts ranks; memory, bandwidth, peaks and links are a chip's over this.
    ranks_per_chip: int = 1
    # The chip's own matmul half width per rank (its profile's matmul_half_width); 0: the constants'
    # half width, applied to the per-chip width (``step.chip_width``).
    rank_half_width: float = 0.0
    # False: attention runs unfused, its scores written to and read from memory (``step``).
    fused_attention: bool = True
    # Mixture-of-experts dispatch: True = once per destination node, forwarded inside it (DeepEP,
    # Megatron's flex dispatcher with HybridEP: current recipes, the default); False = once per
    # destination rank (Megatron's plain "alltoall" dispatcher).
    node_dispatch: bool = True
    # The expert all-to-all overlapped with another micro-batch's compute (Megatron's
    # overlap_moe_expert_parallel_comm / moe_a2a_overlap): the calibrated share is hidden;
    # False: all of it is on the critical path. Default True (the tuned large-MoE recipes overlap).
    a2a_overlap: bool = True
    # Forward and backward chunks scheduled in pairs, each one's all-to-all beside the other's compute
    # (DeepSeek's DualPipe, whose report says the all-to-all "can be fully hidden"): the physical
    # overlap of every other collective (``step.exposed``) instead of the calibrated share.
    a2a_paired: bool = False

    @property
    def attention_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def expert_ffn(self) -> float:
        """One routed expert's gated MLP width: its parameters per layer over 3 x hidden."""
        return self.expert_params / (self.moe_layers * self.experts * 3 * self.hidden) if self.experts else 0.0

    @property
    def dense_params(self) -> float:
        """Parameters that are not routed experts."""
        return self.params - self.expert_params

    def flops_per_token(self) -> tuple[float, float]:
        """(matmul, attention) training FLOPs per token, as ``shape.train_flops_per_token``."""
        return 6.0 * self.active_params, 6.0 * self.layers * self.seq_len * self.attention_width


def peak_flops(chip: Any, precision: str) -> float:
    figure = chip.peak_dense_tflops.get(precision)
    if figure is None:
        known = ", ".join(chip.peak_dense_tflops)
        raise HwprofError(f"{chip.id} has no dense {precision} peak; it has {known}")
    return float(figure.value) * 1e12


@attrs.frozen
class Recipe:
    """How the training software runs a job, beyond its layout; the defaults are current tuned
    recipes'. ``ranks_per_chip``: ranks a chip runs (None: its profile's); ``cross_domain``: tensor
    parallel may cross scale-up domains; the rest are ``Job``'s fields of the same names."""

    ranks_per_chip: int | None = None
    cross_domain: bool = False
    fused_attention: bool = True
    node_dispatch: bool = True
    a2a_overlap: bool = True
    a2a_paired: bool = False


TUNED = Recipe()


def job_for(shape: Any, cluster: Any, interconnects: dict[str, Any], precision: str, constants: Constants,
            seq_len: int | None = None, batch_seqs: int | None = None, recipe: Recipe = TUNED) -> Job:  # fmt: skip
    """A Job of ``shape`` (records.Workload) on ``cluster`` (``perf.cluster.Cluster``: its chip, chip
    count, and system or None for bare chips).

    With ``recipe.ranks_per_chip`` r > 1 (default: the chip profile's) the job is one of ranks:
    chips x r of them, each with 1/r of a chip's memory, memory bandwidth, peaks and link
    bandwidth; domains hold r times as many ranks as chips."""
    chip, chips, system = cluster.chip, cluster.chips, cluster.system
    if chips < 1:
        raise HwprofError(f"the chip count must be at least 1, got {chips}")
    seq = seq_len or shape.seq_len
    missing = [n for n in ("layers", "hidden", "heads") if not getattr(shape, n)]
    if missing or not seq:
        what = ", ".join(missing + ([] if seq else ["sequence length"]))
        raise HwprofError(f"a layout needs the model's shape: {shape.id} lacks {what}")
    tiers = comm.tiers_of(system, interconnects, chips, chip)
    if chips > 1 and comm.reach(tiers) < chips:
        if system is None:
            joined = f"its native link joins {comm.reach(tiers)}" if tiers else "it names no native scale-up link"
            raise HwprofError(f"{chips} x {chip.id} given as bare chips: {joined}; name a system for more")
        raise HwprofError(f"{system.id} has no scale-out tier, so {chips} chips cannot be joined; at most "
                          f"{comm.reach(tiers)}")  # fmt: skip
    r = recipe.ranks_per_chip or chip_ranks(chip)
    if r > 1:
        tiers = tuple(comm.Tier(t.domain * r, attrs.evolve(t.link, gb_s_per_direction=t.link.gb_s_per_direction / r))
                      for t in tiers)  # fmt: skip
    domain = max((t.domain for t in tiers if interconnects[t.link.name].tier == "scale-up"), default=r)
    head_dim = shape.head_dim or shape.hidden // shape.heads
    batch = batch_seqs or max(1, default_batch_tokens(chips) // seq)  # the batch follows chips, not ranks
    expert_params, moe_layers = 0.0, 0
    experts, per_token = shape.experts or 0, shape.experts_per_token or 0
    if experts and per_token and shape.params > shape.active and experts > per_token:
        expert_params = (shape.params - shape.active) * experts / (experts - per_token)
        moe_layers = shape.layers
    else:
        experts = per_token = 0
    peak16 = peak_flops(chip, "bf16" if "bf16" in chip.peak_dense_tflops else "fp16")
    return Job(
        name=shape.id, params=shape.params, active_params=shape.active, layers=shape.layers,
        hidden=shape.hidden, heads=shape.heads, kv_heads=shape.kv_heads or shape.heads, head_dim=head_dim,
        seq_len=seq, batch_seqs=batch, chips=chips * r, domain=domain, memory_bytes=chip.memory_bytes / r,
        memory_bw=chip.memory_bandwidth_tbps.value * 1e12 / r, peak_matmul=peak_flops(chip, precision) / r,
        peak_16bit=peak16 / r, constants=constants, tiers=tiers, low_precision=precision in LOW_PRECISIONS,
        vocab=shape.vocab or 0, experts=experts, experts_per_token=per_token, expert_params=expert_params,
        moe_layers=moe_layers, cross_domain=recipe.cross_domain, software=software_factor(chip, constants),
        ffn=ffn_width(shape.active, shape.layers, shape.hidden, shape.heads * head_dim,
                      (shape.kv_heads or shape.heads) * head_dim, shape.vocab or 0), ranks_per_chip=r,
        rank_half_width=own_half_width(chip), fused_attention=recipe.fused_attention,
        node_dispatch=recipe.node_dispatch, a2a_overlap=recipe.a2a_overlap, a2a_paired=recipe.a2a_paired,
    )  # fmt: skip


def chip_ranks(chip: Any) -> int:
    """Ranks a training framework runs on ``chip`` by default (its profile's ranks_per_chip, else 1)."""
    figure = getattr(chip, "ranks_per_chip", None)
    return int(figure.value) if figure is not None else 1


def own_half_width(chip: Any) -> float:
    """The chip's own matmul half width per rank (its profile's matmul_half_width), else 0."""
    figure = getattr(chip, "matmul_half_width", None)
    return float(figure.value) if figure is not None else 0.0


def ffn_width(active: float, layers: int, hidden: int, q_width: int, kv_width: int, vocab: int) -> float:
    """Gated-equivalent MLP width from the parameter count: what is left per layer after the input
    and output embeddings (vocab x hidden each) and attention (hidden x (2 q + 2 kv)), over 3 x hidden
    (a gated MLP's three matrices). A tied embedding counts once too many (under 1% on large models)."""
    per_layer = (active - 2 * vocab * hidden) / layers - hidden * (2 * q_width + 2 * kv_width)
    return max(per_layer, 0.0) / (3 * hidden)


def software_factor(chip: Any, constants: Constants) -> float:
    """The chip's training software factor: a calibration trial's value, else its profile's, else 1."""
    trial = dict(constants.chip_factors).get(chip.id)
    if trial is not None:
        return trial
    figure = getattr(chip, "training_efficiency", None)
    return float(figure.value) if figure is not None else 1.0
