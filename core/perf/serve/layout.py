"""A serving layout and what it costs one replica: ``tp=8,pp=1,dp=4,ep=1`` (tensor parallel, pipeline
stages, data-parallel replicas, expert parallel; ``adp=1`` for attention data parallel), the weight
and KV-cache precisions, and the chunked-prefill budget. Checks refuse a layout with the rule it
breaks (heads, layers, experts, memory, context); ``replica`` turns a valid one into the numbers
the step formulas in ``decode_step`` and ``prompt_time`` use.

Formulas (per chip of a replica of ``n = tp x pp`` chips):
- weights: ``params x bytes(weights) / n``; with ``adp=1`` the attention weights are whole on
  every tensor rank (``+ attention x (1 - 1/tp) / pp``).
- KV cache per token: ``2 x layers x kv_heads x head_dim x bytes(kv) / pp / min(tp, kv_heads)``:
  past ``kv_heads`` ranks the heads are copied, not split. A latent cache (MLA) is the same on
  every tensor rank (``/ pp`` only) unless attention is data parallel (``/ (tp x pp)``).
- MoE experts read in a decode step over ``b`` tokens: each of ``E`` experts is missed by all
  with probability ``(1 - k/E)^b``, so the expert bytes read are ``experts x (1 - (1 - k/E)^b)``;
  at ``b = 1`` that is exactly the active parameters.
- Pipeline: ``pp`` micro-batches of ``B / pp`` sequences are in flight, so a decode step of ``B``
  sequences takes ``pp x`` one stage's work on ``B / pp``; one sequence alone gains nothing.
- Attention data parallel: a prompt's attention side (projections and scores) runs on its own rank
  and an iteration lasts as long as its slowest rank, so the other ranks wait for it; ``adp=2``
  (balanced scheduling) starts prompts on every rank together, so under load they share the chips.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...data import records
from ...errors import HwprofError
from .. import comm
from .. import efficiency as eff
from ..arith import SCALAR
from ..cluster import USABLE_MEMORY_FRACTION, Cluster
from ..train.job import chip_ranks, own_half_width
from .shape import attention_params, expert_numbers, width_share

KV_PRECISIONS = ("bf16", "fp16", "fp8")
ACTIVATION_BYTES = 2  # collectives move 16-bit activations
_KEYS = ("tp", "pp", "dp", "ep", "adp", "prefill")


@attrs.frozen
class ServeLayout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    adp: int = 0  # attention data parallel over the tensor ranks (MoE serving); 2: prompts balanced over the ranks
    prefill: int = 0  # of the dp replicas, how many only prefill (disaggregated serving); 0: all do both
    weights: str = "bf16"
    kv_cache: str = "bf16"
    chunk_tokens: int = 8192  # prompt tokens per iteration (chunked prefill budget)

    @property
    def replica_chips(self) -> int:
        return self.tp * self.pp

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp

    def __str__(self) -> str:
        text = f"tp={self.tp},pp={self.pp},dp={self.dp}"
        text += (f",ep={self.ep}" if self.ep > 1 else "") + (f",adp={self.adp}" if self.adp else "")
        return text + (f",prefill={self.prefill}" if self.prefill else "")


def parse(text: str, chips: int, weights: str = "bf16", kv_cache: str = "bf16", dp: int | None = None
          ) -> ServeLayout:  # fmt: skip
    """``tp=2,pp=1,dp=4`` to a layout; ``dp`` defaults to ``dp``, else to what the chip count leaves."""
    if not text.replace(",", "").strip():  # asked for but left blank: not the default layout
        raise HwprofError("the layout is empty: give key=value pairs (e.g. tp=8,pp=1,dp=2), or none for the default")
    values: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, eq, value = (x.strip().lower() for x in part.partition("="))
        if not eq or key not in _KEYS or not value.isdigit():
            raise HwprofError(f"layout {text!r}: {part!r} is not one of {', '.join(_KEYS)} = a whole number "
                              "(e.g. tp=8,pp=1,dp=2)")  # fmt: skip
        values[key] = int(value)
    if any(values.get(k, 1) < 1 for k in ("tp", "pp", "dp", "ep")) or values.get("adp", 0) not in (0, 1, 2):
        raise HwprofError(f"layout {text!r}: tp, pp, dp and ep are at least 1; adp is 0, 1 or 2 (balanced)")
    per_replica = values.get("tp", 1) * values.get("pp", 1)
    if "dp" not in values and dp is not None:
        values["dp"] = dp
    elif "dp" not in values:
        if chips % per_replica:
            raise HwprofError(f"layout {text!r}: tp x pp = {per_replica} does not divide {chips} chips")
        values["dp"] = chips // per_replica
    return ServeLayout(**values, weights=weights, kv_cache=kv_cache)


def default_layout(cluster: Cluster, weights: str = "bf16", kv_cache: str = "bf16", heads: int | None = None
                   ) -> ServeLayout:  # fmt: skip
    """Without --layout: tensor parallel over one scale-up domain (the widest that divides the chips
    and the heads), replicas over the rest; collectives then never leave the fast link."""
    domain = cluster.scale_up_domain if cluster.scale_up is not None else cluster.chips
    tp = max(t for t in range(1, min(cluster.chips, domain) + 1)
             if cluster.chips % t == 0 and (not heads or heads % t == 0))  # fmt: skip
    return ServeLayout(tp=tp, dp=cluster.chips // tp, weights=weights, kv_cache=kv_cache)


def compute_precision(chip: records.Chip, weights: str) -> str:
    """Matmuls run in the weights' precision where the chip has a peak for it; weight-only formats
    (a chip that lists them under ``weight_only``) are widened to 16-bit for the matmul."""
    if weights in chip.peak_dense_tflops:
        return weights
    if weights in _weight_only(chip) or weights in ("bf16", "fp16"):
        return "bf16" if "bf16" in chip.peak_dense_tflops else next(iter(chip.peak_dense_tflops))
    known = sorted({*(p for p in chip.peak_dense_tflops if p in records.BYTES_PER_ELEMENT), *_weight_only(chip)})
    raise HwprofError(f"weights in {weights}: {chip.id} has no {weights} matmuls and lists no {weights} weight-only "
                      f"kernels; it takes {', '.join(known)}")  # fmt: skip


def _weight_only(chip: records.Chip) -> tuple[str, ...]:
    return tuple(p.strip() for p in chip.weight_only.value.split(",")) if chip.weight_only else ()


def weight_precisions(chip: records.Chip, wanted: tuple[str, ...] = ("bf16", "fp8", "int4", "fp4")) -> list[str]:
    """The weight precisions of ``wanted`` the chip runs: its own matmul precisions and its weight-only ones."""
    runs = {p for p in chip.peak_dense_tflops if p in records.BYTES_PER_ELEMENT} | set(_weight_only(chip))
    return [p for p in wanted if p in runs]


def check(shape: records.Workload, cluster: Cluster, lay: ServeLayout, input_tokens: int, output_tokens: int) -> None:
    """Refuse a layout or request that cannot run, naming the rule (heads, layers, experts, context)."""
    for name, value in (("prompt tokens", input_tokens), ("output tokens", output_tokens)):
        if value < 1:
            raise HwprofError(f"{name} must be at least 1, got {value}")
    if shape.max_context and input_tokens + output_tokens > shape.max_context:
        raise HwprofError(f"a prompt of {input_tokens:,} tokens plus {output_tokens:,} generated exceeds "
                          f"{shape.id}'s maximum context of {shape.max_context:,} tokens")  # fmt: skip
    if shape.heads and shape.heads % lay.tp:
        raise HwprofError(f"layout {lay}: {shape.heads} attention heads do not split over tp={lay.tp}")
    kv = shape.kv_heads
    if kv and lay.tp > kv and lay.tp % kv:
        raise HwprofError(f"layout {lay}: {kv} key/value heads neither split over nor copy evenly to tp={lay.tp}")
    if shape.layers and shape.layers % lay.pp:
        raise HwprofError(f"layout {lay}: {shape.layers} layers do not split into pp={lay.pp} equal stages")
    if lay.ep > 1:
        if not shape.experts:
            raise HwprofError(f"layout {lay}: ep needs a mixture-of-experts model; {shape.id} is dense")
        if shape.experts % lay.ep or lay.replica_chips % lay.ep:
            raise HwprofError(f"layout {lay}: ep={lay.ep} must divide the {shape.experts} experts and the "
                              f"{lay.replica_chips} chips of a replica")  # fmt: skip
    if lay.chips != cluster.chips:
        raise HwprofError(f"layout {lay}: tp x pp x dp = {lay.chips} chips, but the hardware has {cluster.chips}")
    if lay.prefill and lay.prefill >= lay.dp:
        raise HwprofError(f"layout {lay}: prefill={lay.prefill} leaves no decode replica of the {lay.dp}")
    if lay.adp and lay.tp == 1:
        raise HwprofError(f"layout {lay}: attention data parallel (adp=1) needs tp > 1")
    if lay.kv_cache not in KV_PRECISIONS or (lay.kv_cache == "fp8" and "fp8" not in cluster.chip.peak_dense_tflops):
        raise HwprofError(f"KV cache in {lay.kv_cache}: use bf16 or fp16, or fp8 on a chip with fp8")
    compute_precision(cluster.chip, lay.weights)
    if lay.replica_chips > comm.reach(cluster.tiers):
        raise HwprofError(f"layout {lay}: no interconnect known here joins {lay.replica_chips} {cluster.chip.id} chips "
                          f"(the links reach {comm.reach(cluster.tiers)}); name a system with a scale-out tier")  # fmt: skip


@attrs.frozen
class Constants:
    """The serving model's fitted constants (``efficiency``); ``serve_calibrate`` refits them."""

    memory_bandwidth_fraction: float = eff.MEMORY_BANDWIDTH_FRACTION.value
    prefill_compute_fraction: float = eff.PREFILL_COMPUTE_FRACTION.value
    batched_prefill_compute_fraction: float = eff.BATCHED_PREFILL_COMPUTE_FRACTION.value
    decode_compute_fraction: float = eff.DECODE_COMPUTE_FRACTION.value
    collective_latency_us: float = eff.COLLECTIVE_LATENCY_US.value
    prefill_efficiency: float | None = None  # overrides every stack's (calibration only)
    # "<chip>.<stack>.prefill_efficiency" -> value: a refit's stack prefill efficiencies, used instead of the
    # profiles'; None: the profiles' (a refit that names none leaves every chip x stack without one of its own)
    prefill: tuple[tuple[str, float], ...] | None = None
    matmul_half_width: float = eff.MATMUL_HALF_WIDTH.value  # training's fit, shared (not refitted here)
    # "<chip>.<stack>.step_floor_us" / ".request_floor_us" -> value: a refit's stack floors, used instead of the
    # chip profiles' (a chip x stack the fit does not name keeps its profile's)
    floors: tuple[tuple[str, float], ...] = ()
    # which chip x stacks have calibration runs, and every chip (``stack_of`` borrows floors through them);
    # None: no borrowing, each chip x stack as its profile describes it
    evidence: StackEvidence | None = attrs.field(default=None, eq=False)


