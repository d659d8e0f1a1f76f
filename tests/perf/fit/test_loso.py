"""Leave-one-source-out (core/perf/fit/loso.py): a document's cases are held out together, every
constant is refitted from the calibration cases that remain, validation cases never feed a fit, a
constant whose only cases were held out takes its stated fallback, and a chip without runs of its own
borrows the nearest chip's factor."""

from __future__ import annotations

import statistics

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import ranges, validate
from hwprof.perf.fit import calibrate, loso
from hwprof.perf.train import training
from tests.conftest import ALL_PUBLISHED


def test_versions_of_one_table_are_one_document(reg: registry.Registry) -> None:
    docs = loso.documents(reg)
    trn1 = {c.source.key for c in docs["neuron-trn1-training"]}
    assert {"trn1-perf", "trn1-perf-old", "trn1-nlp-213", "trn1-perf-218"} <= trn1
    # one run reported twice (the paper's MFU, the model card's GPU-hours) is one document
    assert {c.id for c in docs["llama3"]} >= {"cal-meta-405b-16k", "cal-llama31-405b-gpu-hours"}
    # a source with no document of its own is its own document
    assert loso.document(reg.validation_cases["cal-deepseek-v3-gpu-hours"]) == "deepseek-v3"
    view = loso.without(reg, "neuron-trn1-training")
    # every case of that document leaves with it; Trainium1's runs in another document stay
    left = {loso.document(c) for c in view.validation_cases.values() if c.chip == "trainium1" and c.kind == "train"}
    assert left == {"awsome-trn1-llama3-70b"}
    assert len(view.validation_cases) == len(reg.validation_cases) - len(docs["neuron-trn1-training"])


def test_no_validation_case_feeds_any_fit(reg: registry.Registry) -> None:
    """Every fitted constant, training and serving, comes out the same when every validation case's
    published value is changed; changing one calibration case's value moves its constant."""
    poisoned = attrs.evolve(reg, validation_cases={
        k: attrs.evolve(c, published=c.published * 3) if c.role == "validation" else c
        for k, c in reg.validation_cases.items()})  # fmt: skip
    a, b = loso.fit(reg), loso.fit(poisoned)
    assert (a.train, a.full_run, a.serve) == (b.train, b.full_run, b.serve)
    bent = dict(reg.validation_cases)
    case = bent["cal-nemo-70b-bf16-64"]
    bent[case.id] = attrs.evolve(case, published=case.published * 1.5)
    moved, _full, _missing = loso.fit_train(attrs.evolve(reg, validation_cases=bent))
    assert moved.matmul_16bit > a.train.matmul_16bit * 1.02  # the median of its three runs moves


def test_a_constant_whose_cases_are_all_held_out_takes_its_fallback(reg: registry.Registry) -> None:
    # the only 8-bit calibration run is in the dgxc-benchmarking document
    consts, full_run, missing = loso.fit_train(loso.without(reg, "dgxc-benchmarking"))
    assert "matmul_8bit" in missing and consts.matmul_8bit == consts.matmul_16bit
    consts, full_run, missing = loso.fit_train(loso.without(reg, "llama3"))
    # the whole-run factor then rests on DeepSeek-V3 alone: its steady-state estimate over its GPU-hours
    assert "full_run_factor" not in missing and full_run == pytest.approx(0.853, abs=0.01)
    gone = attrs.evolve(reg, validation_cases={k: c for k, c in reg.validation_cases.items()
                                               if loso.document(c) not in ("llama3", "deepseek-v3")})  # fmt: skip
    assert loso.fit_train(gone)[1] == 1.0 and "full_run_factor" in loso.fit_train(gone)[2]
    # the 16-bit share is refitted on the two NeMo runs alone (the shipped median of three is Meta's)
    assert consts.matmul_16bit != pytest.approx(training.constants().matmul_16bit, rel=1e-3)
    consts, _full, missing = loso.fit_train(loso.without(reg, "nemo-performance-summary"))
    assert "expert_overlap" in missing and consts.expert_overlap == 0.0


def test_a_chip_without_runs_borrows_the_nearest_chips_factor(reg: registry.Registry) -> None:
    base = loso.shipped(reg)
    fitted = attrs.evolve(base, train=attrs.evolve(base.train, chip_factors=(("trainium2", 0.5),)))
    assert loso.train_factor(fitted, reg.chip("trainium1")) == (0.5, "borrowed")  # nearest: trainium2
    assert loso.train_factor(fitted, reg.chip("trainium2")) == (0.5, "own")
    assert loso.train_factor(fitted, reg.chip("trainium3")) == (0.5, "borrowed")
    fitted = attrs.evolve(base, train=attrs.evolve(base.train, chip_factors=(("h100-sxm", 0.9),)))
    assert loso.train_factor(fitted, reg.chip("h200-sxm")) == (0.9, "own")  # its evidence chip's runs
    assert loso.train_factor(fitted, reg.chip("trainium1")) == (1.0, "reference")


