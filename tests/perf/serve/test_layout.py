"""Serving layouts from their ``--layout`` text: what ``dp`` defaults to."""

from __future__ import annotations

from hwprof.perf.serve import layout as sl


def test_dp_defaults_to_what_the_chips_leave_or_to_the_default_given() -> None:
    assert sl.parse("tp=2,pp=2", 16) == sl.ServeLayout(tp=2, pp=2, dp=4)  # 16 chips / (2 x 2)
    assert sl.parse("tp=2", 0, dp=1).dp == 1  # a pool of one worker unless the text says
    assert sl.parse("tp=2,dp=3", 0, dp=1).dp == 3
    # "adp=" is not "dp=": attention data parallel leaves the replicas to the default
    assert sl.parse("tp=2,ep=2,adp=1", 0, dp=1) == sl.ServeLayout(tp=2, dp=1, ep=2, adp=1)