@attrs.frozen(eq=False)
class StackEvidence:
    """What borrowing a stack's floors reads (``stack_of``): every chip by id, and the (chip, stack)
    pairs a serving calibration run ran on (``ranges.own_stacks``)."""

    chips: dict[str, records.Chip]
    measured: frozenset[tuple[str, str]]


SHIPPED = Constants()


@attrs.frozen
class StackServing:
    """A serving stack on one chip, as numbers (``stack_of``): fixed time per layer of every forward
    step and once per request, whether prompts run inside the decode steps, and the compiled
    prompt and batch sizes a prompt or a step is padded up to. The default adds nothing."""

    name: str = ""
    step_floor_us: float = 0.0  # per layer, every forward step
    request_floor_us: float = 0.0  # per layer, once per request (its first token)
    step_host_us: float = 0.0  # per forward step, whatever the depth
    request_host_us: float = 0.0  # per request, whatever the depth
    chunked_prefill: bool = True
    prompt_buckets: tuple[int, ...] = ()
    batch_buckets: tuple[int, ...] = ()
    collective_latency_us: float | None = None  # the stack's own latency per collective step (else the pooled one)
    moe_block_tokens: float = 0.0  # a MoE prompt's expert matmuls in blocks of this many tokens (0: none)
    moe_all_experts: float = 0.0  # decode runs all experts once batch x k / E reaches this (0: never)
    # decode attention reads each key/value head once per query head that shares it (a kernel that does not
    # group them: TensorRT-LLM before its GQA rewrite), not once per step
    kv_read_per_query_head: bool = False
    floors_from: str = ""  # "<stack> on <chip>" whose runs the floors come from, where not this chip x stack's own
    borrowed: bool = False  # the floors come from another chip or stack (not an evidence_from chip's same stack)
    prefill_efficiency: float = 1.0  # share of the pooled prompt compute fraction its graphs reach (``prefill_source``)
    prefill_from: str = ""  # "<stack> on <chip>" whose prefill efficiency it takes, where not its own


