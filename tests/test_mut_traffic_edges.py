"""Stability edges of the queue (``traffic``): a rate is refused when either the prompts alone
(rho) or the prompt lane (rho_s) reach 1, on floats and on arrays alike."""

from __future__ import annotations

import pytest

from hwprof.core.perf import traffic as tr


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
