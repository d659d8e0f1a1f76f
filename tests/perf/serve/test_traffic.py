"""The queueing formulas of ``traffic`` solved by hand for a decode step linear in the batch,
``step(B) = a + b B``: the fixed point of TPOT and Little's law has the closed form
``tpot = a / (1 - rho - b x rate x out)``, and every other figure follows from the module
docstring's formulas written out here. Plus properties that must hold whatever the constants:
p90 >= p50, latency grows with the rate, a closed loop satisfies Little's law.

Stability edges of the queue (``traffic``): a rate is refused when either the prompts alone
(rho) or the prompt lane (rho_s) reach 1, on floats and on arrays alike.
"""

from __future__ import annotations

import math
import statistics

import pytest

from hwprof.perf.serve import traffic as tr


def linear(a: float, b: float) -> object:
    return lambda batch: a + b * batch


def test_the_90th_percentile_of_the_normal() -> None:
    assert pytest.approx(statistics.NormalDist().inv_cdf(0.9), abs=1e-4) == tr.Z_P90


def test_pollaczek_khinchine_mean_wait_by_hand() -> None:
    assert tr.mean_wait(0.5, 2.0) == pytest.approx(0.5 * 2.0 / (2 * 0.5))  # 1.0
    assert tr.mean_wait(0.9, 1.0) == pytest.approx(0.9 / 0.2)
    assert tr.mean_wait(0.0, 1.0) == 0.0
    assert math.isfinite(tr.mean_wait(1.0, 1.0)) and tr.mean_wait(1.0, 1.0) > 1e6  # clamped below 1, huge
    assert tr.mean_wait(2.0, 1.0) == tr.mean_wait(1.0, 1.0)


def test_wait_quantiles_of_the_exponential_tail_by_hand() -> None:
    # P(wait > t) = rho exp(-2 (1 - rho) t / S): the p-quantile solves rho exp(...) = 1 - p
    assert tr.wait_quantile(0.8, 1.0, 0.9) == pytest.approx(math.log(0.8 / 0.1) / (2 * 0.2))
    assert tr.wait_quantile(0.8, 3.0, 0.5) == pytest.approx(math.log(0.8 / 0.5) * 3.0 / 0.4)
    assert tr.wait_quantile(0.5, 1.0, 0.5) == 0.0  # no more than half the arrivals wait at all
    assert tr.wait_quantile(0.3, 1.0, 0.5) == 0.0
    assert tr.wait_quantile(0.0, 1.0, 0.9) == 0.0
    assert math.isfinite(tr.wait_quantile(1.0, 1.0, 0.9))
    for rho in (0.2, 0.6, 0.95):
        assert tr.wait_quantile(rho, 1.0, 0.9) >= tr.wait_quantile(rho, 1.0, 0.5)
    assert tr.wait_quantile(0.9, 1.0, 0.9) > tr.wait_quantile(0.8, 1.0, 0.9)


def expected_at_rate(rate: float, out: int, prompt_s: float, a: float, b: float, chunks: int, work: float,
                     pack: int) -> dict[str, float]:  # fmt: skip
    """The module docstring's formulas, for step(B) = a + b B and no memory limit."""
    rho = rate * work
    tpot = a / (1 - rho - b * rate * out)
    running = rate * out * tpot
    extra = b * running  # step(B) - step(0)
    service = prompt_s + chunks * extra
    lane = work + (prompt_s - work) / pack + chunks * extra
    rho_s = rate * lane
    mean_wait = rho_s * lane / (2 * (1 - rho_s))

    def quantile(p: float) -> float:
        return max(math.log(rho_s / (1 - p)), 0.0) * lane / (2 * (1 - rho_s))

    m = rate * chunks * out * tpot
    per_token = work / chunks / out
    base = a + b * running
    return {"rho": rho, "rho_s": rho_s, "tpot": tpot, "running": running, "ttft_mean": service + mean_wait,
            "ttft_p50": service + quantile(0.5), "ttft_p90": service + quantile(0.9),
            "tpot_p50": base + per_token * m, "tpot_p90": base + per_token * (m + tr.Z_P90 * math.sqrt(m))}  # fmt: skip