NO_STACK = StackServing()


def stack_of(chip: records.Chip, name: str | None = None, k: Constants = SHIPPED) -> StackServing:
    """The chip's serving stack ``name`` (default: the chip's default serving stack, else its only
    one). Its floors are its own where a calibration run measured them (or its profile states them and
    no refit replaced them); else, given ``k.evidence``, borrowed from the nearest chip x stack with
    evidence (``floor_source``); else none. Where that source is another stack (the same runtime's), its
    host floors are left out and taken from this stack on the nearest chip with runs (``_front_end``),
    else none. Prompt scheduling and buckets are the chip's own entry's, else the source's. Its prefill
    efficiency is found the same way on its own (``prefill_source``). A stack described nowhere adds nothing."""
    stacks = chip.serving_stacks
    name = default_stack(chip) if name is None else name
    entry = stacks.get(name)
    source = floor_source(chip, name, k)
    if source is not None:
        src_chip, src_name, borrowed = source
    elif entry is not None:
        src_chip, src_name, borrowed = chip, name, False  # no evidence anywhere: its profile's (a refit's 0)
    else:
        return StackServing(name=name, **_prefill(chip, name, k))
    src = src_chip.serving_stacks[src_name]
    plan = entry or src
    refit = dict(k.floors)

    def floor(key: str, at: records.Chip = src_chip, stack: str = src_name) -> float:
        figure = getattr(at.serving_stacks[stack], key)
        return refit.get(f"{at.id}.{stack}.{key}", figure.value if figure else 0.0)

    own = (src_chip.id, src_name) == (chip.id, name)
    # The host floors are the serving front-end's (its scheduler, sampler, server): another front-end on
    # the same runtime shares the graphs, launches and collectives, not those; the same front-end on the
    # nearest chip runs the same host code, so they come from there.
    front = src_chip if src_name == name else _front_end(chip, name, k)
    host = (0.0, 0.0) if front is None else (floor("step_host_us", front, name), floor("request_host_us", front, name))
    where = "" if own else f"{src_name} on {src_chip.id}"
    if front is not None and front is not src_chip:
        where += f" (host floors: {name} on {front.id})"
    return StackServing(name=name, step_floor_us=floor("step_floor_us"), request_floor_us=floor("request_floor_us"),
                        step_host_us=host[0], request_host_us=host[1],
                        collective_latency_us=floor("collective_latency_us") or None,
                        chunked_prefill=plan.chunked_prefill, prompt_buckets=tuple(sorted(plan.prompt_buckets)),
                        batch_buckets=tuple(sorted(plan.batch_buckets)),
                        moe_block_tokens=plan.moe_block_tokens.value if plan.moe_block_tokens else 0.0,
                        moe_all_experts=plan.moe_all_experts.value if plan.moe_all_experts else 0.0,
                        floors_from=where, borrowed=borrowed, **_prefill(chip, name, k))  # fmt: skip


STACK_FLOORS = ("collective_latency_us", "step_floor_us", "step_host_us", "request_floor_us", "request_host_us")


def floor_source(chip: records.Chip, name: str, k: Constants = SHIPPED) -> tuple[records.Chip, str, bool] | None:
    """(chip, stack, borrowed) whose floors an estimate of ``name`` on ``chip`` takes, or None where no
    chip x stack in reach has evidence. Nearest first, by what sets the costs: a stack's floors are its
    host loop, graph launches and collectives on its runtime (the library that builds and runs the
    model's graphs, ``ServingStack.runtime``), so
    1. this chip x stack (or its ``evidence_from`` chip's: the same silicon and software, not borrowed);
    2. this chip's other stacks on the same runtime (the same graphs, launches and collectives on the same
       chip; not their host floors, which are their front-end's: ``stack_of`` takes those from this
       stack on the nearest chip, ``_front_end``);
    3. each ``nearest`` chip in order: the same stack, then its stacks on the same runtime.
    Evidence: a serving calibration run on that chip x stack (``k.evidence.measured``), or floors its
    profile states that no refit replaced. Without ``k.evidence``, only step 1 on the chip itself."""

    def has(at: records.Chip, stack: str) -> bool:
        return stack in at.serving_stacks and _has_floors(at, stack, k)

    return _nearest_with(chip, name, k, has)


def _nearest_with(chip: records.Chip, name: str, k: Constants, has: Any) -> tuple[records.Chip, str, bool] | None:
    """The first (chip, stack, borrowed) in ``floor_source``'s order for which ``has(chip, stack)``."""
    entry = chip.serving_stacks.get(name)
    if k.evidence is None:
        return (chip, name, False) if has(chip, name) else None
    chips = k.evidence.chips
    like = [chip, *(chips[c] for c in _evidence_chips(chip) if c in chips)]
    runtime = entry.runtime if entry is not None else _runtime_of(name, [*like, *_nearest(chip, chips)])
    for other in like:
        if has(other, name):
            return other, name, False
    for other in [like[0], *_nearest(chip, chips)]:
        same = [name] if other is not chip else []
        same += sorted(s for s, e in other.serving_stacks.items() if runtime and e.runtime == runtime and s != name)
        for stack in same:
            if has(other, stack):
                return other, stack, True
    return None


