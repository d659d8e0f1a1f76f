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