CASES = [
    # rate, out, prompt_s, a, b, chunks, work, pack
    (3.0, 100, 0.2, 0.01, 0.0002, 1, 0.2, 1),
    (15.0, 200, 0.05, 0.02, 0.00001, 3, 0.04, 1),
    (2.6, 50, 0.3, 0.015, 0.0004, 2, 0.25, 4),
    (12.0, 300, 0.06, 0.012, 0.000002, 1, 0.05, 2),
]


@pytest.mark.parametrize(("rate", "out", "prompt_s", "a", "b", "chunks", "work", "pack"), CASES)
def test_at_rate_by_hand(rate: float, out: int, prompt_s: float, a: float, b: float, chunks: int, work: float,
                         pack: int) -> None:  # fmt: skip
    want = expected_at_rate(rate, out, prompt_s, a, b, chunks, work, pack)
    assert want["rho_s"] > 0.5  # queueing matters in these cases (p50 wait above zero)
    load = tr.at_rate(rate, out, prompt_s, linear(a, b), 1e9, chunks, prompt_work_s=work, pack=pack)
    assert load.stable and load.limit == ""
    assert load.rate_per_s == rate
    assert load.prompt_share == pytest.approx(want["rho"])
    assert load.prompt_lane_share == pytest.approx(want["rho_s"], rel=1e-6)
    assert load.tpot_mean_s == pytest.approx(want["tpot"], rel=1e-6)
    assert load.running_sequences == pytest.approx(want["running"], rel=1e-6)
    for key in ("ttft_mean", "ttft_p50", "ttft_p90", "tpot_p50", "tpot_p90"):
        assert getattr(load, f"{key}_s") == pytest.approx(want[key], rel=1e-6), key
    assert load.ttft_p90_s >= load.ttft_p50_s and load.tpot_p90_s >= load.tpot_p50_s


def test_the_prompt_time_alone_is_the_default_work() -> None:
    step = linear(0.01, 0.0002)
    alone = tr.at_rate(2.0, 100, 0.2, step, 1e9, 1)
    same = tr.at_rate(2.0, 100, 0.2, step, 1e9, 1, prompt_work_s=0.2)
    assert alone == same
    assert alone.prompt_share == pytest.approx(0.4)


def test_fewer_fixed_point_rounds_are_further_from_the_fixed_point() -> None:
    step = linear(0.01, 0.0003)
    exact = expected_at_rate(2.0, 100, 0.2, 0.01, 0.0003, 1, 0.2, 1)["tpot"]
    one = tr.at_rate(2.0, 100, 0.2, step, 1e9, iterations=1).tpot_mean_s
    many = tr.at_rate(2.0, 100, 0.2, step, 1e9).tpot_mean_s
    assert abs(many - exact) < abs(one - exact) and many == pytest.approx(exact, rel=1e-9)
    # the first round starts from one sequence: step(1) / (1 - rho), then one update
    first = 0.0103 / 0.6
    assert one == pytest.approx((0.01 + 0.0003 * 2.0 * 100 * first) / 0.6)


def test_a_full_kv_cache_caps_the_batch_and_refuses_the_rate() -> None:
    step = linear(0.01, 0.0002)
    free = tr.at_rate(2.0, 100, 0.2, step, 1e9)
    assert free.running_sequences > 2
    capped = tr.at_rate(2.0, 100, 0.2, step, 2.0)
    assert capped.running_sequences == 2.0 and not capped.stable and capped.limit == "kv cache"
    assert capped.tpot_mean_s == pytest.approx((0.01 + 0.0002 * 2) / 0.6)
    # exactly at the limit is still served
    want = free.running_sequences
    at_limit = tr.at_rate(2.0, 100, 0.2, step, want * (1 + 1e-12))
    assert at_limit.stable