def prefill_source(chip: records.Chip, name: str, k: Constants = SHIPPED) -> tuple[records.Chip, str, bool] | None:
    """(chip, stack, borrowed) whose prefill efficiency an estimate of ``name`` on ``chip`` takes, or None
    (then 1: the pooled prompt compute fraction). What a prompt reaches is its runtime's compiled graphs
    and kernels, so it is borrowed exactly as the per-layer floors are (``floor_source``): this chip x
    stack's (or its ``evidence_from`` chip's), this chip's stacks on the same runtime, then each
    ``nearest`` chip's same stack and its stacks on that runtime. A chip x stack has one of its own where
    a refit fitted it on its calibration runs (``k.prefill``), else (no refit) where its profile states
    one (``stack_prefill``)."""
    return _nearest_with(chip, name, k, lambda at, stack: _has_prefill(at, stack, k))


def default_stack(chip: records.Chip) -> str:
    """The chip's default serving stack: its profile's ``serving_stack``, else its only described one, else ""."""
    default = getattr(chip, "serving_stack", None)  # a sourced fact in the chip's profile
    stacks = chip.serving_stacks
    return (default.value if default else "") or (next(iter(stacks)) if len(stacks) == 1 else "")


def stack_prefill(chip: records.Chip, name: str) -> records.Figure | None:
    """The prefill efficiency ``chip``'s profile states for stack ``name``: the stack's own, else (a profile
    written when it was a chip figure) the chip's ``prefill_efficiency``, read as its default stack's."""
    entry = chip.serving_stacks.get(name)
    if entry is not None and entry.prefill_efficiency is not None:
        return entry.prefill_efficiency
    legacy = getattr(chip, "prefill_efficiency", None)
    return legacy if legacy is not None and name == default_stack(chip) else None


def prefill_name(chip: records.Chip, name: str) -> str:
    """A chip x stack's prefill efficiency as calibration cases name it: ``<chip>.<stack>.prefill_efficiency``."""
    return f"{chip.id}.{name}.prefill_efficiency"


def _has_prefill(chip: records.Chip, name: str, k: Constants) -> bool:
    if k.prefill is not None:
        return prefill_name(chip, name) in dict(k.prefill)
    return stack_prefill(chip, name) is not None


def _prefill(chip: records.Chip, name: str, k: Constants) -> dict[str, Any]:
    """``StackServing``'s prefill efficiency and where it comes from (``prefill_source``)."""
    source = prefill_source(chip, name, k)
    if source is None:
        return {}
    at, stack, _borrowed = source
    figure = stack_prefill(at, stack)
    value = dict(k.prefill or ())[prefill_name(at, stack)] if k.prefill is not None else figure.value  # type: ignore[union-attr]
    own = (at.id, stack) == (chip.id, name)
    return {"prefill_efficiency": value, "prefill_from": "" if own else f"{stack} on {at.id}"}


def _front_end(chip: records.Chip, name: str, k: Constants) -> records.Chip | None:
    """The nearest chip (its ``evidence_from`` chip, then its ``nearest``) whose stack ``name`` has
    floors of its own: where a stack borrowing another stack's graph floors takes its front-end's host floors."""
    if k.evidence is None:
        return None
    chips = k.evidence.chips
    for other in [*(chips[c] for c in _evidence_chips(chip) if c in chips), *_nearest(chip, chips)]:
        if name in other.serving_stacks and _has_floors(other, name, k):
            return other
    return None


def _has_floors(chip: records.Chip, name: str, k: Constants) -> bool:
    """A chip x stack has floors of its own where a calibration run measured it, or (no refit naming
    them) where its profile states one."""
    if k.evidence is not None and (chip.id, name) in k.evidence.measured:
        return True
    entry = chip.serving_stacks[name]
    refit = dict(k.floors)
    return any(getattr(entry, f) is not None and f"{chip.id}.{name}.{f}" not in refit for f in STACK_FLOORS)


def _evidence_chips(chip: records.Chip) -> list[str]:
    found = getattr(chip, "evidence_from", None)
    return [found.value] if found else []


def _nearest(chip: records.Chip, chips: dict[str, records.Chip]) -> list[records.Chip]:
    return [chips[c] for c in (getattr(chip, "nearest", ()) or ()) if c in chips]


def _runtime_of(name: str, chips: list[records.Chip]) -> str:
    """The runtime a stack a chip does not describe runs on, as the nearest chip describing it says."""
    return next((c.serving_stacks[name].runtime for c in chips if name in c.serving_stacks), "")


def padded(value: Any, buckets: tuple[int, ...], xp: Any = SCALAR) -> Any:
    """``value`` padded up to the smallest of ``buckets`` (ascending) that holds it; past the largest,
    or with none, ``value`` itself."""
    out = value
    for bucket in reversed(buckets):
        out = xp.where(value <= bucket, float(bucket), out)
    return out


def tiers(cluster: Cluster, k: Constants = SHIPPED, stack: StackServing = NO_STACK) -> tuple[comm.Tier, ...]:
    """The cluster's network tiers as a decode collective sees them: an inference engine's latency
    per collective step is at least the calibrated floor (the stack's own where its cases give one),
    whatever the link's own."""
    floor = stack.collective_latency_us or k.collective_latency_us
    return tuple(attrs.evolve(t, link=attrs.evolve(t.link, latency_us=max(t.link.latency_us, floor)))
                 for t in cluster.tiers)  # fmt: skip


def link_name(cluster: Cluster, ranks: int) -> str:
    """The outermost tier a group of ``ranks`` neighbouring chips crosses."""
    if ranks <= 1:
        return "none (one chip)"
    for tier in cluster.tiers:
        if ranks <= tier.domain:
            return str(tier.link.name)
    return "none"


