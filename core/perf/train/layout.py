"""A training layout: how a job is split over chips, parsed from ``tp=8,pp=16,dp=128,...``.

Keys (omitted keys take the defaults shown):

    tp=1         tensor parallel, with sp=1 sequence parallel over the same ranks
    pp=1         pipeline stages; vpp=1 virtual stages per rank (interleaved 1F1B when > 1)
    dp=          data parallel (default: what the chip count leaves, chips / (tp x pp x cp))
    cp=1         context parallel (each rank holds 1/cp of every sequence)
    ep=1         expert parallel (mixture-of-experts models only), carved out of tp x dp x cp with
                 etp=1, out of dp x cp with etp=tp
    etp=tp       expert tensor parallel: 1 (routed experts whole on each rank, the expert-parallel
                 group over consecutive ranks) or tp (each expert split like the dense MLP). Default
                 tp, as Megatron Core's (model_parallel_config.py, expert_tensor_parallel_size:
                 "Default is None, which will be set to the value of tensor_model_parallel_size")
    mb=1         micro-batch, in sequences
    zero=1       ZeRO stage over the data-parallel ranks: 0 none, 1 optimizer state, 2 + gradients,
                 3 + weights (FSDP)
    recompute=selective   none | selective | full
    sp=1         sequence parallel (0 or 1)
    uneven=0     1 allows pipeline stages with unequal layer counts (the slowest stage sets the pace)
    grads=32     bits of each gradient as kept and accumulated: 32 (Megatron-LM's default for 16-bit
                 training, Llama 3's) or 16 (16-bit gradient buffers, as some tuned recipes set); a
                 numerical choice the search keeps as given, never varies

``recompute=none`` recomputes nothing beyond what fused (flash) attention does inside its own
backward (the scores, never stored); ``selective`` is Korthikanti et al.'s selective recompute,
which with fused attention keeps the same activations and runs the attention forward once more;
``full`` keeps each layer's input and recomputes its whole forward.

The validity rules live in ``rules`` and are written once for one layout or for arrays of them
(the search), so the search never keeps a layout the estimate would refuse.
"""

from __future__ import annotations

from typing import Any

import attrs

from ...errors import HwprofError
from ..arith import SCALAR

RECOMPUTE = ("none", "selective", "full")
_INT_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "mb", "zero", "sp", "uneven", "grads", "etp")


