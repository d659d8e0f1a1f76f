"""What every launch format shares: the picks, the emitted result, and the text helpers."""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Callable, Sequence
from typing import Any

import attrs


@attrs.frozen
class TrainPick:
    """A training run as the estimate has it: the model's shape, the layout (degrees count ranks),
    the batch, the matmul precision and how the chips group into nodes (one system each)."""

    model: Any  # records.Workload: layers, hidden, heads, kv_heads, ffn_hidden, vocab, experts ...
    layout: Any  # perf.train.layout.Layout
    seq_len: int
    global_batch_seqs: int
    precision: str
    chips: int
    chips_per_node: int
    ranks_per_chip: int = 1
    summary: tuple[str, ...] = ()  # lines saying what the pick is (system, count, time, cost)

    @property
    def nodes(self) -> int:
        return max(1, self.chips // max(1, self.chips_per_node))

    @property
    def ranks_per_node(self) -> int:
        return self.chips_per_node * self.ranks_per_chip


@attrs.frozen
class ServePick:
    """A serving deployment: ``dp`` replicas of ``tp x pp`` ranks (``ep``: experts over the tensor
    ranks, ``adp``: attention data parallel), ``prefill`` of the replicas only prefilling."""

    model: Any  # records.Workload
    tp: int
    pp: int
    dp: int
    weights: str
    kv_cache: str
    max_num_seqs: int  # sequences in flight per replica the engine must allow
    max_model_len: int  # prompt + output tokens of a request
    chunk_tokens: int  # prompt tokens per iteration (chunked prefill budget)
    chips: int
    chips_per_node: int
    ep: int = 1
    adp: int = 0
    prefill: int = 0
    ranks_per_chip: int = 1
    summary: tuple[str, ...] = ()
    role: str = ""  # "prefill" or "decode": one pool of a disaggregated deployment
    pools: tuple[ServePick, ...] = ()  # disaggregated: the prefill pool's pick, then the decode pool's

    @property
    def replica_ranks(self) -> int:
        return self.tp * self.pp

    def split(self) -> tuple[ServePick, ...]:
        """The pools to launch: a disaggregated pick's two, the same-layout split of ``prefill`` of the
        replicas into two pools of that layout, or the pick itself."""
        if self.pools:
            return self.pools
        if self.prefill:
            return (attrs.evolve(self, dp=self.prefill, prefill=0, role="prefill"),
                    attrs.evolve(self, dp=self.dp - self.prefill, prefill=0, role="decode"))  # fmt: skip
        return (self,)


@attrs.frozen
class Emitted:
    framework: str
    targets: str  # the version written against and the source read
    text: str  # the whole command or file, comments included
    args: tuple[str, ...]  # the arguments alone (a parser can check them), or () for a config file
    not_expressed: tuple[str, ...]
    suffix: str  # a file name ending that fits the text: .sh, .toml, .yaml


@attrs.frozen
class Emitter:
    name: str
    kind: str  # "train" or "serve"
    describe: str
    write: Callable[[Any], Emitted]


# ----------------------------------------------------------------------------- shared text helpers


@attrs.frozen
class Arg:
    tokens: tuple[str, ...]  # the flag and its value(s), or a key=value override
    means: str  # what it sets, in the pick's terms


def arg(*tokens: Any, means: str) -> Arg:
    return Arg(tuple(str(t) for t in tokens), means)


def header(title: str, targets: str, pick: Any, not_expressed: Sequence[str], comment: str = "#") -> list[str]:
    lines = [f"{comment} {title}"]
    lines += [f"{comment} {line}" for line in pick.summary]
    lines.append(f"{comment} Targets {targets}.")
    lines.append(f"{comment} Written by hwprof; each setting's meaning and source: docs/emit.md.")
    if not_expressed:
        lines.append(f"{comment} Not expressed here (set by hand, or the run differs from the estimate):")
        lines += [f"{comment}   - {item}" for item in not_expressed]
    return lines


def bash_array(variable: str, args: Sequence[Arg]) -> list[str]:
    """``NAME=( ... )`` with one flag a line and what it sets in a comment beside it (bash allows
    comments inside an array assignment), so the block is both readable and runnable."""
    rendered = [" ".join(shlex.quote(t) for t in a.tokens) for a in args]
    width = min(48, max((len(r) for r in rendered), default=0))
    lines = [f"{variable}=("]
    lines += [f"  {r.ljust(width)}  # {a.means}" for r, a in zip(rendered, args, strict=True)]
    lines.append(")")
    return lines


def flat(args: Sequence[Arg]) -> tuple[str, ...]:
    return tuple(t for a in args for t in a.tokens)


def uneven_ends(layers: int, pp: int, vpp: int) -> tuple[int, int] | None:
    """Layers on the first and the last pipeline rank so that every middle rank holds ceil(L / pp)
    (the slowest stage the estimate assumes), neither end holds more, and each count divides by the
    virtual stages per rank; None when no such split exists. Megatron Core's rule
    (transformer_config.py, "Uneven PP"): the middle layers divide evenly over the pp - 2 middle ranks
    and every rank's count by the virtual pipeline size."""
    if pp < 2:
        return None
    heavy = -(-layers // pp)
    middle = heavy * (pp - 2)
    rest = layers - middle
    if heavy % vpp or rest < 2 * vpp:
        return None
    last = min(heavy, rest - vpp) // vpp * vpp
    first = rest - last
    if first > heavy or first < vpp or first % vpp or last < vpp:
        return None
    return min(first, last), max(first, last)  # the lighter end first: it also holds the embedding


def stage_counts(layers: int, stages: int) -> list[int]:
    """Layers per (virtual) stage, as even as they go, the lighter stages first (the first also holds
    the embedding)."""
    base, extra = divmod(layers, stages)
    return [base] * (stages - extra) + [base + 1] * extra


def interleaved_counts(layers: int, pp: int, vpp: int) -> list[int]:
    """Layers per virtual stage in model order (stage ``v x pp + r`` is rank r's v-th chunk), the extra
    layers on the last stages, so that they spread over the ranks and no rank holds more than
    ceil(layers / pp), the slowest stage the estimate assumes."""
    return stage_counts(layers, pp * vpp)


def megatron_layout(counts: list[int]) -> str:
    """Megatron Core's ``pipeline_model_parallel_layout`` text for these per-stage layer counts: stages
    split by ``|``, ``t`` a transformer layer (``t*3`` three), ``E`` the embedding on the first stage,
    ``L`` the loss on the last (pipeline_parallel_layer_layout.py, parse_str_to_list)."""
    stages = [f"t*{n}" if n > 1 else "t" * n for n in counts]
    if len(stages) == 1:
        return f"E,{stages[0]},L"
    runs = [(stage, len(list(group))) for stage, group in itertools.groupby(stages[1:-1])]  # (stage|)*n
    body = "".join(f"({stage}|)*{n}" if n > 1 else f"{stage}|" for stage, n in runs)
    return f"E,{stages[0]}|{body}{stages[-1]},L"