def estimated_figures(cluster: Cluster, lay: ServeLayout) -> list[str]:
    """The figures an estimate of ``lay`` rests on whose status is 'estimated' (or that a link lacks)."""
    chip = cluster.chip
    figures = {"peak": chip.peak_dense_tflops.get(compute_precision(chip, lay.weights)),
               "memory bandwidth": chip.memory_bandwidth_tbps, "memory": chip.memory,
               "prefill efficiency": stack_prefill(chip, default_stack(chip))}  # fmt: skip
    out = [f"{chip.id} {name}" for name, f in figures.items() if f is not None and f.status == "estimated"]
    reach = 1
    for tier in cluster.tiers:
        if reach >= lay.replica_chips:
            break
        out.extend(f"{tier.link.name} {part.split()[0]}" for part in tier.link.basis.split(", ")
                   if "estimated" in part or "assumed" in part)  # fmt: skip
        reach = tier.domain
    return out


def scaled(r: Replica, factor: float) -> Replica:
    """Every achieved rate (memory, compute, links) times ``factor``: the ends of a range."""
    return attrs.evolve(r, hbm_bytes_per_s=r.hbm_bytes_per_s * factor, decode_flops_per_s=r.decode_flops_per_s * factor,
                        attention_flops_per_s=r.attention_flops_per_s * factor,
                        prefill_flops_per_s=r.prefill_flops_per_s * factor,
                        batched_prefill_flops_per_s=r.batched_prefill_flops_per_s * factor,
                        comm_fixed_s=r.comm_fixed_s / factor, comm_per_token_s=r.comm_per_token_s / factor,
                        floor_s=r.floor_s / factor, request_s=r.request_s / factor)  # fmt: skip


def handoff_s(tokens: Any, r: Replica, tiers: tuple[comm.Tier, ...]) -> Any:
    """Moving one prompt's KV cache from a prefill replica to a decode replica: each chip sends its
    share over the outermost link (the two may sit in different systems)."""
    return tokens * r.kv_per_token(tokens) / (tiers[-1].link.bytes_per_s if tiers else 1e30)


@attrs.frozen
class Replica:
    """One replica's numbers (floats here; numpy arrays in the search): what the step formulas use."""

    chips: Any
    pp: Any
    weights_bytes_per_chip: Any
    expert_share: Any  # share of the weights in routed experts
    expert_pick: Any  # k / E: chance a token uses a given routed expert
    kv_bytes_per_token_per_chip: Any
    usable_bytes_per_chip: Any
    hbm_bytes_per_s: Any  # achieved, per chip
    decode_flops_per_s: Any  # achieved, per chip
    attention_flops_per_s: Any  # achieved, per chip, by attention (16-bit)
    prefill_flops_per_s: Any  # achieved, per chip, one prompt alone
    batched_prefill_flops_per_s: Any  # achieved, per chip, prompts under load
    comm_fixed_s: Any  # collective latency per decode step
    comm_per_token_s: Any  # collective bytes per sequence in a stage micro-batch, per step
    peak_tflops: Any
    adp: Any = 0  # attention data parallel: 1 (prompts wait for their rank), 2 (balanced)
    floor_s: Any = 0.0  # the stack's fixed time per forward step (all layers)
    request_s: Any = 0.0  # the stack's fixed time per request
    chunked_prefill: bool = True
    prompt_buckets: tuple[int, ...] = ()
    batch_buckets: tuple[int, ...] = ()
    expert_flops_per_token: Any = 0.0  # a token's matmul FLOPs in routed experts (2 x k / E of their weights)
    expert_width: Any = 0.0  # one expert's MLP columns on a chip (its width / etp)
    dense_width_share: Any = 1.0  # the dense matmuls' size factor the achieved rates carry
    half_width: Any = 185.0  # the size curve's half width
    experts: Any = 0.0  # routed experts E (0: dense)
    kv_window: Any = 0.0  # sliding-window layers' window in tokens (0: none)
    kv_local_share: Any = 0.0  # share of the cache per token in sliding-window layers
    moe_block_tokens: Any = 0.0  # the stack's blockwise expert matmul block (0: none), ``StackServing``
    moe_all_experts: Any = 0.0  # the stack's all-experts decode threshold on batch x k / E (0: never)
    kv_reads: Any = 1.0  # times each decode step reads its KV cache (query heads per KV head where not grouped)

    def max_batch(self, context_tokens: Any, xp: Any = SCALAR) -> Any:
        """Sequences of ``context_tokens`` whose KV cache fits beside the weights (0 if none)."""
        room = xp.maximum(self.usable_bytes_per_chip - self.weights_bytes_per_chip, 0.0)
        return xp.floor(room / xp.maximum(self.kv_per_token(context_tokens, xp) * context_tokens, 1e-30))

    def kv_per_token(self, context_tokens: Any, xp: Any = SCALAR) -> Any:
        """KV-cache bytes per token per chip of a sequence of ``context_tokens``: its sliding-window
        layers keep only their last ``kv_window`` tokens (``Workload.kv_elements_per_token``)."""
        if not self.kv_window:
            return self.kv_bytes_per_token_per_chip
        kept = xp.minimum(1.0, self.kv_window / xp.maximum(context_tokens, 1e-9))
        return self.kv_bytes_per_token_per_chip * (1 - self.kv_local_share + self.kv_local_share * kept)


def micro_batch(batch: Any, pp: Any, xp: Any = SCALAR) -> Any:
    return xp.maximum(batch / pp, xp.minimum(batch, 1.0))


