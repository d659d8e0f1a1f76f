"""The published results are data the whole model rests on: check them against their sources'
own arithmetic (layouts that multiply to the chip count, batches that divide), and pin the
figures that were once wrong to what the sources print.
"""

from __future__ import annotations

import attrs
import pytest

from hwprof.data import records, registry


@pytest.fixture(scope="module")
def cases() -> dict[str, records.ValidationCase]:
    return dict(registry.build(registry.Settings(profile_dirs=())).validation_cases)


def degrees(layout: str) -> dict[str, str]:
    # A deliberately small reading of the layout syntax; the real parser is core/perf/train/layout.py.
    return dict(part.split("=", 1) for part in layout.split(","))


def test_every_case_carries_its_published_layout(cases: dict[str, records.ValidationCase]) -> None:
    missing = [c.id for c in cases.values() if not c.layout]
    assert not missing, f"cases without a layout: {missing}"


def test_layouts_use_the_shared_keys(cases: dict[str, records.ValidationCase]) -> None:
    train_keys = {"tp", "pp", "dp", "cp", "ep", "etp", "vpp", "mb", "zero", "recompute", "sp", "grads"}
    serve_keys = {"tp", "pp", "dp", "ep", "adp"}
    for case in cases.values():
        keys = set(degrees(case.layout))
        assert keys <= (train_keys if case.kind == "train" else serve_keys), case.id


def test_layout_ranks_multiply_to_the_chips_used(cases: dict[str, records.ValidationCase]) -> None:
    for case in cases.values():
        d = {k: int(v) for k, v in degrees(case.layout).items() if k in ("tp", "pp", "dp", "cp", "ep", "etp")}
        ranks = d.get("tp", 1) * d.get("pp", 1) * d.get("dp", 1) * d.get("cp", 1)
        assert ranks == case.chips * case.ranks_per_chip, f"{case.id}: {case.layout} on {case.chips} chips"
        # experts are spread over ranks that already exist: EP folds into TP x DP x CP (serving; training
        # with whole experts, etp 1), into DP x CP with experts split by tp (training's default etp = tp)
        etp = d.get("etp", d.get("tp", 1)) if case.kind == "train" else 1
        per_stage = d.get("tp", 1) * d.get("dp", 1) * d.get("cp", 1) // etp
        assert per_stage % d.get("ep", 1) == 0, case.id


def test_global_batches_divide_by_data_parallel_and_micro_batch(cases: dict[str, records.ValidationCase]) -> None:
    with_batch = [c for c in cases.values() if c.global_batch]
    assert len(with_batch) >= 20
    for case in with_batch:
        d = degrees(case.layout)
        assert case.global_batch % (int(d["dp"]) * int(d.get("mb", "1"))) == 0, case.id


def test_traffic_fields_belong_to_serving(cases: dict[str, records.ValidationCase]) -> None:
    for case in cases.values():
        if case.kind == "train":
            assert case.concurrency is None and case.request_rate_per_s is None, case.id
        else:
            assert case.global_batch is None, case.id


def test_llama3_mfu_cases_read_the_papers_mfu_column(cases: dict[str, records.ValidationCase]) -> None:
    # Llama 3 paper, Table 4, "BF16 MFU": 43% (8,192 GPUs), 41% (16,384), 38% (16,384 at 128K)
    assert cases["val-meta-405b-8k"].published == 0.43
    assert cases["cal-meta-405b-16k"].published == 0.41
    assert cases["val-meta-405b-16k-128k"].published == 0.38
    # Table 4's degrees; sec. 3.3.2: 8K sequences without activation checkpointing, gradients in FP32,
    # FSDP sharding optimizer state and gradients but not the weights (zero=2), an interleaved schedule
    assert cases["cal-meta-405b-16k"].layout == "tp=8,cp=1,pp=16,dp=128,recompute=none,grads=32,zero=2"
    meta = [c for c in cases.values() if c.stack == "meta-pytorch"]
    assert len(meta) == 4 and all(c.interleaved and "zero=2" in c.layout for c in meta)


def test_nemo_gpt3_cases_cite_the_release_their_figures_come_from(cases: dict[str, records.ValidationCase]) -> None:
    # dgxc-benchmarking v25.02 README_175b.md: 63,099 (BF16) and 93,190 (FP8) tokens/s on 128 GPUs
    bf16, fp8 = cases["val-nemo-gpt3-bf16-128"], cases["val-nemo-gpt3-fp8-128"]
    assert round(bf16.published * 128, -2) == 63_100 and round(fp8.published * 128, -2) == 93_200
    assert bf16.source.key == fp8.source.key == "dgxc-2502"
    assert "v25.02" in bf16.source.title and "24.12" in bf16.source.title


def test_trn2_70b_tutorial_figures_are_dated_by_the_csv_version_they_come_from(
    cases: dict[str, records.ValidationCase],
) -> None:
    ttft, tpot = cases["cal-serve-trn2-70b-ttft"], cases["cal-serve-trn2-70b-tpot"]
    assert (ttft.published, tpot.published) == (0.5756, 0.0198)
    assert str(ttft.source.date) == "2024-12-21"
    now_ttft, now_tpot = cases["val-serve-trn2-70b-2025-ttft"], cases["val-serve-trn2-70b-2025-tpot"]
    assert (now_ttft.published, now_tpot.published) == (0.8142, 0.0196)
    assert str(now_ttft.source.date) == "2025-02-04"


def test_every_case_names_the_software_that_produced_it(cases: dict[str, records.ValidationCase]) -> None:
    missing = [c.id for c in cases.values() if not c.software]
    assert not missing, f"cases without a software stack: {missing}"


def test_every_cited_source_has_an_address_and_a_date(cases: dict[str, records.ValidationCase]) -> None:
    for case in cases.values():
        assert case.source.url and case.source.date, case.source.key


@pytest.mark.parametrize("bad", ["tp8", "tp=8,,pp=2", "tp=8,tp=4", "=8"])
def test_a_malformed_layout_is_refused(bad: str) -> None:
    case = next(iter(registry.build(registry.Settings(profile_dirs=())).validation_cases.values()))
    with pytest.raises(ValueError, match="layout"):
        attrs.evolve(case, layout=bad)


def test_ranks_per_chip_must_be_a_positive_whole_number() -> None:
    case = next(iter(registry.build(registry.Settings(profile_dirs=())).validation_cases.values()))
    with pytest.raises(ValueError, match="ranks_per_chip"):
        attrs.evolve(case, ranks_per_chip=0)
