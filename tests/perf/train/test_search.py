"""The layout search against a brute-force loop written here: the candidates are every combination
of degrees that multiply to the chips (enumerated independently below), the best layout is the
minimum of the scalar estimator (``step.step``) over the candidates that pass every rule and fit,
and each refusal is counted against the first rule a layout breaks.

Nothing here pins a step time: the expectations come from the model's own scalar formulas, so the
tests hold whatever its constants are.
"""

from __future__ import annotations

import itertools
import math

import attrs
import pytest

from hwprof.perf import comm
from hwprof.perf.arith import SCALAR
from hwprof.perf.train import layout, memory, search, step
from hwprof.perf.train.job import Constants, Job

UP = comm.Link("up", gb_s_per_direction=100, efficiency=1.0, latency_us=1.0)
OUT = comm.Link("out", gb_s_per_direction=10, efficiency=1.0, latency_us=5.0)
CONSTANTS = Constants(matmul_16bit=0.5, matmul_8bit=0.4, half_width=512.0, overlap_slowdown=0.1, expert_overlap=0.25)
JOB = Job(name="toy", params=1.2e9, active_params=1.2e9, layers=8, hidden=1024, heads=8, kv_heads=8, head_dim=128,
          seq_len=2048, batch_seqs=64, chips=16, domain=8, memory_bytes=80e9, memory_bw=2e12, peak_matmul=1e15,
          peak_16bit=1e15, constants=CONSTANTS, tiers=(comm.Tier(8, UP), comm.Tier(16, OUT)))  # fmt: skip
