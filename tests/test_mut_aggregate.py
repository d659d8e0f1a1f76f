"""Aggregate totals keep their per-chip figure's unit, status and source; chips whose memory is
published in GB (not GiB) total under ``memory_gb``; a sparsity note travels with the totals."""

from __future__ import annotations

import attrs
import pytest

from hwprof.core.data import records, registry
from hwprof.core.jsonable import source_json
from hwprof.core.perf import aggregate


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_a_total_carries_its_source_and_unit() -> None:
    source = records.Source(key="k", title="t")
    fig = records.Figure(value=2.0, status="reported", source=source)
    total = aggregate._total(fig, 3, "tflops", 1e-3)
    assert total == {"value": pytest.approx(0.006), "per_chip_tflops": 2.0, "status": "reported",
                     "source": source_json(source)}  # fmt: skip


def test_memory_in_gb_and_sparse_peaks_and_notes(reg: registry.Registry) -> None:
    chip = reg.chip("h100-sxm")
    source = records.Source(key="k", title="t")
    gb = attrs.evolve(chip, memory_gib=None, memory_gb=records.Figure(value=80.0, status="official", source=source),
                      sparsity_note="2:4 structured sparsity")  # fmt: skip
    got = aggregate.aggregate_chips(gb, 4)
    assert "memory_gib" not in got and got["memory_gb"]["value"] == 320.0 and got["memory_gb"]["per_chip_gb"] == 80.0
    assert got["sparsity_note"] == "2:4 structured sparsity"
    for precision, figure in chip.peak_sparse_tflops.items():
        total = got["peak_sparse_pflops"][precision]
        assert total["per_chip_tflops"] == figure.value and total["value"] == pytest.approx(figure.value * 4 / 1000)
    plain = aggregate.aggregate_chips(attrs.evolve(gb, sparsity_note=""), 4)
    assert "sparsity_note" not in plain
