"""The data model: frozen attrs records for chips, interconnects, systems, prices and workloads.

Field names carry their unit (``memory_bandwidth_tbps``) so a figure can't be read in the wrong
one. Every hardware figure is a ``Figure``: a value with the source it came from and how firm it
is. The TOML reader (``hwprof.data.schema``) builds these records and reports bad input; the
validators here only guard invariants that a plugin building records in Python could break.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

Status = Literal["official", "reported", "derived", "estimated"]
STATUSES: tuple[str, ...] = ("official", "reported", "derived", "estimated")

# Numeric formats a peak can be quoted in. A new format is a one-line change here.
PRECISIONS: tuple[str, ...] = (
    "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "mxfp8", "int8", "fp6", "mxfp6",
    "fp4", "mxfp4", "nvfp4", "int4",
)  # fmt: skip

# Bytes per element, for weights and KV cache.
BYTES_PER_ELEMENT: dict[str, float] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "mxfp8": 1, "int8": 1,
    "fp6": 0.75, "mxfp6": 0.75, "fp4": 0.5, "mxfp4": 0.5, "nvfp4": 0.5, "int4": 0.5,
}  # fmt: skip

PURCHASE_OPTIONS: tuple[str, ...] = (
    "on-demand", "capacity-block", "spot", "savings-plan-1yr", "savings-plan-3yr",
    "reserved-1yr", "reserved-3yr", "negotiated", "ownership",
)  # fmt: skip


def _positive_finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive whole number, got {value!r}")


def _layout_syntax(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    # Only the shape: comma-separated key=value pairs, each key once. What the keys mean and
    # which values are valid is the layout parser's job (core/perf/train/layout.py).
    if not value:
        return
    seen: set[str] = set()
    for part in value.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(f"layout {value!r}: '{part.strip()}' is not key=value")
        if key.strip() in seen:
            raise ValueError(f"layout {value!r}: '{key.strip()}' given twice")
        seen.add(key.strip())


def doc(text: str, unit: str = "") -> dict[str, str]:
    """Field metadata read by the TOML reader's messages and the JSON Schema."""
    return {"doc": text, "unit": unit}


class Record:
    """What every record shares: repr, equality and hash as attrs writes them (``Tier(interconnect='x',
    ...)``; equal when of one class with equal compared fields), written once here. attrs compiling
    them for each class was about half of this module's import time, which every command pays."""

    __slots__ = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{a.name}={getattr(self, a.name)!r}" for a in _fields(type(self)) if a.repr)
        return f"{type(self).__name__}({shown})"

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, a.name) for a in _fields(type(self)) if a.eq)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash((self.__class__.__qualname__, *self._compared()))


_FIELDS: dict[type, tuple[attrs.Attribute[Any], ...]] = {}


