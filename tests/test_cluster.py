"""What an estimate runs on: chips joined into whole systems."""

from __future__ import annotations


def test_chip_counts_round_up_to_whole_systems() -> None:
    from hwprof.core.data import records
    from hwprof.core.perf.cluster import whole_systems

    eight = records.System(id="s", name="s", kind="box", chip="c", chips=8,
                           source=records.Source(key="k", title="t"), status="official")  # fmt: skip
    assert [whole_systems(n, eight) for n in (1, 8, 9, 16, 17)] == [8, 8, 16, 16, 24]