def test_too_many_prompts_are_refused_as_prompts() -> None:
    step = linear(0.01, 0.0)
    over = tr.at_rate(6.0, 100, 0.2, step, 1e9)  # rho = 1.2
    assert not over.stable and over.limit == "prompts" and over.prompt_share == pytest.approx(1.2)
    # the lane (prompt plus the decodes riding its chunks) saturates first: rho < 1 but rho_s >= 1
    lane = tr.at_rate(4.5, 100, 0.2, linear(0.01, 0.001), 1e9, chunks=4, prompt_work_s=0.2)
    assert lane.prompt_share < 1 and lane.prompt_lane_share >= 1
    assert not lane.stable and lane.limit == "prompts"
    # a prompt share of exactly 1 cannot be served
    assert not tr.at_rate(5.0, 100, 0.2, step, 1e9).stable


def test_latency_grows_with_the_rate() -> None:
    step = linear(0.01, 0.0002)
    loads = [tr.at_rate(r, 100, 0.2, step, 1e9, 2, prompt_work_s=0.15) for r in (0.5, 1.0, 2.0, 3.0, 4.0)]
    for slow, fast in zip(loads[1:], loads[:-1], strict=True):
        assert slow.ttft_mean_s > fast.ttft_mean_s and slow.ttft_p90_s > fast.ttft_p90_s
        assert slow.tpot_mean_s > fast.tpot_mean_s and slow.tpot_p90_s > fast.tpot_p90_s
        assert slow.running_sequences > fast.running_sequences


def test_arrays_give_the_scalar_numbers() -> None:
    np = pytest.importorskip("numpy")
    rates = np.array([c[0] for c in CASES])
    outs = np.array([c[1] for c in CASES], dtype=float)
    prompts = np.array([c[2] for c in CASES])
    a = np.array([c[3] for c in CASES])
    b = np.array([c[4] for c in CASES])
    chunks = np.array([c[5] for c in CASES], dtype=float)
    work = np.array([c[6] for c in CASES])
    pack = np.array([c[7] for c in CASES], dtype=float)
    caps = np.array([1e9, 1e9, 1e9, 3.0])  # the last one runs out of KV cache
    load = tr.at_rate(rates, outs, prompts, lambda batch: a + b * batch, caps, chunks, xp=np, prompt_work_s=work,
                      pack=pack)  # fmt: skip
    for i, case in enumerate(CASES):
        rate, out, prompt_s, ai, bi, ch, w, pk = case
        one = tr.at_rate(rate, out, prompt_s, linear(ai, bi), float(caps[i]), ch, prompt_work_s=w, pack=pk)
        for field in ("running_sequences", "prompt_share", "prompt_lane_share", "ttft_mean_s", "ttft_p50_s",
                      "ttft_p90_s", "tpot_mean_s", "tpot_p50_s", "tpot_p90_s"):  # fmt: skip
            assert float(getattr(load, field)[i]) == pytest.approx(getattr(one, field), rel=1e-9), (i, field)
        assert bool(load.stable[i]) == one.stable
    assert list(load.stable) == [True, True, True, False] and load.limit == ""
    over = tr.at_rate(np.array([6.0, 1.0]), 100, 0.2, lambda batch: 0.01 + 0 * batch, 1e9, xp=np)
    assert list(over.stable) == [False, True]


def test_one_user_never_waits() -> None:
    step = linear(0.01, 0.001)
    load = tr.at_concurrency(1, 100, 0.2, step, 64)
    tpot = 0.011
    rate = 1 / (0.2 + 99 * tpot)
    assert load.rate_per_s == pytest.approx(rate) and load.running_sequences == 1.0
    assert (load.ttft_mean_s, load.ttft_p50_s, load.ttft_p90_s) == (0.2, 0.2, 0.2)
    assert (load.tpot_mean_s, load.tpot_p50_s, load.tpot_p90_s) == pytest.approx((tpot, tpot, tpot))
    assert load.prompt_share == pytest.approx(rate * 0.2) and load.prompt_lane_share == pytest.approx(rate * 0.2)
    assert load.stable and load.limit == ""
    assert tr.at_concurrency(0.5, 100, 0.2, step, 64) == load