@attrs.frozen
class Step:
    """One decode step's costs, linear in the stage micro-batch ``b`` (floats, or arrays in the search):
    the weight matmuls read ``weights_s x touched(b)`` and compute ``compute_s x b``; attention reads
    the KV cache ``kv_s x b`` and computes ``attention_s x b``; collectives ``comm_fixed_s + comm_s x
    b``; each already multiplied by the ``pp`` stages a step passes through. Matmuls and attention
    are separate kernels, one after the other: each takes the longer of its reads and its FLOPs."""

    pp: Any
    weights_s: Any
    expert_share: Any
    expert_miss: Any  # 1 - k / E
    kv_s: Any
    compute_s: Any
    comm_fixed_s: Any
    comm_s: Any
    attention_s: Any = 0.0
    floor_s: Any = 0.0  # the stack's fixed time per forward step
    batch_buckets: tuple[int, ...] = ()
    all_experts_at: Any = float("inf")  # batch from which every expert runs on every token (the stack's switch)
    expert_extra_s: Any = 0.0  # per token: the unpicked experts' FLOPs, run when every expert runs


def step_of(r: Replica, context: Any, flops_per_token: Any, attention_flops: Any = 0.0) -> Step:
    """``flops_per_token``: the weight matmuls' (2 x active parameters); ``attention_flops``: one
    token's attention over its ``context`` (``decode_attention_flops``). A stack that runs every
    expert on every token from a batch on (``moe_all_experts``: batch x k / E at least that) reads
    all expert weights and adds the unpicked experts' FLOPs, E / k - 1 times the picked ones'; below
    that batch it loads each token's k experts in turn (batch x k expert reads, repeats included)."""
    switch, extra = float("inf"), 0.0
    if r.moe_all_experts and r.expert_pick:
        switch = r.moe_all_experts / r.expert_pick
        extra = r.pp * r.expert_flops_per_token * (1 / r.expert_pick - 1) / (r.chips * r.decode_flops_per_s)
    return Step(all_experts_at=switch, expert_extra_s=extra, pp=r.pp, weights_s=r.pp * r.weights_bytes_per_chip / r.hbm_bytes_per_s, expert_share=r.expert_share,
                expert_miss=1 - r.expert_pick, kv_s=r.pp * context * r.kv_per_token(context) * r.kv_reads / r.hbm_bytes_per_s,
                compute_s=r.pp * flops_per_token / (r.chips * r.decode_flops_per_s), comm_fixed_s=r.comm_fixed_s,
                comm_s=r.comm_per_token_s,
                attention_s=r.pp * attention_flops / (r.chips * r.attention_flops_per_s), floor_s=r.floor_s,
                batch_buckets=r.batch_buckets)  # fmt: skip


def decode_parts(s: Step, batch: Any, xp: Any = SCALAR) -> tuple[Any, Any, Any]:
    """(memory, compute, communication) seconds of one decode step over ``batch`` sequences: the
    time of the kernels their reads bind, of those their FLOPs bind, and of the collectives. A stack
    with compiled batch sizes runs the step at the next one up."""
    b = micro_batch(padded(batch, s.batch_buckets, xp), s.pp, xp)
    if isinstance(s.expert_share, float) and s.expert_share == 0.0:
        weights = s.weights_s  # a dense model reads all its weights whatever the batch
    else:
        weights = s.weights_s * (1 - s.expert_share * s.expert_miss**b)
    matmul, kv, attention = s.compute_s * b, s.kv_s * b, s.attention_s * b
    if s.all_experts_at != float("inf"):  # every expert on every token: all weights read, all experts' FLOPs
        every = b >= s.all_experts_at
        # Below the switch each token loads its own k experts (selective loading, one token at a time):
        # b x k expert reads, a pick shared by two tokens read twice.
        each = s.weights_s * (1 - s.expert_share * (1 - b * (1 - s.expert_miss)))
        weights = xp.where(every, s.weights_s, each)
        matmul = matmul + xp.where(every, s.expert_extra_s * b, 0.0)
    memory = xp.where(weights >= matmul, weights, 0.0) + xp.where(kv >= attention, kv, 0.0)
    compute = xp.where(weights >= matmul, 0.0, matmul) + xp.where(kv >= attention, 0.0, attention)
    return memory, compute, s.comm_fixed_s + s.comm_s * b


def decode_step(s: Step, batch: Any, xp: Any = SCALAR) -> Any:
    memory, compute, comm_s = decode_parts(s, batch, xp)
    return memory + compute + comm_s + s.floor_s


def prompt_time(
    r: Replica,
    tokens: Any,
    prompt_flops: Any,
    chunks: Any,
    xp: Any = SCALAR,
    batched: bool = False,
    attention_flops: Any = 0.0,
    pack: Any = 1,
) -> tuple[Any, Any]:
    """(compute or weight reads, communication and fixed costs) of one prompt of ``tokens`` alone
    (or, ``batched``, the replica time it takes under load). Chunks pipeline through the stages, so
    pp stages give ``chunks / (chunks + pp - 1)`` of their compute to it; each chunk reads the weights
    once, runs the step's collectives on its tokens and is a forward step (the stack's step floor);
    alone, the prompt also pays the stack's request floor once. Under load a stack that runs prompts
    inside the decode steps shares their floor; one that does not runs each chunk as a step of its
    own. Under attention data parallel the prompt's ``attention_flops`` (its share of
    ``prompt_flops``) run on one rank while the others wait: alone, and under load unless prompts are
    balanced over the ranks (``adp=2``). Under load ``pack`` prompts share an iteration, so its
    routed experts see ``pack`` times the rows."""
    chips = r.chips * chunks / (chunks + r.pp - 1)
    rate = r.batched_prefill_flops_per_s if batched else r.prefill_flops_per_s
    own_rank = (r.adp == 1) if batched else (r.adp > 0)
    side = xp.where(own_rank, chips / r.chips, chips)  # chips the attention side runs on
    matmuls = prompt_flops - attention_flops
    # Routed experts: a chunk's tokens x k / E rows reach one expert; its narrow side (those rows or
    # its width per chip) sets its rate on the size curve, in place of the dense matmuls' (``expert_gemm_share``).
    chunk = tokens / chunks * (pack if batched else 1)
    provisioned, rows = expert_blocks(r, chunk, xp)
    experts = tokens * r.expert_flops_per_token
    slower = provisioned * r.dense_width_share / expert_gemm_share(r, chunk, xp, rows)
    compute = (matmuls - experts + experts * slower) / (chips * rate) + attention_flops / (side * rate)
    if batched:  # under load the weights are read once per step for the decodes and prompts together
        return compute, r.comm_per_token_s * tokens + (0.0 if r.chunked_prefill else chunks * r.floor_s)
    reads = chunks * r.weights_bytes_per_chip / r.hbm_bytes_per_s
    fixed = chunks * (r.comm_fixed_s + r.floor_s) + r.request_s
    return xp.maximum(compute, reads), fixed + r.comm_per_token_s * tokens


