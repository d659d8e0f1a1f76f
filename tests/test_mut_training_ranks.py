"""A training result whose job runs several ranks per chip: memory is shown per chip (a rank's
times the ranks), peaks per chip, and a note says so; built with ``job_for(ranks_per_chip=2)``."""

from __future__ import annotations

import pytest

from hwprof.core.data import registry
from hwprof.core.perf import cluster, job, layout, memory, training


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.build(registry.Settings(profile_dirs=()))


def test_two_ranks_per_chip(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")
    system = reg.system("trn1.32xlarge")
    chip = reg.chip(system.chip)
    target = cluster.cluster_for(chip, system.chips, system, reg.interconnects)
    j = job.job_for(work, chip, system.chips, system, reg.interconnects, "bf16", training.constants(),
                    batch_seqs=64, ranks_per_chip=2)  # fmt: skip
    lay = layout.parse("tp=8,pp=1", j.chips)  # 2 ranks x 16 chips = 32 ranks: dp 4
    est = training.result_for(work, target, j, lay, 1e11, "bf16", False, None, "given", None, None)
    m = memory.memory(lay, j)
    got = est.memory
    assert got is not None
    assert (got.weights_bytes_per_chip, got.gradients_bytes_per_chip, got.optimizer_bytes_per_chip,
            got.activations_bytes_per_chip, got.total_bytes_per_chip, got.usable_bytes_per_chip) == pytest.approx(
        (2 * m.weights, 2 * m.gradients, 2 * m.optimizer, 2 * m.activations, 2 * m.total, 2 * m.usable))  # fmt: skip
    assert got.fits == bool(m.total <= m.usable)
    assert est.inputs.ranks_per_chip == 2 and est.inputs.chips == system.chips
    peak = chip.peak_dense_tflops["bf16"].value
    assert f"{peak:g} TFLOPS per chip" in est.precision_basis and f"at 16 bits ({peak:g} TFLOPS)" in est.precision_basis
    assert est.notes[0] == (f"layout in ranks: {chip.id} runs 2 per chip (its cores), each with 1/2 of the chip's memory "
                            f"({chip.memory_bytes / 2 / 2**30:,.0f} GiB), compute and links; memory below is per chip")  # fmt: skip