@pytest.mark.parametrize("users", [2, 8, 32])
def test_a_closed_loop_keeps_its_users_in_flight(users: int) -> None:
    step = linear(0.01, 0.0002)
    load = tr.at_concurrency(users, 100, 0.05, step, 1e9, 1)
    in_flight = load.rate_per_s * (load.ttft_mean_s + 99 * load.tpot_mean_s)
    assert in_flight == pytest.approx(users, rel=1e-6)  # Little's law
    again = tr.at_rate(load.rate_per_s, 100, 0.05, step, 1e9, 1)
    assert again.tpot_mean_s == pytest.approx(load.tpot_mean_s) and again.ttft_mean_s == pytest.approx(load.ttft_mean_s)
    # no rate beats no queueing
    assert load.rate_per_s <= users / (0.05 + 99 * step(1.0))
    more = tr.at_concurrency(users * 2, 100, 0.05, step, 1e9, 1)
    assert more.rate_per_s > load.rate_per_s and more.tpot_mean_s > load.tpot_mean_s


def test_users_beyond_the_kv_cache_wait_for_a_slot() -> None:
    step = linear(0.01, 0.0002)
    load = tr.at_concurrency(64, 100, 0.05, step, 8.0, 1)
    assert load.running_sequences <= 8.0 * (1 + 1e-6)
    served = tr.at_rate(load.rate_per_s, 100, 0.05, step, 8.0, 1)
    in_flight = load.rate_per_s * (served.ttft_mean_s + 99 * served.tpot_mean_s)
    extra = (64 - in_flight) / load.rate_per_s  # Little's law on the queue for a slot
    assert extra > 0
    assert load.ttft_mean_s == pytest.approx(served.ttft_mean_s + extra, rel=1e-9)
    assert load.ttft_p50_s == pytest.approx(served.ttft_p50_s + extra, rel=1e-9)
    assert load.ttft_p90_s == pytest.approx(served.ttft_p90_s + extra, rel=1e-9)
    assert load.tpot_mean_s == served.tpot_mean_s
    # the slot wait makes the loop hold all 64 users
    assert load.rate_per_s * (load.ttft_mean_s + 99 * load.tpot_mean_s) == pytest.approx(64, rel=1e-6)


def test_the_closed_loop_passes_chunks_work_and_packing_through() -> None:
    step = linear(0.01, 0.0002)
    load = tr.at_concurrency(16, 100, 0.2, step, 1e9, chunks=3, prompt_work_s=0.1, pack=2)
    same = tr.at_rate(load.rate_per_s, 100, 0.2, step, 1e9, 3, prompt_work_s=0.1, pack=2)
    assert load.ttft_mean_s == pytest.approx(same.ttft_mean_s) and load.tpot_p90_s == pytest.approx(same.tpot_p90_s)
    plain = tr.at_concurrency(16, 100, 0.2, step, 1e9)
    assert plain.rate_per_s != pytest.approx(load.rate_per_s)


def test_the_scalar_stand_in_for_numpy() -> None:
    s = tr.SCALAR
    assert s.maximum(1.0, 2.0) == 2.0 and s.minimum(1.0, 2.0) == 1.0
    assert s.log(math.e) == pytest.approx(1.0) and s.sqrt(9.0) == 3.0
    assert s.where(True, 1.0, 2.0) == 1.0 and s.where(False, 1.0, 2.0) == 2.0


def test_one_chunk_and_no_packing_by_default() -> None:
    step = linear(0.01, 0.0002)
    assert tr.at_rate(3.0, 100, 0.2, step, 1e9) == tr.at_rate(3.0, 100, 0.2, step, 1e9, 1, pack=1)
    assert tr.at_rate(3.0, 100, 0.2, step, 1e9) != tr.at_rate(3.0, 100, 0.2, step, 1e9, 2)
    assert tr.at_rate(3.0, 100, 0.2, step, 1e9, prompt_work_s=0.1) != tr.at_rate(3.0, 100, 0.2, step, 1e9,
                                                                                   prompt_work_s=0.1, pack=2)  # fmt: skip


