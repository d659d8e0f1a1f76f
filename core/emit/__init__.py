"""The pick of a plan or an estimate as a framework's own launch arguments or config file.

Each framework has one small module here (``megatron``, ``bridge``, ``torchtitan``, ``vllm``, ``sglang``,
``trtllm``); a plugin adds others through ``hwprof_register_emitters``. An emitter is a pure function of
a ``TrainPick`` or ``ServePick`` to an ``Emitted``: the text (a bash array of flags with a comment on each,
or a TOML / YAML file), the bare arguments (for a parser to check), the framework version it was written
against, and what it could not express. What a framework cannot express is said, never guessed: a
layout it has no flag for is listed under "not expressed" rather than emitted as something else.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import HwprofError
from .base import (
    Arg,
    Emitted,
    Emitter,
    ServePick,
    TrainPick,
    arg,
    bash_array,
    flat,
    header,
    interleaved_counts,
    megatron_layout,
    stage_counts,
    uneven_ends,
)

__all__ = ["Arg", "Emitted", "Emitter", "ServePick", "TrainPick", "arg", "bash_array", "builtin", "emitters", "flat",
           "header", "interleaved_counts", "megatron_layout", "stage_counts", "uneven_ends", "write"]  # fmt: skip


def builtin() -> list[Emitter]:
    from . import bridge, megatron, sglang, torchtitan, trtllm, vllm

    return [megatron.EMITTER, bridge.EMITTER, torchtitan.EMITTER, vllm.EMITTER, sglang.EMITTER, trtllm.EMITTER]


def emitters(extra: Sequence[Emitter] = ()) -> dict[str, Emitter]:
    """Built-in emitters and those plugins register, by name (a plugin's name never replaces a built-in)."""
    found = {e.name: e for e in extra if isinstance(e, Emitter)}
    found.update({e.name: e for e in builtin()})
    return found


def write(name: str, kind: str, pick: TrainPick | ServePick, extra: Sequence[Emitter] = ()) -> Emitted:
    """The pick in framework ``name``'s own terms; a clear error naming the choices otherwise."""
    known = {n: e for n, e in emitters(extra).items() if e.kind == kind}
    key = name.strip().lower()
    if key not in known:
        raise HwprofError(
            f"no {kind} launch format of that name; use one of {', '.join(sorted(known))}", subject="emit", value=name
        )
    return known[key].write(pick)
