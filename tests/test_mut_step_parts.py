"""A step's total is the sum of its named parts (``step.Step.total``), for layouts that exercise every
part: experts (all-to-all), context parallel (ring), pipeline (sends and bubble), data parallel and
ZeRO-3 gathers. The parts come from the model; only the bookkeeping is checked here."""

from __future__ import annotations

import attrs
import pytest
from test_mut_search import JOB, MOE

from hwprof.core.perf import layout, step


@pytest.mark.parametrize(
    ("job", "lay"),
    [
        (JOB, layout.Layout(tp=2, pp=2, dp=4)),
        (JOB, layout.Layout(tp=2, pp=2, dp=2, cp=2, zero=3, vpp=2)),
        (MOE, layout.Layout(tp=2, pp=2, dp=4, ep=4, recompute="full")),
        (MOE, layout.Layout(tp=1, pp=2, dp=4, cp=2, ep=2, mb=2)),
    ],
)
def test_the_total_is_the_sum_of_the_parts(job: object, lay: layout.Layout) -> None:
    st = step.step(lay, job)
    parts = (st.compute, st.tensor, st.expert, st.context, st.pipeline, st.bubble, st.data, st.optimizer)
    assert all(p >= 0 for p in parts)
    assert st.total == pytest.approx(sum(parts), rel=1e-12)
    if job is MOE:
        assert st.expert > 0
    if lay.pp > 1:
        assert st.pipeline > 0 and st.bubble > 0


def test_every_part_moves_the_total() -> None:
    lay = layout.Layout(tp=2, pp=2, dp=2, cp=2, ep=2, zero=3)
    st = step.step(lay, MOE)
    for name in ("compute", "tensor", "expert", "context", "pipeline", "bubble", "data", "optimizer"):
        bumped = attrs.evolve(st, **{name: getattr(st, name) + 1.0})
        assert bumped.total == pytest.approx(st.total + 1.0), name