def test_prompts_alone_at_capacity_are_refused_even_when_the_lane_is_short() -> None:
    # a prompt's replica time under load (0.25 s) above its time alone (0.1 s): rho = 4.2 x 0.25 = 1.05,
    # while the lane per prompt is about 0.1 s, rho_s about 0.42
    step = lambda batch: 0.01 + 0.0 * batch  # noqa: E731
    load = tr.at_rate(4.2, 100, 0.1, step, 1e9, prompt_work_s=0.25)
    assert load.prompt_share == pytest.approx(1.05) and load.prompt_lane_share < 1
    assert not load.stable and load.limit == "prompts"
    np = pytest.importorskip("numpy")
    arrays = tr.at_rate(np.array([4.2, 2.0]), 100, 0.1, step, 1e9, xp=np, prompt_work_s=0.25)
    assert list(arrays.stable) == [False, True]


def test_a_full_lane_is_refused_on_arrays_too() -> None:
    np = pytest.importorskip("numpy")
    step = lambda batch: 0.01 + 0.001 * batch  # noqa: E731
    one = tr.at_rate(4.5, 100, 0.2, step, 1e9, chunks=4, prompt_work_s=0.2)
    assert one.prompt_share < 1 <= one.prompt_lane_share and not one.stable
    arrays = tr.at_rate(np.array([4.5, 1.0]), 100, 0.2, step, 1e9, chunks=4, xp=np, prompt_work_s=0.2)
    assert list(arrays.stable) == [False, True]


def test_the_closed_loop_defaults_to_one_chunk_and_no_packing() -> None:
    step = lambda batch: 0.01 + 0.0002 * batch  # noqa: E731
    assert tr.at_concurrency(16, 100, 0.2, step, 1e9) == tr.at_concurrency(16, 100, 0.2, step, 1e9, 1, pack=1)
    assert tr.at_concurrency(16, 100, 0.2, step, 1e9) != tr.at_concurrency(16, 100, 0.2, step, 1e9, 3)
    assert tr.at_concurrency(16, 100, 0.2, step, 1e9, prompt_work_s=0.1) != tr.at_concurrency(
        16, 100, 0.2, step, 1e9, prompt_work_s=0.1, pack=2)  # fmt: skip


def test_the_closed_loop_rate_is_bounded_by_no_queueing() -> None:
    # with no decode cost growth the bound users / (prompt + (out - 1) step(1)) is the answer's ceiling
    step = lambda batch: 0.02 + 0.0 * batch  # noqa: E731
    users, out, prompt = 4, 50, 0.05
    load = tr.at_concurrency(users, out, prompt, step, 1e9)
    bound = users / (prompt + (out - 1) * 0.02)
    assert 0.5 * bound < load.rate_per_s <= bound
    assert load.rate_per_s * (load.ttft_mean_s + (out - 1) * load.tpot_mean_s) == pytest.approx(users, rel=1e-6)


def test_a_share_of_exactly_one_is_refused() -> None:
    np = pytest.importorskip("numpy")
    flat = lambda batch: 0.01 + 0.0 * batch  # noqa: E731
    # prompts alone at exactly capacity (rho = 4 x 0.25 = 1), the lane short (prompt alone 0.1 s)
    alone = tr.at_rate(4.0, 100, 0.1, flat, 1e15, prompt_work_s=0.25)  # memory never the limit here
    assert alone.prompt_share == 1.0 and alone.prompt_lane_share < 1 and not alone.stable
    # the lane at exactly capacity (rho_s = 4 x 0.25 = 1) with the prompts alone below it (rho = 0.8)
    lane = tr.at_rate(4.0, 100, 0.25, flat, 1e15, prompt_work_s=0.2)
    assert lane.prompt_share < 1 and lane.prompt_lane_share == 1.0 and not lane.stable
    arrays = tr.at_rate(np.array([4.0, 4.0, 2.0]), 100, np.array([0.1, 0.25, 0.1]), flat, 1e15, xp=np,
                        prompt_work_s=np.array([0.25, 0.2, 0.25]))  # fmt: skip
    assert list(arrays.stable) == [False, False, True]