def expert_blocks(r: Replica, chunk_tokens: Any, xp: Any = SCALAR) -> tuple[Any, Any]:
    """(expert FLOPs run / expert FLOPs the routing needs, rows of one expert matmul, or None) of a
    prompt chunk on a stack with blockwise expert matmuls (``moe_block_tokens`` B): ``ceil(t k / B)
    + E - 1`` blocks of B rows are computed whatever the routing (the dropless worst case), so
    ``(ceil(t k / B) + E - 1) B / (t k)`` of the needed FLOPs, in matmuls of B rows; under one block of
    token-expert pairs (``t k < B``) every expert runs on every token: E / k of them, in matmuls of t
    rows. (1, None) elsewhere: each expert computes its own tokens."""
    if not (r.moe_block_tokens and r.experts):
        return 1.0, None
    block, pick = r.moe_block_tokens, r.expert_pick
    pairs = xp.maximum(chunk_tokens * pick * r.experts, 1e-9)
    few = pairs < block
    blocks = (xp.ceil(pairs / block) + r.experts - 1) * block / pairs
    return xp.where(few, 1 / pick, blocks), xp.where(few, chunk_tokens, float(block))


def expert_gemm_share(r: Replica, chunk_tokens: Any, xp: Any = SCALAR, rows: Any = None) -> Any:
    """Share of a large matmul's rate one routed expert's matmul reaches in a chunk of ``chunk_tokens``:
    ``n / (n + half width)`` with n the narrower of its rows (tokens x k / E: each expert sees its
    share of the chunk's tokens, gathered from every rank) and its width per chip (training's
    ``step.expert_size_factor``, the same curve). 1 for a dense model."""
    rows = chunk_tokens * r.expert_pick if rows is None else rows
    n = xp.maximum(xp.minimum(rows, r.expert_width), 1e-9)
    return xp.where(r.expert_flops_per_token > 0, n / (n + r.half_width), r.dense_width_share)


def replica_of(shape: records.Workload, chip: records.Chip, tiers: tuple[comm.Tier, ...], tp: Any, pp: Any, weight_bytes: Any,
               kv_bytes: Any, peak: Any, k: Constants = SHIPPED, xp: Any = SCALAR, ep: Any = 1, adp: int = 0,
               stack: StackServing = NO_STACK) -> Replica:  # fmt: skip
    """The numbers of one replica (floats), or of arrays of them (numpy ``xp``, the search): ``tp``,
    ``pp``, bytes per weight and per cached element, and the matmul peak in TFLOPS. Expert and
    attention data parallelism: ``ep`` (an array of tp in the search), ``adp`` (0, 1 or 2). Its
    parts: what each chip holds (``_held``), the routed experts' matmuls (``_expert_matmuls``), the
    share of peak its matmuls' width reaches (``_width``), its collectives (``_collectives``). The
    serving ``stack``'s floors are per layer (a forward step passes every layer once) plus the
    host's per step and per request."""
    weights, kv = _held(shape, tp, pp, weight_bytes, kv_bytes, xp, adp)
    local = min(shape.sliding_layers or 0, shape.layers or 0) if shape.sliding_window else 0
    share, pick = expert_numbers(shape)
    expert_flops, expert_width = _expert_matmuls(shape, share, pick, tp, xp, ep, adp)
    own = k.prefill_efficiency or stack.prefill_efficiency  # the stack's graphs (``prefill_source``)
    own_half, narrow = _width(shape, chip, tp, k)
    layers = shape.layers or 0
    fixed, per_token = _collectives(shape, tiers, tp, pp, xp, ep, adp)
    return Replica(
        chips=tp * pp, pp=pp, weights_bytes_per_chip=weights, expert_share=share, expert_pick=pick,
        kv_bytes_per_token_per_chip=kv, usable_bytes_per_chip=chip.memory_bytes * USABLE_MEMORY_FRACTION,
        hbm_bytes_per_s=chip.memory_bandwidth_tbps.value * 1e12 * k.memory_bandwidth_fraction,
        decode_flops_per_s=peak * 1e12 * k.decode_compute_fraction * narrow,
        attention_flops_per_s=_peak16(chip, peak) * 1e12 * k.decode_compute_fraction,
        prefill_flops_per_s=peak * 1e12 * k.prefill_compute_fraction * own * narrow,
        batched_prefill_flops_per_s=peak * 1e12 * k.batched_prefill_compute_fraction * own * narrow,
        comm_fixed_s=fixed, comm_per_token_s=per_token, peak_tflops=peak, adp=adp,
        floor_s=(stack.step_floor_us * layers + stack.step_host_us) * 1e-6,
        request_s=(stack.request_floor_us * layers + stack.request_host_us) * 1e-6,
        chunked_prefill=stack.chunked_prefill, prompt_buckets=stack.prompt_buckets, batch_buckets=stack.batch_buckets,
        expert_flops_per_token=expert_flops, expert_width=expert_width, dense_width_share=narrow,
        half_width=own_half or k.matmul_half_width, experts=float(shape.experts or 0) if share else 0.0,
        moe_block_tokens=stack.moe_block_tokens, moe_all_experts=stack.moe_all_experts,
        kv_window=float(shape.sliding_window or 0) if local else 0.0, kv_local_share=local / layers if layers else 0.0,
        kv_reads=_kv_reads(shape, tp, xp, adp) if stack.kv_read_per_query_head else 1.0,
    )  # fmt: skip