def test_evidence_follows_the_silicon_and_the_stack(reg: registry.Registry) -> None:
    cases = list(reg.validation_cases.values())
    own = ranges.own_chips(cases, "train")
    # H200 is H100 silicon and software: the H100's runs are its own, not borrowed
    assert ranges.evidence("train", reg.chip("h200-sxm"), own) == "own"
    assert ranges.evidence("train", reg.chip("trainium3"), own) == "borrowed"
    stacks = ranges.own_stacks(cases, "train")
    assert ranges.evidence("train", reg.chip("h100-sxm"), own, "nemo-megatron", stacks) == "own"
    assert ranges.evidence("train", reg.chip("h100-sxm"), own, "torchtitan", stacks) == "other"
    assert ranges.evidence("train", reg.chip("h200-sxm"), own, "nemo-megatron", stacks) == "own"


@ALL_PUBLISHED
def test_a_calibration_case_is_scored_without_its_document(reg: registry.Registry) -> None:
    case = reg.validation_cases["cal-nemo-70b-fp8-64"]
    (scored,) = [s for s in loso.evaluated(reg)[0] if s.case.id == case.id]
    view = loso.without(reg, "dgxc-benchmarking")
    consts, _full, _missing = loso.fit_train(view)
    expected = validate.run_train(case, view, consts).value
    assert scored.expected == pytest.approx(expected)
    assert scored.document == "dgxc-benchmarking" and scored.case.role == "calibration"
    # the shipped constants reproduce it (in sample); held out, its 8-bit share is gone
    in_sample = validate.run_train(case, reg, calibrate.shipped(reg)).value
    assert abs(in_sample / case.published - 1) < 0.03 < abs(scored.error)


@ALL_PUBLISHED
def test_the_report_is_out_of_sample_by_chip_stack_and_kind(reg: registry.Registry) -> None:
    out = loso.run(reg)
    rows = {r["id"]: r for r in out["cases"]}
    scored = {s.case.id: s for s in loso.evaluated(reg)[0]}
    assert set(rows) == set(scored)
    for r in rows.values():
        assert r["error"] == pytest.approx(scored[r["id"]].expected / r["published"] - 1)
        assert r["document"] == scored[r["id"]].document
    whole = out["summary"]["all"]
    trains = [abs(r["error"]) for r in rows.values() if r["kind"] == "train"]
    assert whole["train_median_abs_error"] == pytest.approx(statistics.median(trains))
    h100 = [r for r in rows.values() if r["kind"] == "train" and r["chip"] == "h100-sxm"]
    assert whole["by_chip"]["train h100-sxm"]["cases"] == len(h100)
    assert whole["by_stack"]["serve tensorrt-llm"]["cases"] == sum(
        r["kind"] == "serve" and r["stack"] == "tensorrt-llm" for r in rows.values()
    )
    assert "leave-one-source-out" in out["method"]


def test_held_out_scores_are_computed_once_per_registry_contents(
    reg: registry.Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry built again (each CLI call, each output format) finds the last computation; a changed
    case is scored afresh. On one built-in document's single case, so the computation takes a moment."""
    small = attrs.evolve(reg, validation_cases={k: c for k, c in reg.validation_cases.items()
                                                if loso.document(c) == "trtllm-r1-guide"})  # fmt: skip
    (case,) = small.validation_cases.values()
    monkeypatch.setattr(loso, "_CACHE", [])
    computed = []
    real = loso._evaluate
    monkeypatch.setattr(loso, "_evaluate", lambda r: computed.append(r) or real(r))
    first = loso.run(small)
    again = loso.run(attrs.evolve(small, validation_cases=dict(small.validation_cases)))  # equal records
    assert again == first and len(computed) == 1
    again["cases"].clear()  # each caller has its own copy
    assert loso.run(small)["cases"] == first["cases"] and len(computed) == 1
    # twice the published figure, the same held-out estimate (no calibration case to refit): the error
    # goes from e to (1 + e) / 2 - 1
    doubled = attrs.evolve(case, published=case.published * 2)
    moved = loso.run(attrs.evolve(small, validation_cases={case.id: doubled}))
    assert len(computed) == 2
    assert moved["cases"][0]["error"] == pytest.approx((1 + first["cases"][0]["error"]) / 2 - 1)
