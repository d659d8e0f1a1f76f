"""``hwprof validate``'s bookkeeping on synthetic training cases: the published keys (ranks folded
into tensor parallel, uneven stages), the batch, the metric from a step time by hand, the range, the
errors and the summary, computed here from the estimator's own step (``step.step``) so the tests
hold whatever the model's constants are.
"""

from __future__ import annotations

import math
import statistics

import attrs
import pytest

from hwprof.data import registry
from hwprof.perf import efficiency as eff
from hwprof.perf import ranges, validate
from hwprof.perf.fit import loso
from hwprof.perf.train import layout, search, step, training
from hwprof.perf.train.job import default_batch_tokens
from tests.facts import facts

LAYOUT = "tp=2,pp=1,dp=4,cp=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1"


def make_case(reg: registry.Registry, id: str, **changes: object) -> object:
    template = next(c for c in reg.validation_cases.values() if c.kind == "train" and c.chip == "h100-sxm")
    base = {"id": id, "role": "validation", "model": "llama3.1-8b", "chip": "h100-sxm", "chips": 8,
            "system": "hgx-h100-8", "precision": "bf16", "metric": "tokens_per_s_per_chip", "layout": LAYOUT,
            "global_batch": 64, "seq_len": 4096, "full_run": False, "tokens": None, "calibrates": (),
            "ranks_per_chip": 1, "published": 1000.0}  # fmt: skip
    base.update(changes)
    return attrs.evolve(template, **base)


def with_cases(reg: registry.Registry, *cases: object) -> registry.Registry:
    return attrs.evolve(reg, validation_cases={c.id: c for c in cases})  # type: ignore[attr-defined]


def test_published_keys_are_ranks_and_mark_uneven_stages(reg: registry.Registry) -> None:
    work = reg.workload("llama3.1-8b")  # 32 layers
    case = make_case(reg, "a", layout="tp=8,pp=4,dp=2", ranks_per_chip=2)
    assert validate.published_keys(case, work) == {"tp": 8, "pp": 4, "dp": 2}
    assert validate.published_keys(make_case(reg, "a", layout="pp=3"), work) == {"pp": 3, "uneven": 1}
    assert validate.published_keys(make_case(reg, "a", layout="pp=4,vpp=3"), work) == {"pp": 4, "vpp": 3, "uneven": 1}
    assert validate.published_keys(make_case(reg, "a", layout="pp=4,vpp=2"), work) == {"pp": 4, "vpp": 2}
    assert validate.published_keys(make_case(reg, "a", layout="tp=2"), work) == {"tp": 2}


def test_a_case_with_ranks_per_chip_runs_as_ranks(reg: registry.Registry) -> None:
    consts = training.constants()
    one, _ = validate.train_job(make_case(reg, "a"), reg, consts)
    two, _ = validate.train_job(make_case(reg, "a", ranks_per_chip=2, layout="tp=4,pp=1,dp=4"), reg, consts)
    assert (one.chips, two.chips) == (8, 16) and (one.ranks_per_chip, two.ranks_per_chip) == (1, 2)
    assert two.memory_bytes == pytest.approx(one.memory_bytes / 2) and two.peak_matmul == pytest.approx(
        one.peak_matmul / 2
    )
    assert two.batch_seqs == one.batch_seqs