def _kv_reads(shape: records.Workload, tp: Any, xp: Any, adp: int) -> Any:
    """Times a decode step reads a chip's KV cache when every query head reads its key/value head
    on its own: the query heads on the chip per KV head it holds, ``(heads / tp) / (kv_heads /
    min(tp, kv_heads))`` (all heads on every rank under attention data parallel); 1 without grouped heads."""
    if not (shape.heads and shape.kv_heads):
        return 1.0
    if adp:
        return shape.heads / shape.kv_heads
    return shape.heads * xp.minimum(tp, shape.kv_heads) / (tp * shape.kv_heads)


def _held(shape: records.Workload, tp: Any, pp: Any, weight_bytes: Any, kv_bytes: Any, xp: Any,
          adp: int) -> tuple[Any, Any]:  # fmt: skip
    """What each chip holds: its share of the weights (with attention data parallel, every rank keeps
    its stage's attention whole), and the bytes of one token's KV cache, split over the stages and
    over as many tensor ranks as there are KV heads to split."""
    weights = shape.params * weight_bytes / (tp * pp)
    if adp:
        weights = weights + attention_params(shape) * weight_bytes * (1 - 1 / tp) / pp
    if adp:
        split: Any = tp  # each rank holds its own sequences whole
    elif shape.kv_heads:
        split = xp.minimum(tp, shape.kv_heads)  # past kv_heads ranks the heads are copied
    elif shape.kv_elements_per_layer:
        split = 1  # a latent cache is needed whole by every head
    else:
        split = tp
    kv = (shape.kv_elements_per_token() or 0.0) * kv_bytes / pp / split  # a full cache; ``kv_per_token`` windows it
    return weights, kv


def _expert_matmuls(shape: records.Workload, share: float, pick: float, tp: Any, xp: Any, ep: Any,
                    adp: int) -> tuple[Any, Any]:  # fmt: skip
    """A token's FLOPs in the routed experts and the width of one expert's matmul on a rank."""
    # Routed experts' matmuls run one per local expert (a grouped GEMM) at their own shape: the expert's
    # MLP width over its expert tensor-parallel ranks (etp = tp / ep), and as many rows as tokens reach
    # one expert (prompt_time). A token's FLOPs in them: 2 x k / E of the expert weights.
    expert_flops = 2 * share * shape.params * pick
    etp = xp.maximum(tp / xp.maximum(ep, 1), 1.0) if not adp else xp.maximum(tp / xp.maximum(ep, tp), 1.0)
    return expert_flops, (shape.ffn_hidden or shape.hidden or 0) / etp


def _width(shape: records.Workload, chip: records.Chip, tp: Any, k: Constants) -> tuple[float, Any]:
    """(the chip's own half width or 0, the share of peak the dense matmuls reach at their width)."""
    # Each chip computes hidden / tp columns of every matmul: narrower is slower, as in training. A
    # chip with a half width of its own counts it per rank (tp chips run tp x its ranks per chip).
    own_half = own_half_width(chip)
    width = (shape.hidden or 0) / (tp * chip_ranks(chip) if own_half else tp)
    return own_half, width_share(width, own_half or k.matmul_half_width) if shape.hidden else 1.0


def _collectives(shape: records.Workload, tiers: tuple[comm.Tier, ...], tp: Any, pp: Any, xp: Any, ep: Any,
                 adp: int) -> tuple[Any, Any]:  # fmt: skip
    """A forward step's collectives: (seconds whatever the batch, seconds per token in it)."""
    hidden_bytes = (shape.hidden or 0) * ACTIVATION_BYTES
    layers = shape.layers or 0
    ranks = 1 if adp else tp
    # Per step, each stage runs 2 all-reduces per layer on its pp micro-batches (2 x layers in all),
    # plus pp sends to the next stage (tp chips away). Attention data parallel replaces them by the
    # experts' dispatch and combine all-to-all (2 per layer). With attention over the tensor ranks
    # every rank already holds every token: each applies its own experts (ep) or expert slices (etp)
    # and the layer's all-reduce sums them, so expert parallel adds no collective there.
    empty = comm.tiered_all_reduce(0.0, ranks, 1, tiers, xp)
    fixed = 2 * layers * empty
    per_token = 2 * layers * (comm.tiered_all_reduce(hidden_bytes, ranks, 1, tiers, xp) - empty)
    hop0 = comm.tiered_p2p(0.0, tp, tiers, xp)
    staged = pp > 1
    fixed = fixed + xp.where(staged, pp * hop0, 0.0)
    per_token = per_token + xp.where(staged, pp * (comm.tiered_p2p(hidden_bytes, tp, tiers, xp) - hop0), 0.0)
    if adp:
        group = xp.maximum(ep, tp)
        # Each token goes to its k experts; with attention data parallel each rank sends only its own
        # tokens (1 / tp of the batch), the ranks at once.
        size = hidden_bytes * (shape.experts_per_token or 1) / tp
        none = comm.tiered_all_to_all(0.0, group, 1, tiers, xp)
        fixed = fixed + 2 * layers * none
        per_token = per_token + 2 * layers * (comm.tiered_all_to_all(size, group, 1, tiers, xp) - none)
    return fixed, per_token


def _peak16(chip: records.Chip, peak: Any) -> Any:
    """The chip's 16-bit dense peak (attention runs at 16 bits), else the matmul one."""
    for name in ("bf16", "fp16"):
        if name in chip.peak_dense_tflops:
            return chip.peak_dense_tflops[name].value
    return peak


def replica(shape: records.Workload, cluster: Cluster, lay: ServeLayout, k: Constants = SHIPPED,
            stack: StackServing = NO_STACK) -> Replica:  # fmt: skip
    """The numbers of one replica of ``lay`` on ``cluster``'s chip (see the module docstring)."""
    chip = cluster.chip
    peak = chip.peak_dense_tflops[compute_precision(chip, lay.weights)].value
    return replica_of(shape, chip, tiers(cluster, k, stack), lay.tp, lay.pp, records.BYTES_PER_ELEMENT[lay.weights],
                      records.BYTES_PER_ELEMENT[lay.kv_cache], peak, k, ep=lay.ep, adp=lay.adp,
                      stack=stack)  # fmt: skip