def test_a_slow_closed_loop_below_one_request_a_second() -> None:
    step = lambda batch: 0.05 + 0.0001 * batch  # noqa: E731
    load = tr.at_concurrency(2, 100, 0.3, step, 1e9)
    assert load.rate_per_s < 1
    assert load.rate_per_s * (load.ttft_mean_s + 99 * load.tpot_mean_s) == pytest.approx(2, rel=1e-6)
    # more users than the two the KV cache holds: they wait for a slot (Little's law on the wait)
    full = tr.at_concurrency(16, 100, 0.3, step, 2.0)
    assert full.rate_per_s < 1
    served = tr.at_rate(full.rate_per_s, 100, 0.3, step, 2.0)
    in_flight = full.rate_per_s * (served.ttft_mean_s + 99 * served.tpot_mean_s)
    assert full.ttft_mean_s == pytest.approx(served.ttft_mean_s + (16 - in_flight) / full.rate_per_s, rel=1e-9)


def test_a_static_batch_waits_for_its_whole_prompt_pass_then_decodes_together() -> None:
    """4 sequences started together, a 0.6 s prompt pass for all of them, step(B) = 20 ms + 1 ms x B,
    100 tokens out: every first token at 0.6 s, 24 ms per token, 4 sequences per 0.6 + 99 x 0.024 =
    2.976 s, the prompt pass 0.6 / 2.976 of the time."""
    load = tr.static_batch(4, 100, 0.6, lambda b: 0.020 + 0.001 * b)
    assert (load.ttft_mean_s, load.ttft_p90_s) == (0.6, 0.6)
    assert load.tpot_mean_s == pytest.approx(0.024) and load.running_sequences == 4
    assert load.rate_per_s == pytest.approx(4 / 2.976) and load.prompt_share == pytest.approx(0.6 / 2.976)
    assert load.stable


def test_evenly_spaced_arrivals_never_queue_behind_one_another() -> None:
    # By hand: step(b) = 10 ms + 1 ms x b; prompts 100 ms, unchunked; 2 requests/s of 100 tokens.
    # rho = 2 x 0.1 = 0.2; tpot = step(2 x 100 x tpot) / 0.8 -> 0.6 tpot = 0.01 -> tpot = 1/60 s;
    # running = 200 / 60 = 3.33; a prompt waits half the running step (13.33 ms / 2) then runs 100 ms.
    def step(b: float) -> float:
        return 0.01 + 0.001 * b

    tpot, service = 1 / 60, 0.1 + (0.01 + 0.001 * 200 / 60) / 2
    even = tr.at_rate(2.0, 100, 0.1, step, 64, chunked=False, arrivals="constant")
    poisson = tr.at_rate(2.0, 100, 0.1, step, 64, chunked=False)
    assert even.tpot_mean_s == pytest.approx(tpot) == poisson.tpot_mean_s
    assert even.ttft_mean_s == even.ttft_p90_s == pytest.approx(service)
    assert poisson.ttft_mean_s == pytest.approx(service + 0.2 * 0.1 / (2 * 0.8))  # M/D/1 mean wait
    # the prompts a request's decode sees: m = 2 x 100 x tpot = 3.33, each 100 ms spread over 100 tokens
    m = 2 * 100 * tpot
    assert even.tpot_p90_s == pytest.approx(step(200 / 60) + 0.001 * m)
    assert poisson.tpot_p90_s == pytest.approx(step(200 / 60) + 0.001 * (m + tr.Z_P90 * math.sqrt(m)))