# A mixture of experts: 8 experts, 2 per token; 6e9 parameters of which 1.5e9 active.
MOE = attrs.evolve(JOB, name="moe", params=6e9, active_params=1.5e9, experts=8, experts_per_token=2,
                   expert_params=(6e9 - 1.5e9) * 8 / 6, moe_layers=8)  # fmt: skip


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def brute_candidates(job: Job) -> set[tuple[int, ...]]:
    """Every (tp, pp, dp, cp, ep, vpp, mb, zero, recompute code, sp, uneven, grads, etp) the search should try:
    a mixture of experts also tries its experts whole (etp 1, ep over tp x dp x cp) and split by tp (etp tp,
    ep over dp x cp); a dense model one etp (tp), so its candidates do not double."""
    out = set()
    for tp in divisors(job.chips):
        if tp > max(job.domain, 1) and not job.cross_domain:
            continue
        for cp in divisors(job.chips // tp):
            if cp > 1 and job.seq_len % (2 * cp):
                continue
            for pp in divisors(job.chips // tp // cp):
                if pp > job.layers:
                    continue
                dp = job.chips // (tp * cp * pp)
                vpps = range(1, search.MAX_VIRTUAL + 1) if pp > 1 else [1]
                pairs = [(tp, 1)]
                if job.experts:
                    pairs = [(tp, e) for e in divisors(dp * cp) if job.experts % e == 0]
                    pairs += [(1, e) for e in divisors(tp * dp * cp) if job.experts % e == 0 and tp > 1]
                for (etp, ep), vpp, mb, zero, rc in itertools.product(pairs, vpps, search.MICRO_BATCHES,
                                                                      search.ZERO_STAGES, range(3)):  # fmt: skip
                    # layers that pp x vpp stages do not divide are split unevenly (as Megatron and Llama 3 do)
                    uneven = 1 if job.layers % (pp * vpp) else 0
                    out.add((tp, pp, dp, cp, ep, vpp, mb, zero, rc, 1, uneven, 32, etp))
    return out


def first_failing(lay: layout.Layout, job: Job) -> str | None:
    for rule, ok in layout.rules(SCALAR, lay, job):
        if not ok:
            return rule
    need = memory.memory(lay, job)
    return None if need.total <= need.usable else "memory"


def brute_search(job: Job, rows: list[tuple[int, ...]]) -> tuple[list[tuple[float, int]], dict[str, int]]:
    scored, refused = [], {}
    for i, row in enumerate(rows):
        lay = search.to_layout(row)
        rule = first_failing(lay, job)
        if rule is None:
            scored.append((float(step.step(lay, job).total), i))
        else:
            refused[rule] = refused.get(rule, 0) + 1
    return sorted(scored), refused


def with_memory_cut(job: Job) -> Job:
    """The job on chips whose usable memory is the median need of the rule-passing layouts: about
    half the layouts the rules keep are then refused for memory."""
    needs = sorted(float(memory.memory(search.to_layout(r), job).total) for r in search.candidates(job)
                   if first_failing(search.to_layout(r), job) is None)  # fmt: skip
    usable = needs[len(needs) // 2]
    return attrs.evolve(job, memory_bytes=usable / job.constants.usable_memory)


def test_the_search_space_is_what_the_docstring_names() -> None:
    assert search.ZERO_STAGES == (0, 1, 2, 3)  # ZeRO's stages (none, optimizer, + gradients, + weights)
    assert search.MICRO_BATCHES[0] == 1 and all(b > 0 and b & (b - 1) == 0 for b in search.MICRO_BATCHES)
    assert list(search.MICRO_BATCHES) == sorted(set(search.MICRO_BATCHES))
    assert search.MAX_VIRTUAL >= 2
    assert tuple(f.name for f in attrs.fields(search.Grid)) == search.FIELDS


@pytest.mark.parametrize(
    "job",
    [
        JOB,
        MOE,
        attrs.evolve(JOB, cross_domain=True, heads=16),
        attrs.evolve(JOB, seq_len=2050, chips=12, batch_seqs=48),  # cp > 1 never splits 2,050 into 2 cp chunks
        attrs.evolve(JOB, layers=2, chips=8, domain=4),  # pp above the layers is never tried
        attrs.evolve(JOB, chips=4, domain=1),  # no scale-up link: tp 1 only
    ],
)
def test_candidates_are_every_combination_of_degrees(job: Job) -> None:
    rows = list(search.candidates(job))
    assert len(rows) == len(set(rows))
    assert set(rows) == brute_candidates(job)
    for tp, pp, dp, cp, *_ in rows:
        assert tp * pp * dp * cp == job.chips


def test_fixed_keys_keep_only_matching_candidates() -> None:
    every = brute_candidates(JOB)
    names = search.FIELDS
    for fixed in ({"tp": 2}, {"pp": 4}, {"cp": 2}, {"vpp": 2}, {"mb": 2}, {"zero": 3}, {"recompute": "full"},
                  {"tp": 2, "pp": 2, "dp": 4}, {"tp": 4, "dp": 4}, {"tp": 2, "dp": 4}):  # fmt: skip
        got = set(search.candidates(JOB, fixed))
        pinned = {names.index("recompute_code" if k == "recompute" else k):
                  layout.RECOMPUTE.index(v) if k == "recompute" else v for k, v in fixed.items()}  # fmt: skip
        # degrees (tp, pp, dp, cp) filter the combinations; the other keys replace what the grid varies
        wanted = {tuple(pinned.get(j, x) for j, x in enumerate(r)) for r in every
                  if all(r[j] == v for j, v in pinned.items() if j < 4)}  # fmt: skip
        # a pinned vpp changes which splits are uneven
        wanted = {(*r[:10], int(JOB.layers % (r[1] * r[5]) != 0), *r[11:]) for r in wanted}
        assert got == wanted and got, fixed
    # a dp that does not follow from the other degrees leaves nothing
    assert not list(search.candidates(JOB, {"tp": 2, "pp": 2, "dp": 2, "cp": 1}))
    # a fixed tp that does not divide the chips leaves nothing, whatever else is fixed; so does a cp
    # that does not divide what tp leaves
    assert not list(search.candidates(JOB, {"tp": 3}))
    assert not list(search.candidates(JOB, {"tp": 3, "cp": 1, "pp": 1}))
    assert not list(search.candidates(JOB, {"cp": 3}))
    assert not list(search.candidates(JOB, {"tp": 2, "cp": 3, "pp": 1}))
    # keys the default grid does not vary: sp and uneven are carried through
    assert {r[9:12] for r in search.candidates(JOB, {"sp": 0, "uneven": 1, "tp": 1})} == {(0, 1, 32)}
    assert {r[10] for r in search.candidates(JOB, {"uneven": 0})} == {0}  # a given even split stays even
    # not given: uneven exactly where pp x vpp does not divide the layers
    rows = list(search.candidates(JOB))
    assert {r[10] for r in rows} == {0, 1}
    assert all(r[10] == int(JOB.layers % (r[1] * r[5]) != 0) for r in rows)
    assert {r[11] for r in search.candidates(JOB, {"grads": 16})} == {16}  # as given, never searched
    moe = set(search.candidates(MOE, {"ep": 2}))
    assert moe and {r[4] for r in moe} == {2}
    # etp: both values for a mixture of experts at tp > 1, one (tp) for a dense model or at tp 1; as given
    assert {r[12] for r in search.candidates(MOE, {"tp": 4})} == {1, 4}
    assert {r[12] for r in search.candidates(MOE, {"tp": 1})} == {1}
    assert {r[12] for r in search.candidates(JOB, {"tp": 4})} == {4}
    assert {r[12] for r in search.candidates(MOE, {"tp": 4, "etp": 1})} == {1}
    # with etp 1 the expert-parallel group folds over tp x dp x cp: ep 8 at tp 4 x dp 2 (16 chips, pp 2)
    assert (4, 2, 2, 1, 8) in {r[:5] for r in search.candidates(MOE, {"tp": 4, "etp": 1})}
    assert (4, 2, 2, 1, 8) not in {r[:5] for r in search.candidates(MOE, {"tp": 4, "etp": 4})}


@pytest.mark.parametrize("use_numpy", [True, False])
@pytest.mark.parametrize("job", [JOB, MOE, attrs.evolve(JOB, low_precision=True, peak_matmul=2e15)])
def test_the_search_returns_the_brute_force_minimum(job: Job, use_numpy: bool) -> None:
    job = with_memory_cut(job)
    rows = list(search.candidates(job))
    scored, refused = brute_search(job, rows)
    assert "memory" in refused and scored  # the cut refuses some and keeps some
    found = search.search(job, top=3, use_numpy=use_numpy)
    assert found.evaluated == len(rows)
    assert len(found.layouts) == len(found.step_s) == 3
    assert found.step_s == pytest.approx([s for s, _ in scored[:3]], rel=1e-9)
    for lay, seconds in zip(found.layouts, found.step_s, strict=True):
        layout.check(lay, job)  # every pick passes the validity rules and fits
        assert step.step(lay, job).total == pytest.approx(seconds, rel=1e-9)
        assert seconds >= scored[0][0]
    assert found.step_s[0] == pytest.approx(min(s for s, _ in scored), rel=1e-12)
    if use_numpy:
        assert found.refused == refused


def test_the_scalar_search_counts_a_layout_without_a_micro_batch_as_a_batch_refusal() -> None:
    rows = list(search.candidates(JOB))
    unsafe = [r for r in rows if JOB.batch_seqs // (r[2] * r[6]) < 1]
    assert unsafe  # dp 16 x mb 8 = 128 sequences > 64
    _, refused = brute_search(JOB, [r for r in rows if r not in unsafe])
    refused["batch"] = refused.get("batch", 0) + len(unsafe)
    found = search.search(JOB, top=1, use_numpy=False)
    assert found.refused == refused
    assert search._safe(search.to_layout(unsafe[0]), JOB) is False
    assert search._safe(layout.Layout(tp=2, pp=2, dp=4, mb=16), JOB) is True  # 64 / (4 x 16) = 1
    assert search._safe(layout.Layout(tp=2, pp=2, dp=4, mb=17), JOB) is False


@pytest.mark.parametrize("use_numpy", [True, False])
def test_fewer_feasible_layouts_than_asked_returns_only_those(use_numpy: bool) -> None:
    fixed = {"tp": 2, "pp": 2, "cp": 1, "vpp": 1, "mb": 1, "zero": 1, "recompute": "selective"}
    found = search.search(JOB, fixed, top=5, use_numpy=use_numpy)
    assert found.evaluated == 1 and len(found.layouts) == 1
    assert found.layouts[0] == layout.Layout(tp=2, pp=2, dp=4)
    assert found.step_s[0] == pytest.approx(step.step(layout.Layout(tp=2, pp=2, dp=4), JOB).total)
    one = search.search(JOB, top=1, use_numpy=use_numpy)
    assert len(one.layouts) == 1


@pytest.mark.parametrize("use_numpy", [True, False])
def test_nothing_feasible_returns_no_layout_and_the_last_rule(use_numpy: bool) -> None:
    tiny = attrs.evolve(JOB, memory_bytes=1.0)
    found = search.search(tiny, top=2, use_numpy=use_numpy)
    assert found.layouts == () and found.step_s == ()
    assert found.evaluated == len(list(search.candidates(tiny)))
    # rules are counted in their order on arrays; one at a time, in the order layouts meet them
    assert (list(found.refused)[-1] if use_numpy else max(found.refused, key=lambda r: r == "memory")) == "memory"
    assert sum(found.refused.values()) == found.evaluated


def test_no_candidate_at_all_is_a_chips_refusal() -> None:
    found = search.search(JOB, {"tp": 3})
    assert found == search.Found((), (), 0, {"chips": 1})


def test_evaluate_one_layout_agrees_with_the_rules_memory_and_step() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=4)
    seconds, ok, checks = search.evaluate(lay, JOB, SCALAR)
    assert seconds == pytest.approx(step.step(lay, JOB).total)
    assert ok is True or ok == 1
    assert [r for r, _ in checks] == [r for r, _ in layout.rules(SCALAR, lay, JOB)] + ["memory"]
    bad = layout.Layout(tp=2, pp=2, dp=4, mb=3)  # 64 sequences do not divide by 4 x 3
    _, ok, checks = search.evaluate(bad, JOB, SCALAR)
    assert not ok and dict(checks)["batch"] is False or not dict(checks)["batch"]
    small = attrs.evolve(JOB, memory_bytes=1.0)
    _, ok, checks = search.evaluate(lay, small, SCALAR)
    assert not ok and not dict(checks)["memory"]
    # the first check failing alone is enough to refuse
    wrong_chips = layout.Layout(tp=2, pp=2, dp=2)
    _, ok, checks = search.evaluate(wrong_chips, JOB, SCALAR)
    assert not ok and [r for r, passed in checks if not passed] == ["chips"]


def test_evaluate_arrays_matches_one_layout_at_a_time() -> None:
    np = pytest.importorskip("numpy")
    job = with_memory_cut(MOE)
    rows = list(search.candidates(job))
    table = np.array(rows, dtype=np.int64).T
    seconds, refused = search.evaluate_arrays(table, job, np)
    assert seconds.shape == (len(rows),)
    for i, row in enumerate(rows):
        lay = search.to_layout(row)
        if first_failing(lay, job) is None:
            assert seconds[i] == pytest.approx(float(step.step(lay, job).total), rel=1e-9)
        else:
            assert math.isinf(seconds[i])
    assert refused == brute_search(job, rows)[1]


def test_refusals_count_each_layout_once_against_its_first_failing_rule() -> None:
    np = pytest.importorskip("numpy")
    a = np.array([True, False, False, True])
    b = np.array([False, True, False, True])
    c = np.array([False, False, True, False])
    assert search._refusals([("a", a), ("b", b), ("c", c)], np) == {"a": 2, "b": 1, "c": 1}  # a: 1, 2; b: 0; c: 3
    assert search._refusals([("a", np.ones(3, dtype=bool))], np) == {}


def test_to_layout_reads_the_fields_in_order() -> None:
    lay = search.to_layout((2, 4, 8, 16, 32, 3, 5, 2, 2, 0, 1, 16, 1))
    assert lay == layout.Layout(tp=2, pp=4, dp=8, cp=16, ep=32, vpp=3, mb=5, zero=2, recompute="full", sp=0,
                                uneven=1, grads=16, etp=1)  # fmt: skip
    assert search.to_layout((1,) * 8 + (0, 1, 0, 32, 1)).recompute == "none"
    assert search.to_layout((2,) + (1,) * 7 + (0, 1, 0, 32, 2)).etp == 2


def test_divisors() -> None:
    assert search._divisors(12) == [1, 2, 3, 4, 6, 12]
    assert search._divisors(1) == [1]
    assert search._divisors(7) == [1, 7]
    assert search._divisors(0) == [] and search._divisors(-4) == []
    assert search._divisors(36) == [1, 2, 3, 4, 6, 9, 12, 18, 36]  # a square: its root once
    for n in range(1, 400):
        assert search._divisors(n) == divisors(n), n
    # 8e9 = 2^12 x 5^9: (12 + 1) x (9 + 1) divisors, found in sqrt(n) steps (a billion 8-chip systems)
    big = search._divisors(8 * 10**9)
    assert len(big) == 130 and big == sorted(big) and all(8 * 10**9 % d == 0 for d in big)
    assert big[:4] == [1, 2, 4, 5] and big[-2:] == [4 * 10**9, 8 * 10**9]


def test_a_layout_that_needs_exactly_the_usable_memory_fits() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=4)
    whole = attrs.evolve(JOB, constants=attrs.evolve(CONSTANTS, usable_memory=1.0))
    need = memory.memory(lay, whole).total
    exact = attrs.evolve(whole, memory_bytes=need)
    assert memory.memory(lay, exact).usable == need
    _, ok, _ = search.evaluate(lay, exact, SCALAR)
    assert ok
    fixed = {"tp": 2, "pp": 2, "cp": 1, "vpp": 1, "mb": 1, "zero": 1, "recompute": "selective"}
    for use_numpy in (True, False):
        assert search.search(exact, fixed, use_numpy=use_numpy).layouts == (lay,)
    short = attrs.evolve(whole, memory_bytes=need * (1 - 1e-9))
    assert not search.evaluate(lay, short, SCALAR)[1]


def test_each_rule_alone_refuses_a_layout() -> None:
    seven = attrs.evolve(JOB, heads=7)  # tp 2 breaks only the heads rule
    lay = layout.Layout(tp=2, pp=2, dp=4)
    _, ok, checks = search.evaluate(lay, seven, SCALAR)
    assert not ok and [r for r, passed in checks if not passed] == ["heads"]
    for rule, job, bad in (
        ("layers", attrs.evolve(JOB, layers=7), lay),
        ("batch", JOB, layout.Layout(tp=2, pp=2, dp=4, mb=3)),
        ("context", attrs.evolve(JOB, seq_len=2050), layout.Layout(tp=2, cp=2, dp=4)),
        ("experts", attrs.evolve(MOE, experts=6), layout.Layout(tp=2, pp=2, dp=4, ep=4)),
    ):
        _, ok, checks = search.evaluate(bad, job, SCALAR)
        assert not ok and rule in [r for r, passed in checks if not passed], rule


def test_the_default_keeps_the_best_and_the_runner_up() -> None:
    assert len(search.search(JOB).layouts) == 2
    assert len(search.search(JOB, use_numpy=False).layouts) == 2


# Jobs and pinned keys on which the staged numpy search and the candidate table must agree with the
# one-at-a-time candidates and the flat evaluation of all of them.
AGREE_JOBS = [JOB, MOE, attrs.evolve(JOB, low_precision=True, peak_matmul=2e15), attrs.evolve(JOB, layers=7),
              attrs.evolve(JOB, chips=48, batch_seqs=96, cross_domain=True, heads=16),
              attrs.evolve(MOE, chips=32, batch_seqs=128, layers=12, moe_layers=12)]  # fmt: skip
AGREE_FIXED = [None, {"tp": 2}, {"pp": 4, "vpp": 2}, {"min_vpp": 2}, {"min_vpp": 3, "pp": 1}, {"uneven": 1, "grads": 16}, {"uneven": 0},
               {"mb": 2, "zero": 3, "recompute": "full", "sp": 0}, {"tp": 2, "pp": 2, "dp": 2, "cp": 1},
               {"tp": 3}, {"ep": 2}, {"etp": 1}, {"cp": 2, "dp": 4}]  # fmt: skip


def flat_search(job: Job, fixed: dict | None, top: int) -> search.Found:  # type: ignore[type-arg]
    """The search as one table of every candidate in ``candidates``' order (the way it ran before it
    was staged): rules, memory and step time per column, then a stable sort."""
    np = pytest.importorskip("numpy")
    rows = list(search.candidates(job, fixed))
    if not rows:
        return search.Found((), (), 0, {"chips": 1})
    table = np.array(rows, dtype=np.int64).T
    seconds, refused = search.evaluate_arrays(table, job, np)
    best = [i for i in np.argsort(seconds, kind="stable")[:top] if np.isfinite(seconds[i])]
    return search.Found(tuple(search.to_layout(tuple(table[:, i])) for i in best),
                        tuple(float(seconds[i]) for i in best), len(rows), refused)  # fmt: skip


@pytest.mark.parametrize("job", AGREE_JOBS, ids=lambda j: f"{j.name}-{j.chips}-{j.layers}")
def test_the_candidate_table_is_the_candidates_in_order(job: Job) -> None:
    np = pytest.importorskip("numpy")
    for fixed in AGREE_FIXED:
        table = search.candidate_table(job, fixed)
        rows = list(search.candidates(job, fixed))
        assert table.shape == (len(search.FIELDS), len(rows)), fixed
        assert [tuple(int(v) for v in col) for col in table.T] == rows, fixed
        assert table.dtype == np.int64


@pytest.mark.parametrize("job", AGREE_JOBS, ids=lambda j: f"{j.name}-{j.chips}-{j.layers}")
def test_the_staged_search_is_the_flat_search(job: Job) -> None:
    """Same layouts in the same order (ties kept in candidate order), the same step times to the bit,
    the same count and the same refusals, rule by rule in rule order, memory cut or not."""
    for candidate in (job, with_memory_cut(job)):
        for fixed in AGREE_FIXED:
            for top in (1, 3, 50):
                got, want = search.search(candidate, fixed, top), flat_search(candidate, fixed, top)
                assert got.layouts == want.layouts and got.step_s == want.step_s, (fixed, top)
                assert got.evaluated == want.evaluated
                assert list(got.refused.items()) == list(want.refused.items()), (fixed, top)


def test_the_staged_search_keeps_ties_in_candidate_order() -> None:
    # sp is not searched and does not change the step here (tp 1): pinning the grid to two equal layouts
    # that differ only in ZeRO stage 0 and 1 of a single-rank data group gives two equal times
    one = attrs.evolve(JOB, chips=2, batch_seqs=8)
    found = search.search(one, {"tp": 1, "pp": 2, "cp": 1, "vpp": 1, "mb": 1, "recompute": "none"}, top=4)
    assert found.step_s[0] == found.step_s[1]
    assert [lay.zero for lay in found.layouts[:2]] == [0, 1]
    assert found.layouts == flat_search(one, {"tp": 1, "pp": 2, "cp": 1, "vpp": 1, "mb": 1, "recompute": "none"},
                                        4).layouts  # fmt: skip


class _Unread:
    """A field the rules must not read: any use fails (the staged search runs the rules once for
    every ZeRO stage, recompute and sp, so a rule reading them would be wrong there)."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the rules read {name} of a field they must not read")

    def _fail(self, *_: object) -> None:
        raise AssertionError("the rules read ZeRO stage, recompute, sp or grads")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _fail  # type: ignore[assignment]
    __add__ = __radd__ = __mul__ = __rmul__ = __and__ = __rand__ = __or__ = __ror__ = _fail
    __sub__ = __rsub__ = __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = _fail
    __hash__ = None  # type: ignore[assignment]


def test_the_rules_read_neither_zero_recompute_sp_nor_grads() -> None:
    unread = _Unread()
    for job in (JOB, MOE):
        grid = search.Grid(tp=2, pp=2, dp=4, cp=1, ep=2 if job.experts else 1, vpp=2, mb=1, zero=unread,
                           recompute_code=unread, sp=unread, uneven=0, grads=unread, etp=2)  # fmt: skip
        assert [rule for rule, ok in layout.rules(SCALAR, grid, job) if not ok] == []


def test_a_billion_systems_is_answered_not_searched_for_a_minute(reg: object) -> None:
    """Issue 24: the documented maximum count used to run past a minute (divisors by trial up to n, 55
    times a search). Over 8e9 chips no layout fits the default batch (16M tokens of 8,192 are 2,048
    sequences, fewer than the smallest data-parallel degree left: 8e9 / (tp 8 x pp 32 x cp 4,096) =
    7,629), and the refusal says so."""
    from hwprof.errors import HwprofError
    from hwprof.perf import cluster
    from hwprof.perf.train import training

    system = reg.system("p5.48xlarge")  # type: ignore[attr-defined]
    target = cluster.cluster_for(reg.chip(system.chip), 8 * 10**9, system, reg.interconnects)  # type: ignore[attr-defined]
    job = training.make_job(training.TrainRequest(reg.workload("llama3.1-8b"), target, 1e12, "bf16"), reg.interconnects)  # type: ignore[attr-defined]
    assert job.batch_seqs == 2048
    found = search.search(job)
    assert found.layouts == () and found.evaluated > 0
    assert list(found.refused)[-1] == "batch"  # the last rule standing: dp x mb above 2,048 sequences
    with pytest.raises(HwprofError, match="no layout"):
        request = training.TrainRequest(reg.workload("llama3.1-8b"), target, 1e12, "bf16")  # type: ignore[attr-defined]
        training.estimate_train(request, reg.interconnects)
