"""Search the layouts of one job: every combination of tp, pp, vpp, cp, ep, etp, mb, ZeRO stage and
recompute that the chip count allows, evaluated at once on numpy arrays (millions of layouts a
second on one core; ``benchmarks/search.py``), or one by one without numpy.

The rules (``layout.rules``), memory (``memory.memory``) and step time (``step.step``) are the same
functions the single estimate uses, so the search keeps no layout the estimate would refuse.

The numpy search never lists its candidates one by one. They are a product: the degrees and
virtual stages (tp, cp, pp, dp, etp, vpp, ep: a few thousand at most, from divisor lists), times the
micro-batch, times ZeRO stage x recompute x sp. The rules read neither ZeRO stage, recompute nor
sp, so they run once per (degrees, micro-batch); memory and step time run on the survivors as
arrays that broadcast over the last three (a formula that reads only tp and pp costs one element
per degree set, not per candidate). ``candidates`` lists the same layouts in the same order one at a
time: the plain-Python search uses it, and the tests check the two agree.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import attrs

from ..arith import SCALAR
from . import layout as lay_mod
from .layout import RECOMPUTE, Layout
from .memory import memory
from .step import step

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
    """The divisors of ``n`` in increasing order (none below 1) in sqrt(n) steps: a billion chips
    takes 31,623 of them, not a billion."""
    return list(_divisor_tuple(n))


@functools.lru_cache(maxsize=1024)
def _divisor_tuple(n: int) -> tuple[int, ...]:
    # A plan asks for the same few numbers thousands of times (every count's tp, cp and pp lists).
    small: list[int] = []
    large: list[int] = []
    d = 1
    while d * d <= n:
        if n % d == 0:
            small.append(d)
            if d * d != n:
                large.append(n // d)
        d += 1
    return (*small, *large[::-1])


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
    try:
        if not use_numpy:
            raise ImportError
        import numpy as np
    except ImportError:
        rows = list(candidates(job, fixed))
        return _search_scalar(rows, job, top) if rows else Found((), (), 0, {"chips": 1})
    return _search_arrays(job, fixed or {}, top, np)


# Fields of the degree sets, the outer part of the candidate product (module docstring).
OUTER = ("tp", "pp", "dp", "cp", "ep", "vpp", "uneven", "etp")


def _outer(job: Any, fixed: dict[str, Any], np: Any) -> dict[str, Any]:
    """Columns (tp, pp, dp, cp, ep, vpp, uneven, etp) in ``candidates``' order: its loops without the
    innermost product over mb, zero, recompute and sp (``_inner``). The loops over degrees run here
    (a few hundred blocks); each block's vpp x ep product is laid out with numpy."""
    has = fixed.__contains__
    n = job.chips
    tps = [fixed["tp"]] if has("tp") else [d for d in _divisors(n) if d <= max(job.domain, 1) or job.cross_domain]
    lowest = fixed.get("min_vpp", 1)
    blocks: list[tuple[int, int, int, int, int, int, int, int]] = []  # tp, pp, dp, cp, etp, first vpp, vpps, eps
    eps_all: list[int] = []
    for tp in tps:
        rest = n // tp if n % tp == 0 else 0
        cps = [fixed["cp"]] if has("cp") else [c for c in _divisors(rest) if job.seq_len % (2 * c) == 0 or c == 1]
        for cp in cps:
            if not rest or rest % cp:
                continue
            pps = [fixed["pp"]] if has("pp") else [p for p in _divisors(rest // cp) if p <= job.layers]
            for pp in pps:
                if (rest // cp) % pp:
                    continue
                dp = rest // cp // pp
                if has("dp") and fixed["dp"] != dp:
                    continue
                # vpp takes consecutive values: the one given, else min_vpp to MAX_VIRTUAL (1 alone without pp)
                first, vpps = ((fixed["vpp"], 1) if has("vpp") else (lowest, max(0, MAX_VIRTUAL + 1 - lowest)) if pp > 1
                               else (1, int(lowest <= 1)))  # fmt: skip
                for etp in [fixed["etp"]] if has("etp") else sorted({1, tp}) if job.experts else [tp]:
                    eps = ([fixed["ep"]] if has("ep") else
                           [e for e in _divisors(tp * dp * cp // etp) if job.experts % e == 0] if job.experts else [1])  # fmt: skip
                    blocks.append((tp, pp, dp, cp, etp, first, vpps, len(eps)))
                    eps_all += eps
    cols = np.array(blocks, dtype=np.int64).reshape(-1, 8).T
    tp, pp, dp, cp, etp, first, vpps, neps = cols
    size = vpps * neps
    block = np.repeat(np.arange(len(blocks)), size)
    # position inside each block: vpp outer, ep inner
    at = np.arange(block.size) - np.repeat(np.cumsum(size) - size, size)
    vi, ei = np.divmod(at, neps[block])
    ep_start = np.cumsum(neps) - neps
    vpp = first[block] + vi
    pp_rows = pp[block]
    uneven = (np.full(block.size, fixed["uneven"], dtype=np.int64) if has("uneven")
              else (job.layers % (pp_rows * vpp) != 0).astype(np.int64))  # fmt: skip
    ep = np.array(eps_all, dtype=np.int64)[ep_start[block] + ei] if eps_all else np.zeros(0, dtype=np.int64)
    return {"tp": tp[block], "pp": pp_rows, "dp": dp[block], "cp": cp[block], "ep": ep, "vpp": vpp,
            "uneven": uneven, "etp": etp[block]}  # fmt: skip


def _inner(fixed: dict[str, Any]) -> tuple[list[int], list[int], list[int], list[int], int]:
    """(micro-batches, ZeRO stages, recompute codes, sp values, gradient bits): the innermost product."""
    mbs = [fixed["mb"]] if "mb" in fixed else list(MICRO_BATCHES)
    zeros = [fixed["zero"]] if "zero" in fixed else list(ZERO_STAGES)
    codes = [RECOMPUTE.index(fixed["recompute"])] if "recompute" in fixed else [0, 1, 2]
    sps = [fixed["sp"]] if "sp" in fixed else [1]
    return mbs, zeros, codes, sps, fixed.get("grads", 32)


def candidate_table(job: Any, fixed: dict[str, Any] | None = None) -> Any:
    """``candidates`` as one int64 array: a row per field of FIELDS, a column per layout, same order."""
    import numpy as np

    fixed = fixed or {}
    outer = _outer(job, fixed, np)
    mbs, zeros, codes, sps, grads = _inner(fixed)
    inner = np.array(list(itertools.product(mbs, zeros, codes, sps)), dtype=np.int64)
    o, i = len(outer["tp"]), len(inner)
    cols = {name: np.repeat(outer[name], i) for name in OUTER}
    cols |= {name: np.tile(inner[:, k], o) for k, name in enumerate(("mb", "zero", "recompute_code", "sp"))}
    cols["grads"] = np.full(o * i, grads, dtype=np.int64)
    return np.stack([cols[name] for name in FIELDS])


def _search_arrays(job: Any, fixed: dict[str, Any], top: int, np: Any) -> Found:
    """``search`` on arrays in two stages (module docstring); the same layouts, step times, refusal
    counts and ties as evaluating every candidate in ``candidates``' order (``evaluate_arrays``)."""
    outer = _outer(job, fixed, np)
    mbs, zeros, codes, sps, grads = _inner(fixed)
    per_mb = len(zeros) * len(codes) * len(sps)
    total = len(outer["tp"]) * len(mbs) * per_mb
    if not total:
        return Found((), (), 0, {"chips": 1})
    mb = np.array(mbs, dtype=np.int64)
    # Stage 1: the rules over (degree set, micro-batch); ZeRO stage, recompute and sp at any value (unread).
    shape = (len(outer["tp"]), len(mbs))
    first = Grid(**{k: v[:, None] for k, v in outer.items()}, mb=mb[None, :], zero=zeros[0],
                 recompute_code=codes[0], sp=sps[0], grads=grads)  # fmt: skip
    refused: dict[str, int] = {}
    alive = np.ones(shape, dtype=bool)
    for rule, passed in lay_mod.rules(np, first, job):
        failed = alive & ~np.broadcast_to(passed, shape)
        if n := int(np.count_nonzero(failed)):
            refused[rule] = n * per_mb
            alive &= ~failed
    pairs = np.flatnonzero(alive)
    if not pairs.size:
        return Found((), (), total, refused)
    # Stage 2: memory and step time over survivors x zero x recompute x sp, flattened in candidates' order.
    which, mi = np.divmod(pairs, len(mbs))
    column = (slice(None), None, None, None)
    second = Grid(**{k: v[which][column] for k, v in outer.items()}, mb=mb[mi][column],
                  zero=np.array(zeros)[None, :, None, None], recompute_code=np.array(codes)[None, None, :, None],
                  sp=np.array(sps)[None, None, None, :], grads=grads)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mem = memory(second, job, np)
        fits = np.broadcast_to(mem.total <= mem.usable, (pairs.size, len(zeros), len(codes), len(sps)))
        if n := fits.size - int(np.count_nonzero(fits)):
            refused["memory"] = n
        seconds = np.where(fits, step(second, job, np).total, np.inf).ravel()
    best = _fastest(seconds, top, np)

    def layout_at(i: int) -> Layout:
        pair, rest = divmod(i, per_mb)
        z, rest = divmod(rest, len(codes) * len(sps))
        rc, sp = divmod(rest, len(sps))
        at = {k: int(v[which[pair]]) for k, v in outer.items()}
        return Layout(**at, mb=mbs[mi[pair]], zero=zeros[z], recompute=RECOMPUTE[codes[rc]], sp=sps[sp], grads=grads)

    return Found(tuple(layout_at(i) for i in best), tuple(float(seconds[i]) for i in best), total, refused)


def _fastest(seconds: Any, top: int, np: Any) -> list[int]:
    """Indices of the ``top`` smallest finite ``seconds``, ties in index order (a stable sort's first
    ``top``), without sorting them all."""
    if top < 1 or not seconds.size:
        return []
    seconds = np.where(np.isnan(seconds), np.inf, seconds)
    k = min(top, seconds.size) - 1
    near = np.flatnonzero(seconds <= np.partition(seconds, k)[k])
    return [int(i) for i in near[np.argsort(seconds[near], kind="stable")][:top] if np.isfinite(seconds[i])]


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
