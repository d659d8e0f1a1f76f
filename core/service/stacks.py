"""Software stacks: which ones the loaded data knows, the one an estimate on a chip assumes, and the
evidence class its efficiency rests on (``perf.ranges``: own, corrected, borrowed, other).

Efficiency belongs to a chip *and* its software stack. Unless told, each chip runs on its own
default stack (``training_stack`` / ``serving_stack`` in its profile): the one its published runs
used, so its best-evidenced one. A stack named with ``stack`` applies to every chip; a chip none of
whose calibration runs used it keeps its own efficiency, borrowed, and its range widens (class
``other``). A name no profile or published result knows is refused: it is a typo more often than a
new stack, and a new stack is data (a profile naming it, or a published result run on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..errors import HwprofError, did_you_mean
from .session import current_registry

KIND_WORD = {"train": "training", "serve": "serving"}
CLASS_WORD = {"own": "measured", "corrected": "measured", "borrowed": "borrowed", "other": "borrowed"}


def known(kind: str) -> list[str]:
    """Every stack of ``kind`` (train or serve) the loaded data names: the chips' default stacks and the
    others their profiles say run on them, the serving stacks they describe, and the stacks published
    results ran on."""
    r = current_registry()
    names: set[str] = {c.stack for c in r.validation_cases.values() if c.kind == kind and c.stack}
    for chip in r.chips.values():
        default = getattr(chip, f"{KIND_WORD[kind]}_stack", None)
        names |= {default.value} if default and default.value else set()
        if kind == "serve":
            names |= set(chip.serving_stacks)
        elif chip.training_stacks is not None:
            names |= {n.strip() for n in chip.training_stacks.value.split(",") if n.strip()}
    return sorted(names)


def checked(stack: str | None, kind: str) -> str | None:
    """``stack`` stripped, or None (each chip's default); one clear error when it is empty or unknown."""
    if stack is None:
        return None
    name = stack.strip()
    names = known(kind)
    if not name:
        raise HwprofError(f"empty: name a {KIND_WORD[kind]} software stack ({', '.join(names)}), or leave it out "
                          "for each chip's default", subject="stack", value=stack)  # fmt: skip
    if name not in names:
        hint = did_you_mean(name, names)
        raise HwprofError(f"no profile or published result knows this {KIND_WORD[kind]} stack{hint}; known: "
                          f"{', '.join(names) or 'none'} (leave it out for each chip's default)",
                          subject="stack", value=name)  # fmt: skip
    return name


def default(chip: Any, kind: str) -> str:
    """The stack estimates on ``chip`` assume unless told ("" when its profile names none)."""
    if kind == "serve":
        from ..perf.serve import layout as sl

        return sl.stack_of(chip).name
    fact = getattr(chip, "training_stack", None)
    return fact.value if fact else ""


def published_chips(kind: str) -> Any:
    """The chips with published results of this kind on file (``perf.ranges.own_chips``); a chip whose
    record an override replaced is not among them: the runs were measured on the chip it replaced."""
    from ..perf import ranges

    r = current_registry()
    replaced = {key for attribute, key in r.overridden if attribute == "chips"}
    return frozenset(ranges.own_chips(r.validation_cases.values(), kind)) - replaced


def evidence(chip: Any, kind: str, stack: str | None) -> str:
    """The evidence class of an estimate of ``kind`` on ``chip`` on ``stack`` (default: the chip's);
    a serving stack whose fixed costs are borrowed is ``borrowed`` at best."""
    from ..perf import ranges

    cases = current_registry().validation_cases.values()
    found = ranges.evidence(kind, chip, published_chips(kind), stack or "", ranges.own_stacks(cases, kind))
    if kind != "serve":
        return found
    from ..perf.serve import serving as serve_model

    return serve_model.stack_evidence(found, serving(chip, stack))


def serve_constants() -> Any:
    """The shipped serving constants with what a stack's floors borrow through: every chip, and the
    (chip, stack) pairs of the serving calibration runs on file (``perf.serve.layout.floor_source``);
    a chip whose record an override replaced has none (as ``published_chips``)."""
    from ..perf import ranges
    from ..perf.serve import layout as sl

    r = current_registry()
    replaced = {key for attribute, key in r.overridden if attribute == "chips"}
    measured = frozenset(p for p in ranges.own_stacks(r.validation_cases.values(), "serve") if p[0] not in replaced)
    return attrs.evolve(sl.SHIPPED, evidence=sl.StackEvidence(dict(r.chips), measured))


def serving(chip: Any, stack: str | None) -> Any:
    """The serving stack's fixed costs and prompt scheduling on ``chip`` (``perf.serve.layout.StackServing``):
    its own where a calibration run measured them, else the nearest chip x stack's with one
    (``perf.serve.layout.floor_source``: the same runtime on this chip, then the nearest chips); a stack
    nothing in reach describes borrows the chip's default stack's figures under its own name (no
    description is no reason to assume no fixed costs)."""
    from ..perf.serve import layout as sl

    k = serve_constants()
    if stack is None or stack in chip.serving_stacks or sl.floor_source(chip, stack, k) is not None:
        return sl.stack_of(chip, stack, k)
    default = sl.stack_of(chip, None, k)
    here = f"{default.name or 'none'} on {chip.id}"
    return attrs.evolve(default, name=stack, borrowed=True, floors_from=default.floors_from or here,
                        prefill_from=default.prefill_from or (here if default.prefill_efficiency != 1.0 else ""))  # fmt: skip


def serve_band(chip: Any, stack: str | None) -> Any:
    """The range of a serving estimate on ``chip`` and ``stack`` (``perf.ranges.band``)."""
    from ..perf import ranges

    return ranges.band("serve", evidence(chip, "serve", stack))


def unlisted(chip: Any, stack: str | None) -> str:
    """A clause when ``chip``'s profile lists the serving stacks it runs and ``stack`` is not among them, nor
    was any published result on the chip run on it: such an estimate describes software the chip may not run."""
    listed = sorted(chip.serving_stacks)
    ran = {c.stack for c in current_registry().validation_cases.values() if c.chip == chip.id and c.kind == "serve"}
    if not stack or not listed or stack in listed or stack in ran:
        return ""
    return f"; {chip.id}'s profile does not list {stack} among the stacks it runs ({', '.join(listed)})"


def serve_basis(chip: Any, stack: str | None, evidence_class: str) -> str:
    """What a serving estimate's stack rests on, in words."""
    return _serve_basis(chip, stack, evidence_class) + unlisted(chip, stack)


def _serve_basis(chip: Any, stack: str | None, evidence_class: str) -> str:
    if evidence_class == "borrowed":
        floors = serving(chip, stack)
        where = f"; its fixed costs from {floors.floors_from}" if floors.borrowed else ""
        where += f"; its prefill efficiency from {floors.prefill_from}" if floors.prefill_from else ""
        from ..perf import ranges

        if ranges.chips_like(chip) & published_chips("serve"):  # runs on the chip: the stack's figures are borrowed
            return f"{'given' if stack else 'the chip default'}; no calibration run measured it on this chip{where}"
        return f"no published serving run on this chip: its efficiency is borrowed (see range){where}"
    if evidence_class == "other":
        floors = serving(chip, stack)
        where = f"its fixed costs borrowed from {floors.floors_from}" if floors.borrowed else (
            "its fixed costs are the profile's")  # fmt: skip
        return f"given; no published serving run on this chip used it: {where}, the range widened"
    if stack:
        return "given; its efficiency is the published runs on it"
    return "the chip's default serving stack: its efficiency is the published runs on it"


def mixed_note(rows: Iterable[tuple[str, str, str]]) -> str:
    """One line when compared rows rest on different evidence classes ((label, stack, class) each):
    the comparison then sets a measured stack against a borrowed one, or chips unequally measured."""
    found = list(rows)
    if len({cls for _, _, cls in found}) < 2:
        return ""
    each = ", ".join(f"{label} {cls} ({stack or 'none stated'})" for label, stack, cls in found)
    both = {CLASS_WORD[cls] for _, _, cls in found} == {"measured", "borrowed"}
    return (f"rows rest on different evidence: {each}; "
            + ("a measured stack is compared with a borrowed one, " if both else "")
            + "so read the ranges, not only the expected figures")  # fmt: skip