def test_the_batch_is_the_published_one_else_4m_tokens_filling_the_pipeline(reg: registry.Registry) -> None:
    consts = training.constants()
    job, fixed = validate.train_job(make_case(reg, "a", global_batch=96), reg, consts)
    assert job.batch_seqs == 96 and job.seq_len == 4096 and fixed == layout.given(LAYOUT)
    job, _ = validate.train_job(make_case(reg, "a", global_batch=None), reg, consts)
    assert job.batch_seqs == max(4, default_batch_tokens(8) // 4096)
    job, _ = validate.train_job(make_case(reg, "a", global_batch=None, layout="tp=1,pp=2,dp=4,mb=256"), reg, consts)
    assert job.batch_seqs == 4 * 2 * 256  # more than 4M tokens hold: filled
    job, _ = validate.train_job(make_case(reg, "a", global_batch=None, seq_len=None), reg, consts)
    work = reg.workload("llama3.1-8b")
    assert job.seq_len == work.seq_len and job.batch_seqs == max(4, default_batch_tokens(8) // work.seq_len)
    bare, _ = validate.train_job(make_case(reg, "a", system=""), reg, consts)
    assert bare.tiers[0].link.name == reg.chip("h100-sxm").scale_up  # a bare chip: its native link


def test_metrics_from_a_step_time_by_hand(reg: registry.Registry) -> None:
    consts = training.constants()
    job, _ = validate.train_job(make_case(reg, "a"), reg, consts)
    step_s = 2.5
    tokens_per_s = 64 * 4096 / step_s
    assert validate.metric(make_case(reg, "a"), job, step_s) == pytest.approx(tokens_per_s / 8)
    flops = 6 * job.active_params + 6 * job.layers * 4096 * job.heads * job.head_dim
    mfu = validate.metric(make_case(reg, "a", metric="mfu"), job, step_s)
    assert mfu == pytest.approx(flops * tokens_per_s / (8 * job.peak_matmul))
    hours = validate.metric(make_case(reg, "a", metric="chip_hours", tokens=1e11), job, step_s)
    assert hours == pytest.approx(1e11 / tokens_per_s / 3600 * 8)
    whole = validate.metric(make_case(reg, "a", metric="chip_hours", tokens=1e11, full_run=True), job, step_s)
    assert whole == pytest.approx(hours / eff.FULL_RUN_FACTOR.value)
    default = validate.metric(make_case(reg, "a", metric="chip_hours", tokens=None), job, step_s)
    assert default == pytest.approx(1e12 / tokens_per_s / 3600 * 8)


def test_a_published_run_uses_its_layout_and_names_the_keys_it_searched(reg: registry.Registry) -> None:
    consts = training.constants()
    case = make_case(reg, "a", layout="tp=2,pp=1,dp=4")
    run = validate.run_train(case, reg, consts)
    job, fixed = validate.train_job(case, reg, consts)
    found = search.search(job, fixed, top=1)
    assert run.layout == str(found.layouts[0]) and run.fits
    assert run.step_s == pytest.approx(float(step.step(found.layouts[0], job).total))
    assert run.value == pytest.approx(validate.metric(case, job, run.step_s))
    facts(run.basis, "published", "searched")
    assert run.basis.rsplit("searched: ", 1)[1] == "cp, ep, vpp, mb, zero, recompute, sp"  # the rest published
    full = validate.run_train(make_case(reg, "b"), reg, consts)
    facts(full.basis, "published", "searched")
    assert full.basis.rsplit("searched: ", 1)[1] == "ep"
    searched = validate.run_train(case, reg, consts, searched=True)
    assert searched.basis == "searched"
    best = search.search(job, None, top=1)
    assert searched.step_s == pytest.approx(best.step_s[0]) and searched.step_s <= run.step_s * (1 + 1e-12)
    # a published uneven split stays allowed in the searched run
    uneven = make_case(reg, "c", layout="tp=1,pp=3,dp=2", chips=6, system="")
    job_u, fixed_u = validate.train_job(uneven, reg, consts)
    assert fixed_u["uneven"] == 1
    got = validate.run_train(uneven, reg, consts, searched=True)
    assert got.step_s == pytest.approx(search.search(job_u, {"uneven": 1}, top=1).step_s[0])


def test_a_published_layout_that_does_not_fit_runs_as_written_and_is_flagged(reg: registry.Registry) -> None:
    consts = training.constants()
    case = make_case(reg, "a", model="llama3.1-70b", layout="tp=1,pp=1,dp=8,zero=0,recompute=none,mb=1")
    run = validate.run_train(case, reg, consts)
    assert not run.fits
    job, _ = validate.train_job(case, reg, consts)
    lay = layout.parse("tp=1,pp=1,dp=8,zero=0,recompute=none,mb=1", 8)
    assert run.layout == str(lay)
    assert run.step_s == pytest.approx(float(step.step(lay, job).total))


def test_an_interleaved_source_searches_virtual_stages_from_two(reg: registry.Registry) -> None:
    consts = training.constants()
    plain = make_case(reg, "a", layout="tp=2,pp=2,dp=2", model="llama3.1-8b")
    interleaved = attrs.evolve(plain, interleaved=True)
    job, fixed = validate.train_job(interleaved, reg, consts)
    assert fixed["min_vpp"] == 2 and "min_vpp" not in validate.train_job(plain, reg, consts)[1]
    rows = list(search.candidates(job, fixed))
    assert rows and min(r[search.FIELDS.index("vpp")] for r in rows) == 2
    assert min(r[search.FIELDS.index("vpp")] for r in search.candidates(job, {"tp": 2, "pp": 2})) == 1
    run = validate.run_train(interleaved, reg, consts)
    assert layout.parse(run.layout, 8).vpp >= 2
    best = search.search(job, {k: v for k, v in fixed.items() if k != "min_vpp"}, top=40)
    fastest_interleaved = next(s for lay, s in zip(best.layouts, best.step_s, strict=True) if lay.vpp >= 2)
    assert run.step_s == pytest.approx(fastest_interleaved)
    # a published vpp wins over the flag
    given = attrs.evolve(interleaved, layout="tp=2,pp=2,dp=2,vpp=1")
    assert "min_vpp" not in validate.train_job(given, reg, consts)[1]
    # the flag is validate's: the searched run ignores it
    assert validate.run_train(interleaved, reg, consts, searched=True).step_s == pytest.approx(
        search.search(job, None, top=1).step_s[0]
    )


def test_predict_forms_the_range_as_an_estimate_does(reg: registry.Registry) -> None:
    consts = training.constants()
    case = make_case(reg, "a")
    synthetic = with_cases(reg, case)
    run = validate.run_train(case, synthetic, consts)
    got = validate.predict(case, synthetic)
    assert got["expected"] == pytest.approx(run.value) and got["layout"] == run.layout and got["fits"] is True
    assert got["extrapolated"] == training.extrapolated(run.job) == "" and "low" not in got
    band = ranges.Band("train", "own", 0.9, -0.3, 0.4, 20, 1.0, "t")
    ranged = validate.predict(case, synthetic, band=band)
    # tokens/s: a rate; its fast end stops where the run's MFU reaches the large-matmul share
    flops = 6 * run.job.active_params + 6 * run.job.layers * 4096 * run.job.heads * run.job.head_dim
    mfu = flops * 64 * 4096 / run.step_s / (8 * run.job.peak_matmul)
    highest = run.value * training.matmul_ceiling(run.job) / mfu
    assert ranged["low"] == pytest.approx(run.value * math.exp(-0.4))
    assert ranged["high"] == pytest.approx(max(min(run.value * math.exp(0.3), highest), run.value))
    hours = make_case(reg, "h", metric="chip_hours", tokens=1e11)
    hrun = validate.run_train(hours, synthetic, consts)
    timed = validate.predict(hours, synthetic, band=band)
    fastest = hrun.value * mfu / training.matmul_ceiling(hrun.job)
    assert timed["high"] == pytest.approx(hrun.value * math.exp(0.4))
    assert timed["low"] == pytest.approx(min(max(hrun.value * math.exp(-0.3), fastest), hrun.value))
    assert timed["low"] < timed["expected"] < timed["high"] or timed["low"] == timed["expected"]


def test_the_run_reports_errors_ranges_and_the_summary(reg: registry.Registry) -> None:
    consts = training.constants()
    a = make_case(reg, "a", role="calibration")
    b = make_case(reg, "b", layout="tp=4,pp=1,dp=2")
    c = make_case(reg, "c", layout="tp=1,pp=1,dp=8", metric="chip_hours", tokens=1e11)
    bad = make_case(reg, "d", layout="tp=3", ranks_per_chip=2)  # 16 ranks: refused, reported; the rest still run
    est = {x.id: validate.run_train(x, reg, consts).value for x in (a, b, c)}
    a = attrs.evolve(a, published=est["a"] * 1.1)
    b = attrs.evolve(b, published=est["b"] * 2.0)  # outside
    c = attrs.evolve(c, published=est["c"] / 1.05)
    out = loso.run(with_cases(reg, a, b, c, bad))
    assert [u["id"] for u in out["unusable"]] == ["d"] and out["unusable"][0]["reason"].startswith(
        "layout refused (chips)"
    )
    rows = {r["id"]: r for r in out["cases"]}
    assert list(rows) == ["a", "b", "c"]  # by role, kind, id
    assert rows["a"]["error"] == pytest.approx(1 / 1.1 - 1)
    assert rows["b"]["error"] == pytest.approx(-0.5)
    for r in rows.values():  # inside its own range, as the range was formed
        est_range = r["estimate"]
        assert r["in_range"] == (
            min(est_range["low"], est_range["high"]) <= r["published"] <= max(est_range["low"], est_range["high"])
        )
    assert rows["c"]["error"] == pytest.approx(0.05)
    assert rows["a"]["published"] == a.published and rows["a"]["estimate"]["expected"] == pytest.approx(est["a"])
    assert rows["a"]["role"] == "calibration" and rows["a"]["kind"] == "train" and rows["a"]["metric"] == a.metric
    assert rows["b"]["published_layout"] == "tp=4,pp=1,dp=2" and rows["b"]["layout_fits"] is True
    searched = validate.run_train(b, reg, consts, searched=True)
    assert rows["b"]["searched_layout"] == searched.layout
    assert rows["b"]["searched_estimate"] == pytest.approx(searched.value)
    assert rows["b"]["searched_error"] == pytest.approx(searched.value / b.published - 1)
    # tokens/s: the searched layout is faster when its estimate is higher; chip-hours: when lower
    assert rows["b"]["searched_vs_published"] == pytest.approx(est["b"] / searched.value - 1)
    searched_c = validate.run_train(c, reg, consts, searched=True)
    assert rows["c"]["searched_vs_published"] == pytest.approx(searched_c.value / est["c"] - 1)
    v = out["summary"]["validation"]
    assert v["cases"] == 2 and v["train_cases"] == 2 and v["serve_cases"] == 0
    assert v["median_abs_error"] == pytest.approx(statistics.median([0.5, 0.05]))
    share = (rows["b"]["in_range"] + rows["c"]["in_range"]) / 2
    assert v["in_range_share"] == pytest.approx(share) and v["train_in_range_share"] == pytest.approx(share)
    assert v["train_median_abs_error"] == pytest.approx(v["median_abs_error"])
    assert v["searched_median_abs_error"] == pytest.approx(
        statistics.median([abs(rows[i]["searched_error"]) for i in "bc"]))  # fmt: skip
    assert v["searched_worst_vs_published"] == max(rows[i]["searched_vs_published"] for i in "bc")
    assert out["summary"]["calibration"]["cases"] == 1
    only = loso.run(with_cases(reg, a, b, c), role="calibration")
    assert [r["id"] for r in only["cases"]] == ["a"] and list(only["summary"]) == ["calibration", "all"]
    # one document held out: no calibration case is left, so every constant stays as shipped (and says so)
    assert rows["a"]["in_sample_error"] == pytest.approx(rows["a"]["error"]) and out["fallbacks"]
    assert out["summary"]["all"]["by_chip"]["train h100-sxm"]["cases"] == 3


def test_inside_and_slower() -> None:
    assert validate.inside(2.0, {"low": 1.0, "high": 3.0})
    assert validate.inside(1.0, {"low": 1.0, "high": 3.0}) and validate.inside(3.0, {"low": 1.0, "high": 3.0})
    assert not validate.inside(3.1, {"low": 1.0, "high": 3.0}) and not validate.inside(0.9, {"low": 1.0, "high": 3.0})
    assert validate.inside(2.0, {"low": 3.0, "high": 1.0})  # ends in either order
    assert validate.inside(100.0, {"low": 1.0, "high": None}) and not validate.inside(0.5, {"low": 1.0, "high": None})
    assert validate.inside(0.0, {"low": None, "high": 1.0}) and not validate.inside(1.5, {"low": None, "high": 1.0})
    assert validate.inside(5.0, {"low": None, "high": None})

    class Case:
        metric = "chip_hours"

    class Rate:
        metric = "tokens_per_s_per_chip"

    assert validate.slower(Case(), 100.0, 110.0) == pytest.approx(0.1)  # type: ignore[arg-type]
    assert validate.slower(Rate(), 100.0, 80.0) == pytest.approx(0.25)  # type: ignore[arg-type]
