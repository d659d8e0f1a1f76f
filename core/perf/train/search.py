"""Search the layouts of one job: every combination of tp, pp, vpp, cp, ep, etp, mb, ZeRO stage and
recompute that the chip count allows, evaluated at once on numpy arrays (about a million layouts
a second on one core; ``benchmarks/search.py``), or one by one without numpy.

The rules (``layout.rules``), memory (``memory.memory``) and step time (``step.step``) are the same
functions the single estimate uses, so the search keeps no layout the estimate would refuse.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import attrs

from hwprof.perf.arith import SCALAR
from hwprof.perf.train import layout as lay_mod
from hwprof.perf.train.layout import RECOMPUTE, Layout
from hwprof.perf.train.memory import memory
from hwprof.perf.train.step import step

MICRO_BATCHES = (1, 2, 4, 8)
MAX_VIRTUAL = 8
ZERO_STAGES = (0, 1, 2, 3)


@attrs.frozen
class Found:
    """The best layouts of a job, fastest first, and why the others were refused."""

    layouts: tuple[Layout, ...]
    step_s: tuple[float, ...]
    evaluated: int
    refused: dict[str, int]  # rule -> layouts it refused (first failing rule counts)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def candidates(job: Any, fixed: dict[str, Any] | None = None) -> Iterator[tuple[int, ...]]:
    """(tp, pp, dp, cp, ep, vpp, mb, zero, recompute_code, sp, uneven, grads, etp) tuples whose degrees multiply to the
    chips (grads as given: a numerics choice, not searched; uneven where pp x vpp does not divide the layers,
    unless given: Megatron-LM and Llama 3 split layers unevenly, so 126 layers can run on 16 stages)."""
    fixed = fixed or {}
    n = job.chips

    def pick(key: str, default: Any = None) -> Any:
        return fixed.get(key, default) if fixed else default

    tps = [pick("tp")] if "tp" in fixed else [d for d in _divisors(n) if d <= max(job.domain, 1) or job.cross_domain]
    recompute = [RECOMPUTE.index(pick("recompute"))] if "recompute" in fixed else [0, 1, 2]
    for tp in tps:
        rest = n // tp if n % tp == 0 else 0
        cps = [pick("cp")] if "cp" in fixed else [c for c in _divisors(rest) if job.seq_len % (2 * c) == 0 or c == 1]
        for cp in cps:
            if not rest or rest % cp:
                continue
            pps = [pick("pp")] if "pp" in fixed else [p for p in _divisors(rest // cp) if p <= job.layers]
            for pp in pps:
                if (rest // cp) % pp:
                    continue
                dp = rest // cp // pp
                if "dp" in fixed and fixed["dp"] != dp:
                    continue
                vpps = [pick("vpp")] if "vpp" in fixed else [v for v in range(pick("min_vpp", 1), MAX_VIRTUAL + 1)
                                                              if v == 1 or pp > 1]  # fmt: skip
                # Experts whole (etp = 1) or split like the dense MLP (etp = tp); a dense model has no
                # experts to split, so one value (tp) keeps its candidates from doubling.
                etps = [pick("etp")] if "etp" in fixed else sorted({1, tp}) if job.experts else [tp]
                mbs = [pick("mb")] if "mb" in fixed else list(MICRO_BATCHES)
                zeros = [pick("zero")] if "zero" in fixed else list(ZERO_STAGES)
                sps = [pick("sp")] if "sp" in fixed else [1]
                grads = pick("grads", 32)
                for etp in etps:
                    # the expert-parallel group folds over tp x dp x cp / etp ranks (``layout.rules``)
                    folds = [e for e in _divisors(tp * dp * cp // etp) if job.experts % e == 0] if job.experts else [1]
                    eps = [pick("ep")] if "ep" in fixed else folds
                    for vpp in vpps:
                        uneven = fixed["uneven"] if "uneven" in fixed else int(job.layers % (pp * vpp) != 0)
                        for ep, mb, zero, rc, sp in itertools.product(eps, mbs, zeros, recompute, sps):
                            yield (tp, pp, dp, cp, ep, vpp, mb, zero, rc, sp, uneven, grads, etp)


FIELDS = ("tp", "pp", "dp", "cp", "ep", "vpp", "mb", "zero", "recompute_code", "sp", "uneven", "grads", "etp")


@attrs.frozen
class Grid:
    """Layouts as arrays, one per field (what the formulas read)."""

    tp: Any
    pp: Any
    dp: Any
    cp: Any
    ep: Any
    vpp: Any
    mb: Any
    zero: Any
    recompute_code: Any
    sp: Any
    uneven: Any
    grads: Any
    etp: Any


def to_layout(values: tuple[int, ...]) -> Layout:
    tp, pp, dp, cp, ep, vpp, mb, zero, rc, sp, uneven, grads, etp = (int(v) for v in values)
    return Layout(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, mb=mb, zero=zero, recompute=RECOMPUTE[rc], sp=sp,
                  uneven=uneven, grads=grads, etp=etp)  # fmt: skip


def evaluate(grid: Any, job: Any, xp: Any) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """(step seconds, feasible, [(rule, ok)]) for a Grid of arrays (or one Layout with SCALAR)."""
    checks = lay_mod.rules(xp, grid, job)
    mem = memory(grid, job, xp)
    checks.append(("memory", mem.total <= mem.usable))
    ok = checks[0][1]
    for _, passed in checks[1:]:
        ok = ok & passed
    return step(grid, job, xp).total, ok, checks


def search(job: Any, fixed: dict[str, Any] | None = None, top: int = 2, use_numpy: bool = True) -> Found:
    """The ``top`` fastest valid layouts of ``job`` (``fixed`` pins some keys, e.g. a published tp)."""
    rows = list(candidates(job, fixed))
    if not rows:
        return Found((), (), 0, {"chips": 1})
    try:
        if not use_numpy:
            raise ImportError
        import numpy as np
    except ImportError:
        return _search_scalar(rows, job, top)
    table = np.array(rows, dtype=np.int64).T
    seconds, refused = evaluate_arrays(table, job, np)
    order = np.argsort(seconds, kind="stable")[:top]
    best = [i for i in order if np.isfinite(seconds[i])]
    return Found(tuple(to_layout(tuple(table[:, i])) for i in best), tuple(float(seconds[i]) for i in best),
                 len(rows), refused)  # fmt: skip


def evaluate_arrays(table: Any, job: Any, np: Any) -> tuple[Any, dict[str, int]]:
    """Step seconds for each column of ``table`` (one layout per column; inf where refused) and the
    refusal counts. The rules run on every layout; memory and step time only on those the rules
    keep (most candidates break a rule), which is where the time goes."""
    grid = Grid(*table)
    checks = lay_mod.rules(np, grid, job)
    seconds = np.full(table.shape[1], np.inf)
    alive = np.ones(table.shape[1], dtype=bool)
    for _, passed in checks:
        alive &= passed
    keep = np.flatnonzero(alive)
    fits = np.zeros(table.shape[1], dtype=bool)
    if keep.size:
        sub = Grid(*table[:, keep])
        with np.errstate(divide="ignore", invalid="ignore"):
            mem = memory(sub, job, np)
            ok = mem.total <= mem.usable
            fits[keep] = ok
            seconds[keep[ok]] = step(Grid(*table[:, keep[ok]]), job, np).total
    checks.append(("memory", fits | ~alive))
    refused = _refusals([(rule, np.broadcast_to(passed, seconds.shape)) for rule, passed in checks], np)
    return seconds, refused


def _refusals(checks: list[tuple[str, Any]], np: Any) -> dict[str, int]:
    """How many layouts each rule refused first (in the order of the rules)."""
    out: dict[str, int] = {}
    alive = np.ones(checks[0][1].shape, dtype=bool)
    for rule, passed in checks:
        failed = alive & ~passed
        if failed.any():
            out[rule] = int(failed.sum())
        alive &= passed
    return out


def _search_scalar(rows: list[tuple[int, ...]], job: Any, top: int) -> Found:
    """The same search, one layout at a time (no numpy; also the benchmark's baseline)."""
    scored: list[tuple[float, int]] = []
    refused: dict[str, int] = {}
    for i, row in enumerate(rows):
        one = to_layout(row)
        seconds, ok, checks = evaluate(one, job, SCALAR) if _safe(one, job) else (0.0, False, [("batch", False)])
        if ok:
            scored.append((seconds, i))
        else:
            rule = next(rule for rule, passed in checks if not passed)
            refused[rule] = refused.get(rule, 0) + 1
    scored.sort()
    best = scored[:top]
    return Found(tuple(to_layout(rows[i]) for _, i in best), tuple(s for s, _ in best), len(rows), refused)


def _safe(one: Layout, job: Any) -> bool:
    """Whether the formulas can run on ``one`` (at least one micro-batch), as the array path masks."""
    return bool(job.batch_seqs // (one.dp * one.mb) >= 1)