def _fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    if cls not in _FIELDS:
        _FIELDS[cls] = attrs.fields(cls)
    return _FIELDS[cls]


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Source(Record):
    """Where figures come from; a profile file declares these under ``[sources.KEY]``."""

    key: str = attrs.field(metadata=doc("short key figures use to cite this source"))
    title: str = attrs.field(metadata=doc("document title, e.g. 'Acme X1 datasheet, rev. 3'"))
    url: str = attrs.field(default="", metadata=doc("URL, where there is one"))
    date: dt.date | None = attrs.field(default=None, metadata=doc("publication or access date"))
    document: str = attrs.field(
        default="",
        metadata=doc(
            "the document this source is a version or a part of, when several sources are one (versions of one "
            "table, one run reported twice): `hwprof validate` holds a document's published results out together"
        ),
    )

    def as_json(self) -> dict[str, str]:
        out = {"title": self.title}
        if self.url:
            out["url"] = self.url
        if self.document:
            out["document"] = self.document
        if self.date:
            out["date"] = self.date.isoformat()
        return out


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Alternative(Record):
    """A value another source gives for the same figure, kept so a conflict stays visible."""

    value: float = attrs.field(validator=_positive_finite, metadata=doc("the other value"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    note: str = attrs.field(default="", metadata=doc("why it differs, why it was not chosen"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Figure(Record):
    """A number with its provenance. The unit is fixed by the field that holds it."""

    value: float = attrs.field(validator=_positive_finite, metadata=doc("the figure"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    how: str = attrs.field(default="", metadata=doc("for derived figures: how, e.g. '3,958 / 2'"))
    note: str = attrs.field(default="", metadata=doc("anything a reader should know"))
    alternatives: tuple[Alternative, ...] = attrs.field(
        default=(), metadata=doc("values other sources give, when they disagree")
    )


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Fact(Record):
    """A non-numeric fact (process node, launch date) with its provenance."""

    value: str = attrs.field(metadata=doc("the fact, as text or a TOML date"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    note: str = attrs.field(default="", metadata=doc("anything a reader should know"))


def _origin() -> str:
    return attrs.field(default="", eq=False, metadata=doc("set by the loader: file or plugin"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class ServingStack(Record):
    """What a serving software stack adds on a chip beyond the roofline: its fixed costs and how it
    schedules prompts (a chip profile's ``[chip.serving_stacks.<stack id>]``; stack ids as in
    ``ValidationCase.stack``)."""

    source: Source = attrs.field(metadata=doc("key of a [sources] entry for chunked_prefill and the buckets"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    chunked_prefill: bool = attrs.field(
        default=True,
        metadata=doc(
            "true when prompts run inside the decode steps (chunked prefill, in-flight batching); false when a "
            "prompt waits for the running decode step and then runs alone (a separate compiled prompt graph)"
        ),
    )
    prompt_buckets: tuple[int, ...] = attrs.field(
        default=(),
        metadata=doc(
            "prompt lengths the stack compiles; a prompt is padded up to the next one, and a decoding "
            "sequence's cache is read up to the next one (empty: no padding)",
            "tokens",
        ),
    )
    batch_buckets: tuple[int, ...] = attrs.field(
        default=(),
        metadata=doc("batch sizes the stack compiles; a decode step is padded up to the next one (empty: none)"),
    )
    moe_block_tokens: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "a mixture-of-experts prompt's expert matmuls run in blocks of this many tokens, one expert each: "
            "ceil(tokens x k / block) + experts - 1 blocks are provisioned and computed whatever the routing, "
            "and a prompt chunk of fewer than one block of token-expert pairs runs every expert on every token; "
            "omit: each expert computes the tokens it receives",
            "tokens",
        ),
    )
    moe_all_experts: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "a mixture-of-experts decode step reads every expert's weights and runs every expert on every token "
            "once batch x k reaches this share of the experts (below it, only the experts the batch picks); "
            "omit: only the experts the batch picks, at any batch"
        ),
    )
    runtime: str = attrs.field(
        default="",
        metadata=doc(
            "the library that builds and runs the model's graphs (e.g. the one several serving front-ends "
            "share); a chip x stack with no calibration run borrows the per-layer floors and collective latency "
            "of the same chip's stacks on the same runtime (not their host floors, their front-end's) before "
            "the nearest chips' (empty: none shared)"
        ),
    )
    step_floor_us: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "fixed time per layer of every forward step (kernel launches, latency-bound small kernels, sampling "
            "and host synchronisation spread over the layers), beyond the step's reads, FLOPs and collectives",
            "us per layer",
        ),
    )
    collective_latency_us: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "the stack's own latency per collective step (each all-reduce step, each all-to-all), where its "
            "published runs show one; omit to use the model's pooled value",
            "us",
        ),
    )
    step_host_us: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "fixed time per forward step whatever the model's depth (the host's scheduling, sampling and "
            "synchronisation between steps), beyond step_floor_us",
            "us",
        ),
    )
    request_host_us: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "fixed time per request whatever the model's depth (server, tokenising), beyond request_floor_us", "us"
        ),
    )
    request_floor_us: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "fixed time per layer a request's first token pays once (its prompt graph, scheduling, tokenising "
            "and the response spread over the layers)",
            "us per layer",
        ),
    )
    prefill_efficiency: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "share of the serving model's prompt (prefill) compute fraction this stack's compiled graphs and "
            "kernels reach on this chip, where its own published serving results show a difference (1 = the "
            "same); omit: borrowed as the per-layer floors are (the same chip's stacks on the same runtime, "
            "then the nearest chips'), else 1"
        ),
    )
    note: str = attrs.field(default="", metadata=doc("anything a reader should know"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Chip(Record):
    id: str = attrs.field(metadata=doc("unique id, lower-case, e.g. 'acme-x1'"))
    name: str = attrs.field(metadata=doc("display name"))
    vendor: str = attrs.field(metadata=doc("who makes it"))
    peak_dense_tflops: dict[str, Figure] = attrs.field(
        metadata=doc("dense peak per precision (fp8, bf16, ...)", "TFLOPS")
    )
    memory_bandwidth_tbps: Figure = attrs.field(metadata=doc("memory bandwidth", "TB/s"))
    memory_gib: Figure | None = attrs.field(
        default=None, metadata=doc("memory capacity when the source states GiB", "GiB")
    )
    memory_gb: Figure | None = attrs.field(
        default=None, metadata=doc("memory capacity when the source states GB", "GB")
    )
    peak_sparse_tflops: dict[str, Figure] = attrs.field(
        factory=dict, metadata=doc("sparse peak per precision, as the vendor quotes it", "TFLOPS")
    )
    sparsity_pattern: str = attrs.field(default="", metadata=doc("e.g. '2:4' or 'up to 4:16'"))
    sparsity_note: str = attrs.field(default="", metadata=doc("where sparsity cannot combine with a mode, say so here"))
    memory_type: str = attrs.field(default="", metadata=doc("e.g. 'HBM3e'"))
    sram_mib: Figure | None = attrs.field(default=None, metadata=doc("on-chip SRAM", "MiB"))
    tdp_w: Figure | None = attrs.field(default=None, metadata=doc("board/chip power", "W"))
    scale_up: str = attrs.field(
        default="",
        metadata=doc("id of the chip's native scale-up interconnect, used when an estimate names a chip, not a system"),
    )
    weight_only: Fact | None = attrs.field(
        default=None,
        metadata=doc(
            "weight-only formats the chip's inference software runs (weights stored narrow, widened to 16 bits "
            "for the matmul), comma-separated, e.g. 'int4'"
        ),
    )
    prefill_efficiency: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "the prefill efficiency of the chip's default serving stack (``serving_stack``), for profiles written "
            "before it moved to ``[chip.serving_stacks.<stack>]``, where a stack's own figure takes precedence; "
            "other stacks borrow it only as they borrow any stack's (the same runtime, then the nearest chips)"
        ),
    )
    training_efficiency: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "share of the reference software stacks' matmul rate this chip's training software reaches, "
            "where published runs show a difference (1 = the same; omit when unknown; fitted by "
            "`python -m hwprof.perf.fit.calibrate` when a calibration case names CHIP.training_efficiency)"
        ),
    )
    training_stack: Fact | None = attrs.field(
        default=None,
        metadata=doc(
            "the training software stack estimates on this chip assume unless told (a stack id as published "
            "results name it, e.g. 'nemo-megatron'); its efficiency is this chip's published runs on it"
        ),
    )
    training_stacks: Fact | None = attrs.field(
        default=None,
        metadata=doc(
            "other training software stacks known to run on this chip, comma-separated ids (e.g. 'torchtitan'); "
            "an estimate told to use one its published runs did not use keeps its efficiency, borrowed, the "
            "range widened"
        ),
    )
    serving_stack: Fact | None = attrs.field(
        default=None, metadata=doc("the serving software stack estimates on this chip assume unless told")
    )
    evidence_from: Fact | None = attrs.field(
        default=None,
        metadata=doc(
            "a chip whose published runs stand for this one's (same silicon and software, e.g. more memory): "
            "its calibration runs count as this chip's own, so its ranges are not widened as borrowed"
        ),
    )
    nearest: tuple[str, ...] = attrs.field(
        default=(),
        metadata=doc(
            "chips to borrow a software factor from, nearest first, where this chip has no published run of its "
            "own (its range is then widened and says so)"
        ),
    )
    ranks_per_chip: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "ranks a training framework runs on one chip by default (its cores or logical cores, each a "
            "device with an equal share of the chip's memory, compute and links); omit for one per chip"
        ),
    )
    matmul_half_width: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "matmul width per rank (a rank's columns of the hidden width, hidden / tensor-parallel ranks, or "
            "its micro-batch tokens if fewer) at which this chip's matmuls reach half the share a wide matmul "
            "reaches, where its matmul units say so; omit to use the model's default, measured per chip on "
            "GEMM kernels of chips of one rank each",
            "columns",
        ),
    )
    serving_stacks: dict[str, ServingStack] = attrs.field(
        factory=dict,
        metadata=doc(
            "per serving software stack (key: its id, as a published result's stack names it): the fixed costs "
            "and prompt scheduling that stack shows on this chip"
        ),
    )
    process_node: Fact | None = attrs.field(default=None, metadata=doc("e.g. 'TSMC 4N'"))
    launch_date: Fact | None = attrs.field(default=None, metadata=doc("announcement or GA date"))
    compute_units: Fact | None = attrs.field(default=None, metadata=doc("e.g. '132 SMs'"))
    notes: tuple[str, ...] = attrs.field(default=(), metadata=doc("free-text notes"))
    override: bool = attrs.field(default=False, metadata=doc("true to replace a profile with the same id on purpose"))
    origin: str = _origin()

    @property
    def memory(self) -> Figure:
        figure = self.memory_gib or self.memory_gb
        assert figure is not None, "the reader requires memory_gib or memory_gb"
        return figure

    def dense_pflops(self, chips: int) -> dict[str, float]:
        """Dense peak of ``chips`` of these chips per precision, in PFLOPS (TFLOPS x chips / 1,000)."""
        return {p: f.value * chips / 1000 for p, f in self.peak_dense_tflops.items()}

    @property
    def memory_bytes(self) -> float:
        if self.memory_gib is not None:
            return self.memory_gib.value * 2**30
        return self.memory.value * 1e9


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Interconnect(Record):
    id: str = attrs.field(metadata=doc("unique id, e.g. 'acme-link2'"))
    name: str = attrs.field(metadata=doc("display name"))
    tier: Literal["scale-up", "scale-out"] = attrs.field(
        metadata=doc("scale-up (inside a domain) or scale-out (between domains)")
    )
    bandwidth_per_chip_gb_s: Figure = attrs.field(
        metadata=doc("bandwidth per chip, in the direction named by `direction`", "GB/s")
    )
    direction: Literal["per-direction", "bidirectional"] = attrs.field(
        metadata=doc("whether bandwidth counts one direction or both added together")
    )
    topology: str = attrs.field(default="", metadata=doc("e.g. '4x4 2D torus', 'switched'"))
    latency_us: Figure | None = attrs.field(
        default=None, metadata=doc("latency of one step of a collective (one hop, or one small message)", "us")
    )
    efficiency: Figure | None = attrs.field(
        default=None,
        metadata=doc("share of the per-direction bandwidth that large collectives achieve (0-1), e.g. 370 / 450"),
    )
    all_reduce_steps: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "latency steps of one all-reduce inside a domain whatever the number of chips, where every chip reaches "
            "every other in one step (a switch): a reduce-scatter and an all-gather of one step each; omit where "
            "steps grow with the chips (rings, tori: log2 of the chips per step kind is then assumed)"
        ),
    )
    bandwidth_per_system_gb_s: Figure | None = attrs.field(
        default=None,
        metadata=doc(
            "bandwidth per system (e.g. a scale-out network per instance), in the direction named by `direction`, when a "
            "source states it that way; bandwidth_per_chip_gb_s then says how it was divided",
            "GB/s",
        ),
    )
    max_domain_chips: int | None = attrs.field(
        default=None, metadata=doc("largest number of chips one domain can join")
    )
    notes: tuple[str, ...] = attrs.field(default=(), metadata=doc("free-text notes"))
    override: bool = attrs.field(default=False, metadata=doc("replace a same-id profile"))
    origin: str = _origin()

    @property
    def per_direction_gb_s(self) -> float:
        """Bandwidth one way: the figure collectives are bound by."""
        value = self.bandwidth_per_chip_gb_s.value
        return value / 2 if self.direction == "bidirectional" else value


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Tier(Record):
    """One level of a system's network: which interconnect joins how many chips."""

    interconnect: str = attrs.field(metadata=doc("id of an interconnect profile"))
    domain_chips: int | None = attrs.field(
        default=None, metadata=doc("chips joined at this tier; omit for the whole system")
    )
    note: str = attrs.field(default="", metadata=doc("free text"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Host(Record):
    vcpus: Figure | None = attrs.field(default=None, metadata=doc("host vCPUs", "vCPU"))
    memory_gib: Figure | None = attrs.field(default=None, metadata=doc("host memory", "GiB"))
    note: str = attrs.field(default="", metadata=doc("free text"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Claim(Record):
    """A figure someone published about the whole system, kept beside what the data gives."""

    metric: str = attrs.field(metadata=doc("what it measures, e.g. 'peak_sparse_pflops.fp8'"))
    value: float = attrs.field(validator=_positive_finite, metadata=doc("the claimed value"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    note: str = attrs.field(default="", metadata=doc("how it compares with the data"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class System(Record):
    id: str = attrs.field(metadata=doc("unique id, e.g. a cloud instance type 'x1.8xlarge'"))
    name: str = attrs.field(metadata=doc("display name"))
    kind: str = attrs.field(metadata=doc("instance, ultraserver, board, pod ..."))
    chip: str = attrs.field(metadata=doc("id of the chip profile"))
    chips: int = attrs.field(metadata=doc("number of chips"))
    source: Source = attrs.field(metadata=doc("where the chip count and topology come from"))
    status: Status = attrs.field(metadata=doc("status of the chip count and topology"))
    tiers: tuple[Tier, ...] = attrs.field(default=(), metadata=doc("network tiers, innermost (scale-up) first"))
    host: Host | None = attrs.field(default=None, metadata=doc("host CPU and memory"))
    built_from: str = attrs.field(default="", metadata=doc("e.g. '4 x trn2u.48xlarge'"))
    claims: tuple[Claim, ...] = attrs.field(
        default=(), metadata=doc("published system-level figures, kept beside the data's")
    )
    notes: tuple[str, ...] = attrs.field(default=(), metadata=doc("free-text notes"))
    override: bool = attrs.field(default=False, metadata=doc("replace a same-id profile"))
    origin: str = _origin()


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Price(Record):
    """What one system costs per hour in one region under one way of buying."""

    system: str = attrs.field(metadata=doc("id of the system priced"))
    region: str = attrs.field(metadata=doc("region code, e.g. 'us-east-1'"))
    purchase: str = attrs.field(metadata=doc("on-demand, capacity-block, spot, ..."))
    usd_per_hour: float = attrs.field(validator=_positive_finite, metadata=doc("price per system-hour", "USD/h"))
    observed: dt.date = attrs.field(metadata=doc("when the price was seen or published"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    volatile: bool = attrs.field(default=False, metadata=doc("true for spot-like prices"))
    undated: bool = attrs.field(
        default=False,
        metadata=doc(
            "true when the source gives no date: `observed` is then when the price was recorded, not when it "
            "was published, and its age is unknown (shown as such, never as days old)"
        ),
    )
    note: str = attrs.field(default="", metadata=doc("free text"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class MissingPrice(Record):
    """A price known not to be published, so estimates say so instead of inventing one."""

    system: str = attrs.field(metadata=doc("id of the system"))
    purchase: str = attrs.field(metadata=doc("purchase option with no published price"))
    reason: str = attrs.field(metadata=doc("what is known, e.g. 'Capacity Blocks only'"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    region: str = attrs.field(default="*", metadata=doc("region, or '*' for all"))


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class CostModel(Record):
    id: str = attrs.field(metadata=doc("unique id, e.g. 'acme-cloud'"))
    name: str = attrs.field(metadata=doc("display name"))
    currency: str = attrs.field(default="USD", metadata=doc("currency of every price"))
    prices: tuple[Price, ...] = attrs.field(default=(), metadata=doc("known prices"))
    missing: tuple[MissingPrice, ...] = attrs.field(default=(), metadata=doc("prices known to be unpublished"))
    notes: tuple[str, ...] = attrs.field(default=(), metadata=doc("free-text notes"))
    override: bool = attrs.field(default=False, metadata=doc("replace a same-id profile"))
    origin: str = _origin()

    @property
    def regions(self) -> list[str]:
        return sorted({p.region for p in self.prices})

    def priced_systems(self) -> set[str]:
        return {p.system for p in self.prices}

    def quote(
        self,
        system: System,
        purchase: str = "on-demand",
        region: str | None = None,
        hours: float | None = None,
        today: dt.date | None = None,
    ) -> Quote:
        """The listed price of ``system``, in the cheapest region when none is given.

        Raises ``LookupError`` saying what is known instead: the published-price gap, or the regions
        and purchase options that do have a price.
        """
        candidates = [p for p in self.prices if p.system == system.id and p.purchase == purchase
                      and (region is None or p.region == region)]  # fmt: skip
        if not candidates:
            raise LookupError(self.why_no_price(system.id, purchase, region))
        price = min(candidates, key=lambda p: (p.usd_per_hour, p.region))
        return Quote.of(price, self.id, today or dt.date.today())

    def gaps(
        self, system_id: str | None = None, purchase: str | None = None, region: str | None = None
    ) -> list[MissingPrice]:
        """The prices recorded as unpublished, narrowed to a system, purchase option and region."""
        return [m for m in self.missing
                if (system_id is None or m.system == system_id) and (purchase is None or m.purchase == purchase)
                and (region is None or m.region in ("*", region))]  # fmt: skip

    def why_no_price(self, system_id: str, purchase: str, region: str | None) -> str:
        where = f" in {region}" if region else ""
        head = f"cost model {self.id!r} has no {purchase} price for {system_id}{where}"
        gap = self.gaps(system_id, purchase, region or "*")
        known = sorted(f"{p.purchase} in {p.region}" for p in self.prices if p.system == system_id)
        reason = f": {gap[0].reason}" if gap else ""
        options = f"; it has {', '.join(known)}" if known else "; it prices no option for this system"
        return f"{head}{reason}{options}"


DEFAULT_STALE_DAYS = 180


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Quote(Record):
    """The price an estimate uses, with what a reader must know about it: its age, whether that
    makes it stale, and for a computed quote how it was made (``basis``)."""

    price: Price
    cost_model: str
    age_days: int
    stale: bool
    stale_days: int = DEFAULT_STALE_DAYS
    basis: str = ""  # an ownership model's arithmetic, say; empty for a list price

    @classmethod
    def of(cls, price: Price, cost_model: str, today: dt.date, stale_days: int = DEFAULT_STALE_DAYS,
           basis: str = "") -> Quote:  # fmt: skip
        """A price as a Quote: its age on ``today`` and whether that makes it stale."""
        age = (today - price.observed).days
        # an undated source's age is unknown: flagged as undated (``warnings``), never judged by a count of days
        return cls(price, cost_model, age, age > stale_days and not price.undated, stale_days, basis)

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour

    def usd_per_chip_hour(self, chips: int) -> float:
        return self.price.usd_per_hour / chips

    def warnings(self) -> list[str]:
        out = []
        if self.stale:
            out.append(
                f"price of {self.price.system} ({self.price.purchase}, {self.price.region}) was "
                f"observed {self.price.observed.isoformat()}, {self.age_days} days ago "
                f"(older than {self.stale_days} days): it may be stale"
            )
        if self.age_days < 0:  # a typo in `observed`, or a price announced ahead: either way not yet seen
            out.append(
                f"price of {self.price.system} ({self.price.purchase}, {self.price.region}) is dated "
                f"{self.price.observed.isoformat()}, {-self.age_days} days after today: check its observed date"
            )
        if self.price.undated:
            out.append(
                f"price of {self.price.system} ({self.price.purchase}, {self.price.region}) comes from an undated "
                f"source: {self.price.observed.isoformat()} is when it was recorded, its age is unknown"
            )
        if self.price.volatile:
            out.append(
                f"{self.price.purchase} price of {self.price.system} is an observation of "
                f"{self.price.observed.isoformat()} and changes often"
            )
        return out

    def as_json(self) -> dict[str, object]:
        return {"cost_model": self.cost_model, "system": self.price.system, "region": self.price.region,
                "purchase": self.price.purchase, "usd_per_hour": self.price.usd_per_hour,
                "observed": self.price.observed.isoformat(), "age_days": self.age_days, "stale": self.stale,
                "undated": self.price.undated,
                "stale_days": self.stale_days, "status": self.price.status, "volatile": self.price.volatile,
                "source": self.price.source.as_json(), "basis": self.basis or None,
                "warnings": self.warnings()}  # fmt: skip


@runtime_checkable
class QuotesCost(Protocol):
    """What a cost model does, whatever it is built on: quote what a system costs per hour.

    A price list (``CostModel`` above, declared in TOML) looks the price up; an ownership model
    computes it from a purchase price, power and hosting. A plugin may register any object with
    these members through ``hwprof_register_cost_models``.
    """

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def regions(self) -> list[str]:
        """Regions it can quote in (used to check ``--region``)."""
        ...

    def priced_systems(self) -> set[str]:
        """Ids of the systems it can quote."""
        ...

    def quote(
        self,
        system: System,
        purchase: str = "on-demand",
        region: str | None = None,
        hours: float | None = None,
        today: dt.date | None = None,
    ) -> Quote:
        """What ``system`` costs per hour when bought as ``purchase`` in ``region`` for ``hours``.

        Raises ``LookupError`` (or ``HwprofError``) saying why there is no quote: no such price,
        region or purchase option.
        """
        ...


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class Workload(Record):
    """A model's shape, what the estimators run on: a preset from the profiles (``--model ID``), a
    Hugging Face config.json read by ``hwprof.data.hf_config``, or counts given directly.
    Counts are plain numbers: the whole shape shares one source. ``None`` where the shape is unknown.

    Formulas (per token, dense transformer, ``d_attn = heads x head_dim``):
    - training: ``6 x active`` for the matmuls (forward 2, backward 4), plus causal attention
      ``6 x layers x seq x d_attn`` (QK^T and AV are ``4 x layers x seq x d_attn`` forward without the
      causal mask; the mask halves it; backward doubles forward). At 128K context on a 405B model
      this adds about two thirds to 6N, so it is never left out when the shape is known.
    - inference forward: ``2 x active`` plus ``4 x layers x context x d_attn`` per new token
      at context length ``context`` (decode reads the whole cache; prefill averages over the prompt).
    - KV cache per token: ``2 x layers x kv_heads x head_dim`` elements, or ``layers x
      kv_elements_per_layer`` for a latent cache (multi-head latent attention: one latent for all
      heads, so never split over tensor-parallel ranks). Over ``context`` tokens, each of the
      ``sliding_layers`` keeps only ``min(context, sliding_window)`` of them.
    """

    id: str = attrs.field(metadata=doc("unique id, e.g. 'llama3.1-70b'"))
    name: str = attrs.field(metadata=doc("display name"))
    params: float = attrs.field(validator=_positive_finite, metadata=doc("total parameters"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry for the shape"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    active_params: float | None = attrs.field(
        default=None, metadata=doc("parameters used per token (mixture of experts)")
    )
    layers: int | None = attrs.field(default=None, metadata=doc("transformer layers"))
    hidden: int | None = attrs.field(default=None, metadata=doc("model width (d_model)"))
    heads: int | None = attrs.field(default=None, metadata=doc("attention heads"))
    kv_heads: int | None = attrs.field(default=None, metadata=doc("key/value heads (GQA)"))
    head_dim: int | None = attrs.field(default=None, metadata=doc("per-head dimension"))
    kv_elements_per_layer: int | None = attrs.field(
        default=None,
        metadata=doc("KV-cache elements per token per layer when not 2 x kv_heads x head_dim"),
    )
    ffn_hidden: int | None = attrs.field(default=None, metadata=doc("MLP inner width"))
    vocab: int | None = attrs.field(default=None, metadata=doc("vocabulary size"))
    seq_len: int | None = attrs.field(default=None, metadata=doc("training sequence length"))
    max_context: int | None = attrs.field(
        default=None, metadata=doc("longest sequence the model takes, prompt plus output (max_position_embeddings)")
    )
    experts: int | None = attrs.field(default=None, metadata=doc("routed experts (MoE)"))
    experts_per_token: int | None = attrs.field(default=None, metadata=doc("active experts"))
    sliding_window: int | None = attrs.field(
        default=None, metadata=doc("tokens a sliding-window (or chunked) attention layer keeps in its cache")
    )
    sliding_layers: int | None = attrs.field(
        default=None, metadata=doc("layers with that window; the others attend to (and cache) the whole context")
    )
    train_tokens: float | None = attrs.field(default=None, metadata=doc("tokens the published model was trained on"))
    notes: tuple[str, ...] = attrs.field(default=(), metadata=doc("free-text notes"))
    override: bool = attrs.field(default=False, metadata=doc("replace a same-id profile"))
    origin: str = _origin()

    @classmethod
    def given(cls, params: float, *, id: str = "", source: str = "given directly", **counts: Any) -> Workload:
        """A workload from counts someone gave, not from a profile: status 'estimated' (no document
        behind it); ``id`` and ``name`` default to its size, e.g. '7e+09 params'."""
        label = id or f"{params:.3g} params"
        return cls(id=label, name=label, params=params, source=Source(key="given", title=source), status="estimated",
                   **counts)  # fmt: skip

    @property
    def active(self) -> float:
        """Parameters used per token: ``active_params``, or all of them for a dense model."""
        return self.active_params or self.params

    @property
    def citation(self) -> str:
        """Where the shape comes from and how firm it is, e.g. 'Llama 3.1 model card (official)'."""
        return f"{self.source.title} ({self.status})"

    @property
    def is_moe(self) -> bool:
        return self.params > self.active

    @property
    def attention_width(self) -> int | None:
        if self.heads and (self.head_dim or self.hidden):
            return self.heads * (self.head_dim or (self.hidden or 0) // self.heads)
        return self.hidden

    def train_flops_per_token(self, seq_len: int | None) -> tuple[float, float]:
        """(matmul FLOPs, attention FLOPs) per trained token."""
        dense = 6 * self.active
        width = self.attention_width
        if not (self.layers and width and seq_len):
            return dense, 0.0
        return dense, 6.0 * self.layers * seq_len * width

    def forward_flops_per_token(self, context: float) -> float:
        width = self.attention_width
        attention = 4.0 * self.layers * context * width if self.layers and width else 0.0
        return 2 * self.active + attention

    @property
    def latent_cache(self) -> bool:
        """The cache holds one latent per token for all heads (multi-head latent attention)."""
        return bool(self.kv_elements_per_layer) and not self.kv_heads

    def kv_elements_per_token(self, context: float | None = None) -> float | None:
        """K and V elements cached per token, over all layers; with ``context``, the mean over a
        sequence of that many tokens, sliding-window layers keeping only their window."""
        if not self.layers:
            return None
        if self.kv_elements_per_layer:
            per_layer = float(self.kv_elements_per_layer)
        else:
            kv_heads = self.kv_heads or self.heads
            head_dim = self.head_dim or ((self.hidden // self.heads) if self.hidden and self.heads else None)
            if not (kv_heads and head_dim):
                return None
            per_layer = 2.0 * kv_heads * head_dim
        local = min(self.sliding_layers or 0, self.layers) if self.sliding_window else 0
        kept = min(1.0, self.sliding_window / context) if self.sliding_window and context else 1.0
        return per_layer * (self.layers - local + local * kept)


@attrs.frozen(repr=False, eq=False)  # Record's repr, eq and hash
class ValidationCase(Record):
    """A published result the estimators are checked against (``hwprof validate``)."""

    id: str = attrs.field(metadata=doc("unique id"))
    kind: Literal["train", "serve"] = attrs.field(metadata=doc("which estimator"))
    role: Literal["calibration", "validation"] = attrs.field(
        metadata=doc("calibration cases set the efficiency defaults; validation cases only check them")
    )
    model: str = attrs.field(metadata=doc("workload id"))
    chip: str = attrs.field(metadata=doc("chip id"))
    chips: int = attrs.field(metadata=doc("chips used"))
    precision: str = attrs.field(metadata=doc("precision of the matmuls (train) or weights (serve)"))
    metric: Literal["tokens_per_s_per_chip", "chip_hours", "mfu", "ttft_s", "tpot_s", "tokens_per_s"] = attrs.field(
        metadata=doc("what was published")
    )
    published: float = attrs.field(validator=_positive_finite, metadata=doc("the published value"))
    source: Source = attrs.field(metadata=doc("key of a [sources] entry"))
    status: Status = attrs.field(metadata=doc("official, reported, derived or estimated"))
    system: str = attrs.field(default="", metadata=doc("system id, when the interconnect matters"))
    layout: str = attrs.field(
        default="",
        validator=_layout_syntax,
        metadata=doc(
            "how the published run was laid out, as published, in the --layout syntax: "
            "'tp=8,pp=16,dp=128,cp=1,ep=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1' (train) or "
            "'tp=2,pp=1,dp=1,ep=1' (serve); omitted keys were not published and take the defaults; "
            "degrees count ranks (see ranks_per_chip); empty when the source gives no layout"
        ),
    )
    ranks_per_chip: int = attrs.field(
        default=1,
        validator=_positive_int,
        metadata=doc(
            "ranks each chip hosts in the published layout: 1 when one rank drives a whole chip, "
            "more when the chip's cores run as separate ranks (then tp x pp x dp x cp = chips x this)"
        ),
    )
    software: str = attrs.field(
        default="",
        metadata=doc(
            "the software stack and version that produced the result, e.g. 'TensorRT-LLM 1.0': the same chip "
            "runs several times faster on one stack than on another, so errors are worth reading per stack"
        ),
    )
    stack: str = attrs.field(
        default="",
        metadata=doc(
            "the software family, one short id for all its versions (e.g. 'vllm'): a result on a stack no "
            "calibration case of its kind uses is listed but sets no range width; empty counts as calibrated"
        ),
    )
    global_batch: int | None = attrs.field(
        default=None, metadata=doc("sequences per optimizer step, as published (train)", "sequences")
    )
    concurrency: int | None = attrs.field(
        default=None,
        metadata=doc("requests the load generator kept in flight, closed loop (serve); TTFT then includes queueing"),
    )
    request_rate_per_s: float | None = attrs.field(
        default=None, metadata=doc("offered request rate, open loop (serve)", "requests/s")
    )
    arrivals: Literal["poisson", "constant"] = attrs.field(
        default="poisson",
        metadata=doc(
            "how the load generator spaced the requests of a request rate: poisson (independent users) or "
            "constant (evenly spaced, e.g. guidellm's constant-rate and sweep profiles) (serve)"
        ),
    )
    tokens: float | None = attrs.field(default=None, metadata=doc("training tokens (chip_hours cases)"))
    seq_len: int | None = attrs.field(default=None, metadata=doc("training sequence length"))
    full_run: bool = attrs.field(default=False, metadata=doc("a whole run, restarts included"))
    fused_attention: bool = attrs.field(
        default=True,
        metadata=doc(
            "false when the source's run computes attention unfused, its scores passing through memory "
            "(no fused / flash attention kernel); training cases only"
        ),
    )
    interleaved: bool = attrs.field(
        default=False,
        metadata=doc(
            "true when the source says its pipeline runs an interleaved schedule (virtual stages per rank) but "
            "not how many: validate then searches vpp from 2 up; a layout's vpp, when published, wins; "
            "training cases only"
        ),
    )
    expert_dispatch: str = attrs.field(
        default="node",
        validator=attrs.validators.in_(("node", "rank")),
        metadata=doc(
            "mixture-of-experts token dispatch: 'node' sends a token across the scale-out network once per "
            "destination node and forwards it inside (DeepEP, Megatron's flex dispatcher with HybridEP); "
            "'rank' once per destination rank (Megatron's plain alltoall dispatcher); training cases only"
        ),
    )
    expert_a2a_overlap: bool = attrs.field(
        default=True,
        metadata=doc(
            "false when the source's run does not overlap the expert all-to-all with compute (Megatron "
            "moe_a2a_overlap / overlap_moe_expert_parallel_comm off): all of it is then exposed; training cases only"
        ),
    )
    expert_a2a_paired: bool = attrs.field(
        default=False,
        metadata=doc(
            "true when the source's run pairs forward and backward chunks so each one's expert all-to-all runs "
            "beside the other's compute (DeepSeek's DualPipe): it is then hidden but for the compute's measured "
            "slowdown, and exposed where it outlasts that compute; training cases only"
        ),
    )
    kv_precision: str = attrs.field(default="bf16", metadata=doc("KV-cache precision (serve)"))
    prompt_buckets: tuple[int, ...] = attrs.field(
        default=(),
        metadata=doc(
            "prompt lengths the published run compiled, when the source gives them (serve): they replace the "
            "stack's defaults on the chip",
            "tokens",
        ),
    )
    batch_buckets: tuple[int, ...] = attrs.field(
        default=(),
        metadata=doc(
            "batch sizes the published run compiled its decode step at, when the source gives them (serve): "
            "they replace the stack's defaults on the chip, and a decode step runs at the next one up"
        ),
    )
    batch: int | None = attrs.field(
        default=None,
        metadata=doc(
            "concurrent sequences per replica (serve); with a concurrency, a rate or largest_batch, the engine's "
            "limit on sequences in flight per replica instead (its max batch size)"
        ),
    )
    static_batch: bool = attrs.field(
        default=False,
        metadata=doc(
            "true when the run fed its batch at once and encoded its prompts together (a static batch, no "
            "continuous batching): every first token waits for the whole batch's prompt pass (serve)"
        ),
    )
    largest_batch: bool = attrs.field(
        default=False,
        metadata=doc(
            "serve as many sequences as the KV cache holds (max-throughput runs), at most batch where the run "
            "set or its tool derived a max batch size"
        ),
    )
    kv_read_per_query_head: bool = attrs.field(
        default=False,
        metadata=doc(
            "true when the run's decode attention kernel reads each key/value head once per query head that "
            "shares it, not once per step (serve; TensorRT-LLM v0.5-0.6, before its grouped-query generation "
            "kernels): a decode step reads the KV cache heads / kv_heads times"
        ),
    )
    input_tokens: int | None = attrs.field(default=None, metadata=doc("prompt tokens (serve)"))
    output_tokens: int | None = attrs.field(default=None, metadata=doc("generated tokens (serve)"))
    calibrates: tuple[str, ...] = attrs.field(
        default=(), metadata=doc("for calibration cases: the efficiency defaults or profile figures it sets")
    )
    note: str = attrs.field(default="", metadata=doc("conventions, caveats"))
    override: bool = attrs.field(default=False, metadata=doc("replace a same-id case"))
    origin: str = _origin()