class LayoutError(HwprofError):
    """A layout that cannot run: ``rule`` names the rule it breaks."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"layout refused ({rule}): {message}")


@attrs.frozen
class Layout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    mb: int = 1
    zero: int = 1
    recompute: str = "selective"
    sp: int = 1
    uneven: int = 0
    grads: int = 32
    etp: int = attrs.field(default=attrs.Factory(lambda self: self.tp, takes_self=True))

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def recompute_code(self) -> int:
        return RECOMPUTE.index(self.recompute)

    def parts(self) -> list[tuple[str, Any]]:
        """The keys ``--layout`` takes and their values, as written: every degree; uneven, grads and
        etp only where they are not the default."""
        out: list[tuple[str, Any]] = [("tp", self.tp), ("pp", self.pp), ("dp", self.dp), ("cp", self.cp),
                                      ("ep", self.ep), ("vpp", self.vpp), ("mb", self.mb), ("zero", self.zero),
                                      ("recompute", self.recompute), ("sp", self.sp)]  # fmt: skip
        out += [("uneven", 1)] if self.uneven else []
        out += [("grads", self.grads)] if self.grads != 32 else []
        return out + ([("etp", self.etp)] if self.etp != self.tp else [])

    def __str__(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.parts())


def parse(text: str, chips: int | None = None) -> Layout:
    """``tp=8,pp=16,...`` to a Layout; ``dp`` defaults to what ``chips`` leaves."""
    if not text.replace(",", "").strip():  # a layout asked for but left blank is not the searched one
        raise LayoutError("syntax", "the layout is empty: give key=value pairs (e.g. tp=8,pp=4), or none to search")
    return from_keys(given(text), chips)


def from_keys(keys: dict[str, Any], chips: int | None = None) -> Layout:
    """A Layout of the keys ``given`` read; ``dp`` defaults to what ``chips`` leaves."""
    values = dict(keys)
    if "dp" not in values:
        rest = values.get("tp", 1) * values.get("pp", 1) * values.get("cp", 1)
        if chips is None or chips % rest:
            where = f"{chips} chips" if chips else "the chip count"
            raise LayoutError("chips", f"dp is not given and {where} does not divide by tp x pp x cp = {rest}")
        values["dp"] = chips // rest
    return Layout(**values)


def given(text: str) -> dict[str, Any]:
    """The keys ``text`` sets, checked (the others were not published, or take defaults)."""
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not eq or not value:
            raise LayoutError("syntax", f"{part!r} is not key=value (e.g. tp=8,pp=4)")
        if key in values:
            raise LayoutError("syntax", f"{key} is given twice")
        if key == "recompute":
            if value not in RECOMPUTE:
                raise LayoutError("syntax", f"recompute={value}: use none, selective or full")
            values[key] = value
        elif key in _INT_KEYS:
            try:
                number = int(value)
            except ValueError:
                raise LayoutError("syntax", f"{key}={value} is not a whole number") from None
            values[key] = number
        else:
            known = ", ".join((*_INT_KEYS, "recompute"))
            raise LayoutError("syntax", f"unknown key {key!r}; known keys: {known}")
    for key in ("tp", "pp", "dp", "cp", "ep", "vpp", "mb"):
        if key in values and values[key] < 1:
            raise LayoutError("syntax", f"{key} must be at least 1, got {values[key]}")
    if values.get("zero", 1) not in (0, 1, 2, 3):
        raise LayoutError("syntax", f"zero={values['zero']}: the ZeRO stage is 0, 1, 2 or 3")
    for key in ("sp", "uneven"):
        if values.get(key, 0) not in (0, 1):
            raise LayoutError("syntax", f"{key}={values[key]}: use 0 or 1")
    if values.get("grads", 32) not in (16, 32):
        raise LayoutError("syntax", f"grads={values['grads']}: gradients are kept in 16 or 32 bits")
    if values.get("etp", 1) not in (1, values.get("tp", 1)):
        raise LayoutError("syntax", f"etp={values['etp']}: expert tensor parallel is 1 or tp ({values.get('tp', 1)})")
    return values


def rules(xp: Any, lay: Any, job: Any) -> list[tuple[str, Any]]:
    """(rule, ok) for each validity rule; ``lay`` holds ints or arrays of them (tp, pp, ...).

    ``job`` is a ``hwprof.perf.train.job.Job``. Memory is checked by the caller (``memory.fits``).
    """
    tp, pp, dp, cp, ep, vpp, mb = lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp, lay.mb
    per_dp_mb = dp * mb
    micro = job.batch_seqs // xp.maximum(per_dp_mb, 1)
    stages = pp * vpp
    return [
        ("chips", tp * pp * dp * cp == job.chips),
        ("heads", job.heads % tp == 0),
        ("domain", job.cross_domain | ((tp <= job.domain) & (job.domain % tp == 0))),
        ("layers", (job.layers % stages == 0) | ((lay.uneven == 1) & (stages <= job.layers))),
        ("interleave", (vpp == 1) | ((pp > 1) & (micro % pp == 0))),
        ("batch", (job.batch_seqs % per_dp_mb == 0) & (micro >= 1)),
        ("context", (cp == 1) | (job.seq_len % (2 * cp) == 0)),
        # etp=1: the expert-parallel group folds over tp x dp x cp (Megatron's expert grid: etp x ep x
        # expert-dp = tp x dp x cp); etp=tp: over dp x cp, each member a tp group
        ("experts", (ep == 1) | ((job.experts % ep == 0) & ((tp * dp * cp // lay.etp) % ep == 0))),
    ]


RULE_TEXT = {
    "chips": "tp x pp x dp x cp must equal the chips used",
    "heads": "tensor parallel must divide the attention heads",
    "domain": "tensor parallel must divide and stay inside one scale-up domain",
    "layers": "pipeline stages x virtual stages must divide the layers (or set uneven=1)",
    "interleave": "virtual stages need pp > 1 and micro-batches per pipeline a multiple of pp",
    "batch": "the global batch in sequences must divide by dp x micro-batch",
    "context": "context parallel needs the sequence to divide by 2 x cp (load-balanced chunks)",
    "experts": "expert parallel must divide the experts and tp x dp x cp (etp=1), or dp x cp (etp=tp)",
    "memory": "weights, gradients, optimizer state and activations must fit in a chip's usable memory",
}


def check(lay: Layout, job: Any, memory_too: bool = True) -> None:
    """Raise LayoutError naming the first rule ``lay`` breaks."""
    from .memory import memory

    if lay.ep > 1 and not job.experts:
        raise LayoutError("experts", f"ep={lay.ep} but {job.name} has no experts")
    for rule, ok in rules(SCALAR, lay, job):
        if not ok:
            raise LayoutError(rule, f"{RULE_TEXT[rule]}: {_detail(rule, lay, job)}")
    need = memory(lay, job)
    if memory_too and not need.total <= need.usable:
        gib = 2**30
        raise LayoutError("memory", f"{RULE_TEXT['memory']}: {need.total / gib:,.1f} GiB per chip (activations "
                                    f"{need.activations / gib:,.1f}) of {need.usable / gib:,.1f} usable; try "
                                    "recompute=full, more pp or tp, or zero=3")  # fmt: skip


def _detail(rule: str, lay: Layout, job: Any) -> str:
    if rule == "chips":
        return f"{lay.tp} x {lay.pp} x {lay.dp} x {lay.cp} = {lay.chips}, not {job.chips}"
    if rule == "heads":
        return f"{job.heads} heads, tp={lay.tp}"
    if rule == "domain":
        return f"tp={lay.tp}, scale-up domain of {job.domain} chips"
    if rule == "layers":
        return f"{job.layers} layers, pp={lay.pp} x vpp={lay.vpp}"
    if rule == "interleave":
        return f"pp={lay.pp}, {job.batch_seqs // max(1, lay.dp * lay.mb)} micro-batches per pipeline"
    if rule == "batch":
        return f"{job.batch_seqs} sequences, dp={lay.dp} x mb={lay.mb}"
    if rule == "context":
        return f"sequence {job.seq_len}, cp={lay.cp}"
    return f"{job.experts} experts, ep={lay.ep}, etp={lay.etp}, tp x dp x cp / etp = {lay.chips // lay.pp // lay.etp}"
