"""Estimates checked against hand arithmetic and published figures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hwprof.cli.app import main
from hwprof.data import records, registry
from hwprof.perf import cluster, efficiency
from hwprof.perf.fit import loso
from hwprof.perf.train import training
from tests import FIXTURES
from tests.conftest import ALL_PUBLISHED, RunCli
from tests.facts import facts


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    registry.reset()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_training_flops_are_6_n_d_without_a_shape(capsys: pytest.CaptureFixture[str]) -> None:
    # Without a shape there is no layout to model: a given utilisation stands in for it.
    code, out, _ = run(capsys, "estimate", "train", "--params", "405e9", "--tokens", "15.6e12",
                       "--chip", "h100-sxm", "--chips", "128", "--mfu", "0.4", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["flops"] == pytest.approx(6 * 405e9 * 15.6e12)  # 3.79e25, the Llama 3 paper's 3.8e25
    assert data["flops"] == pytest.approx(3.8e25, rel=0.01)


def test_attention_adds_two_thirds_at_128k_context() -> None:
    llama = records.Workload.given(405e9, id="405b", active_params=405e9, layers=126, hidden=16384, heads=128,
                                   head_dim=128)  # fmt: skip
    dense, attention = llama.train_flops_per_token(131072)
    assert dense == 6 * 405e9
    assert attention / dense == pytest.approx(6 * 126 * 131072 * 16384 / (6 * 405e9))
    assert attention / dense == pytest.approx(2 / 3, rel=0.01)


def test_time_is_flops_over_chips_times_peak_times_mfu(reg: registry.Registry) -> None:
    chip = reg.chip("trainium2")
    target = cluster.cluster_for(chip, 64, reg.system("trn2-ultraserver"), reg.interconnects)
    work = records.Workload.given(70e9, id="x", active_params=70e9)
    result = training.estimate_train(
        training.TrainRequest(work, target, tokens=1e12, precision="bf16"), reg.interconnects, mfu=0.4
    )
    expected = 6 * 70e9 * 1e12 / (64 * 667e12 * 0.4)
    assert result.time_s.expected == pytest.approx(expected)
    assert result.chip_hours.expected == pytest.approx(expected / 3600 * 64)
    # energy = chips x rated power x hours, with the power figure's status
    assert result.energy_kwh is not None and result.energy is not None
    assert result.energy_kwh.expected == pytest.approx(64 * 0.5 * expected / 3600)
    assert result.energy["power_status"] == "reported"


def test_peak_of_an_ultraserver_matches_the_article(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "peak", "--system", "trn2-ultraserver", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(64 * 1299 / 1000)  # 83.1
    assert data["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(83.2, rel=0.001)
    code, out, _ = run(capsys, "estimate", "peak", "--chip", "trainium2", "--chips", "16", "--json")
    assert json.loads(out)["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(20.8, rel=0.001)


def test_train_json_carries_range_cost_and_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system",
                       "p5.48xlarge", "--count", "4", "--region", "us-east-1", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    for key in ("time_s", "chip_hours", "cost_usd", "energy_kwh"):
        assert data[key]["low"] < data[key]["expected"] < data[key]["high"]
    hours = data["time_s"]["expected"] / 3600
    assert data["cost_usd"]["expected"] == pytest.approx(4 * 55.04 * hours)
    assert "bf16" in data["precision_basis"]
    assert data["memory"]["fits"] and data["memory"]["total_bytes_per_chip"] <= data["memory"]["usable_bytes_per_chip"]
    assert data["layout"].startswith("tp=") and data["layout_basis"].startswith("searched")
    assert data["runner_up"]["step_s"] >= data["step"]["total_s"]


def test_a_given_layout_is_parsed_once_and_the_json_carries_it_typed(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:  # fmt: skip
    from hwprof.perf.train import layout

    parsed: list[str] = []
    real = layout.parse
    monkeypatch.setattr(layout, "parse", lambda text, chips=None: parsed.append(text) or real(text, chips))
    data = run_cli("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge",
                   "--count", "2", "--layout", "tp=2,pp=2", "--json").json()  # fmt: skip
    assert parsed == ["tp=2,pp=2"]
    # 16 chips over tp 2 x pp 2 leave dp 4; the rest are the defaults, etp following tp
    assert data["layout"] == "tp=2,pp=2,dp=4,cp=1,ep=1,vpp=1,mb=1,zero=1,recompute=selective,sp=1"
    assert data["layout_fields"] == {"tp": 2, "pp": 2, "dp": 4, "cp": 1, "ep": 1, "vpp": 1, "mb": 1, "zero": 1,
                                     "recompute": "selective", "sp": 1, "uneven": 0, "grads": 32, "etp": 2}  # fmt: skip


TRAIN_8B = "estimate train --model llama3.1-8b --tokens 1e9 --system p5.48xlarge"


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("estimate serve --model llama3.1-405b --chip h100-sxm --chips 1", "needs at least"),
        ("estimate train --model llama3.1-405b --tokens 1e12 --system trn2.48xlarge", "no layout of llama3.1-405b fits"),
        (f"{TRAIN_8B} --count 2 --layout tp=16", "layout refused (domain)"),
        (f"{TRAIN_8B} --layout tp=3", "layout refused (chips)"),
        (f"{TRAIN_8B} --layout tp=2,pp=5", "layout refused (chips)"),
        (f"{TRAIN_8B} --layout tp=8,dp=1,mb=3", "layout refused (batch)"),
        (f"{TRAIN_8B} --layout tp=8,dp=1,ep=2", "layout refused (experts)"),
        (f"{TRAIN_8B} --layout tp=2,pp=4,dp=1,vpp=3", "layout refused (layers)"),
        (f"{TRAIN_8B} --layout tp=2,pp=4,dp=1,zero=4", "layout refused (syntax)"),
        (f"{TRAIN_8B} --layout tp=2,pp=4,dp=1,recompute=some", "layout refused (syntax)"),
        (f"{TRAIN_8B} --layout tp=2,pp=4,pp=2", "given twice"),
        (f"{TRAIN_8B} --layout tp", "not key=value"),
        (f"{TRAIN_8B} --layout tp=x", "not a whole number"),
        (f"{TRAIN_8B} --layout tp=0", "at least 1"),
        ("estimate train --model llama3.1-70b --tokens 1e9 --system p5.48xlarge --layout tp=8", "layout refused (memory)"),
        ("estimate train --model llama3.1-8b --tokens 1e9 --chip h100-sxm --chips 16", "native link joins 8"),
        ("estimate train --params 8e9 --tokens 1e9 --system p5.48xlarge --layout tp=8", "lacks layers, hidden, heads"),
        ("estimate train --model llama3.1-8b --tokens 0 --system p5.48xlarge", "--tokens"),
        ("estimate train --model llama3.1-8b --tokens -5 --system p5.48xlarge", "--tokens"),
        (f"{TRAIN_8B} --count 0", "--count"),
        ("estimate serve --model llama3.1-8b --system p5.48xlarge --batch 0", "concurrency must be at least 1"),
        (f"{TRAIN_8B} --precision fp4", "it has fp8, int8, bf16"),
        ("estimate train --model llama3.1-8b --tokens 1e9 --system p5e.48xlarge --region us-east-2",
         "capacity-block in us-east-2"),
        (f"{TRAIN_8B} --region mars-1", "known regions"),
        ("estimate train --model llama9 --tokens 1e9 --system p5.48xlarge", "unknown workload"),
        ("estimate serve --model llama3.1-8b --system p5.48xlarge --arrivals constant", "give --rate R with it"),
    ],
)  # fmt: skip
def test_bad_estimate_input_is_one_clear_line(capsys: pytest.CaptureFixture[str], command: str, needle: str) -> None:
    code, out, err = run(capsys, *command.split())
    assert code != 0
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert needle in lines[0]


@ALL_PUBLISHED
def test_validation_is_reported_and_guarded_against_regressions(reg: registry.Registry) -> None:
    """Validation figures are reported (``hwprof validate``, leave-one-source-out), never tuned against:
    this only catches a regression, with a margin beyond the figures when it was written (47 training
    validation cases: median absolute error 25.1%, 96% inside the range; all 117: 18.3%, 90%)."""
    out = loso.run(reg)
    cases = out["cases"]
    held_out = [c for c in cases if c["role"] == "validation"]
    assert sum(c["kind"] == "train" for c in held_out) >= 10
    assert sum(c["kind"] == "serve" for c in held_out) >= 5
    assert any(reg.validation_cases[c["id"]].chip == "trainium2" for c in held_out)
    summary = out["summary"]["validation"]
    assert summary["median_abs_error"] <= 0.25
    assert summary["train_median_abs_error"] <= 0.30
    # ranges are split-conformal 90% intervals checked leave-one-out (core/perf/ranges.py): on the stacks
    # that set them, by construction near 90% whatever the model's error, so this guards the procedure
    assert summary["train_tuned_stack_in_range_share"] >= 0.8 and summary["serve_tuned_stack_in_range_share"] >= 0.8
    # runs on other stacks are checked against the range their estimate shows (no procedure makes that
    # near 90%: serving's Optimum Neuron runs are 1-84x slower): reported, guarded with a margin
    assert summary["train_in_range_share"] >= 0.8 and summary["serve_in_range_share"] >= 0.7
    # the search never does worse than the published layout under the same model
    assert summary["searched_worst_vs_published"] <= 0.10
    # ... and is faster than the experts' layouts by 13% in median (the fastest -57%): a model error,
    # reported; guarded only against getting worse, with a margin
    assert summary["searched_best_vs_published"] <= summary["searched_median_vs_published"]
    assert summary["searched_median_vs_published"] <= summary["searched_worst_vs_published"]
    assert summary["searched_median_vs_published"] >= -0.25 and summary["searched_best_vs_published"] >= -0.75
    # every training case ran with the keys its source published
    for c in (c for c in cases if c["kind"] == "train"):
        published = reg.validation_cases[c["id"]]
        for key in ("pp", "cp", "dp"):
            part = f"{key}="
            if part in published.layout:
                value = published.layout.split(part)[1].split(",")[0]
                assert f"{part}{value}," in c["layout"] + ",", (c["id"], key)
    # calibration and validation never share a case
    assert {c["id"] for c in held_out}.isdisjoint({c["id"] for c in cases if c["role"] == "calibration"})


def test_compare_checks_the_price_performance_claim(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", "train", "--model", "llama3.1-70b", "--tokens", "1e12", "--systems",
                       "trn2.48xlarge,p5en.48xlarge", "--chips", "64", "--baseline", "p5en.48xlarge", "--json")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    trn2 = next(r for r in data["rows"] if r["system"] == "trn2.48xlarge")
    p5en = next(r for r in data["rows"] if r["system"] == "p5en.48xlarge")
    # cost ratio = price per chip-hour x chip-hours: 63.296 USD/h for 8 GPUs, 35.76 USD/h for 16 chips
    by_hand = (63.296 / 8 * p5en["chip_hours"]["expected"]) / (35.76 / 16 * trn2["chip_hours"]["expected"])
    assert trn2["price_performance"] == pytest.approx(by_hand, rel=1e-6)
    assert p5en["price_performance"] == pytest.approx(1.0)
    assert trn2["layout"].startswith("tp=") and trn2["step"]["total_s"] > 0
    assert "price-performance" in data["finding"]


def test_a_bug_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(training, "estimate_train", broken)
    code, out, err = run(capsys, "estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e9", "--system",
                         "p5.48xlarge")  # fmt: skip
    assert code == 70
    assert err.strip().startswith("internal error: ZeroDivisionError") and "--debug" in err
    assert "Traceback" not in err


def test_every_calibrated_default_names_its_published_runs(reg: registry.Registry) -> None:
    from hwprof.perf.fit import calibrate
    from hwprof.perf.serve import cases as serve_cases

    calibration = [c for c in reg.validation_cases.values() if c.role == "calibration"]
    named = {name for case in calibration for name in case.calibrates}
    for name, default in efficiency.DEFAULTS.items():
        if name in calibrate.FITTED:
            has_cases = bool(calibrate.cases_for(reg, calibrate.FITTED[name][3]))
        else:
            has_cases = name in named
        assert has_cases == default.calibrated, f"{name}: calibrated={default.calibrated}, cases name it: {has_cases}"
    for case in calibration:
        assert case.calibrates, f"{case.id} sets nothing"
        for name in case.calibrates:  # an efficiency default, a fit's own name, a chip's or a chip x stack's figure
            known = name in efficiency.DEFAULTS or calibrate.known(name)
            assert known or serve_cases.shipped_figure(reg, name) is not None, name
    # validation cases never set anything
    assert not any(c.calibrates for c in reg.validation_cases.values() if c.role == "validation")


def test_compare_puts_two_cost_models_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(FIXTURES)  # holds negotiated_prices.toml: p5.48xlarge at 41.28 USD/h
    code, out, _ = run(capsys, "--profiles", data_dir, "compare", "train", "--model", "llama3.1-8b", "--tokens",
                       "1e11", "--systems", "p5.48xlarge,p5en.48xlarge", "--cost-models", "aws,acme-negotiated",
                       "--purchase", "on-demand,negotiated", "--json")  # fmt: skip
    assert code == 0
    rows = {(r["system"], r["cost_model"]): r for r in json.loads(out)["rows"]}
    aws, mine = rows[("p5.48xlarge", "aws")], rows[("p5.48xlarge", "acme-negotiated")]
    assert mine["cost_usd"]["expected"] / aws["cost_usd"]["expected"] == pytest.approx(41.28 / 55.04)
    assert mine["price_performance"] == pytest.approx(55.04 / 41.28)
    # No row for a pair with no price: the negotiated list does not price p5en.
    assert ("p5en.48xlarge", "acme-negotiated") not in rows and ("p5en.48xlarge", "aws") in rows


def test_compare_refuses_an_unknown_purchase_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--systems",
                       "p5.48xlarge,p5en.48xlarge", "--purchase", "on-demnd")  # fmt: skip
    assert code == 1 and err.startswith("error: ")
    facts(err, "--purchase on-demnd", "unknown purchase option", "did you mean 'on-demand'")


def test_every_loaded_price_list_applies_and_the_best_one_prices(capsys: pytest.CaptureFixture[str]) -> None:
    """Several cost models at once (issue 23): with the negotiated rates loaded beside the built-in
    list, estimate prices p5.48xlarge at the negotiated 41.28 USD/h (it stands in for the 55.04
    on-demand list price) and says so, naming the list price; --cost-model filters."""
    data_dir = str(FIXTURES)  # negotiated_prices.toml: p5.48xlarge at 41.28 USD/h, 25% off 55.04
    args = ["estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--system", "p5.48xlarge"]
    code, out, err = run(capsys, "--profiles", data_dir, *args, "--json")
    assert code == 0, err
    assert json.loads(out)["cost"]["price"]["cost_model"] == "acme-negotiated"
    assert json.loads(out)["cost"]["price"]["usd_per_hour"] == 41.28
    [note] = [line for line in err.splitlines() if line.startswith("note: priced")]
    facts(note, "acme-negotiated", "41.28 USD/h (negotiated, us-east-1)", "on-demand", "aws 55.04 USD/h")
    code, out, err = run(capsys, "--profiles", data_dir, *args, "--cost-model", "aws", "--json")
    assert code == 0 and json.loads(out)["cost"]["price"]["usd_per_hour"] == 55.04 and "note: priced" not in err
    # A system only the built-in list prices is priced by it, silently.
    code, out, err = run(capsys, "--profiles", data_dir, *args[:-1], "p5en.48xlarge", "--json")
    assert code == 0 and json.loads(out)["cost"]["price"]["cost_model"] == "aws" and "note: priced" not in err


def test_an_estimate_names_the_stack_it_assumes_and_h200_counts_h100_runs(run_cli: RunCli) -> None:
    args = ["estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--json"]
    h100 = json.loads(run_cli(*args, "--system", "p5.48xlarge").out)
    h200 = json.loads(run_cli(*args, "--system", "p5en.48xlarge").out)
    trn3 = json.loads(run_cli(*args, "--chip", "trainium3", "--chips", "64").out)
    assert h100["stack"] == h200["stack"] == "nemo-megatron" and trn3["stack"] == ""
    # same silicon and software: the H200's range is the H100's class, not a borrowed (widened) one
    assert h100["range"]["evidence"] == h200["range"]["evidence"] == "own"
    assert h200["range"]["log_high"] == h100["range"]["log_high"]
    assert trn3["range"]["evidence"] == "borrowed"
    text = run_cli("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chip", "trainium3",
                   "--chips", "64").out  # fmt: skip
    assert "none stated: no published training run on this chip" in text


def test_a_stack_without_runs_on_the_chip_keeps_its_efficiency_and_widens_the_range(run_cli: RunCli) -> None:
    args = ["estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--system", "p5.48xlarge", "--json"]
    default = json.loads(run_cli(*args).out)
    same = json.loads(run_cli(*args, "--stack", "nemo-megatron").out)
    other = json.loads(run_cli(*args, "--stack", "torchtitan").out)
    assert default["time_s"] == same["time_s"] and same["stack"] == "nemo-megatron"
    assert other["time_s"]["expected"] == default["time_s"]["expected"]  # the chip's efficiency, borrowed
    assert other["range"]["evidence"] == "other" and other["stack"] == "torchtitan"
    assert other["time_s"]["high"] > default["time_s"]["high"] and other["time_s"]["low"] <= default["time_s"]["low"]
    assert any("stack torchtitan: no published training run on h100-sxm" in n for n in other["notes"])
    assert run_cli(*args, "--stack", " ").code != 0


def test_estimate_serve_names_its_stack_and_a_given_one_decides_fixed_costs_and_range(run_cli: RunCli) -> None:
    args = ["estimate", "serve", "--model", "llama3.1-8b", "--system", "trn2.48xlarge", "--json"]
    default = json.loads(run_cli(*args).out)
    assert default["stack"] == "neuronx-distributed" and default["range"]["evidence"] == "corrected"
    # a stack the chip describes and has calibration runs on: its own fixed costs (host time per step), measured;
    # no first-token case of its own, so its prefill efficiency is NxD Inference's (the same runtime), borrowed
    vllm = json.loads(run_cli(*args, "--stack", "optimum-neuron-vllm").out)
    assert vllm["stack"] == "optimum-neuron-vllm" and vllm["range"]["evidence"] == "borrowed"
    assert "prefill efficiency from neuronx-distributed on trainium2" in vllm["stack_basis"]
    assert vllm["tpot_s"]["expected"] > default["tpot_s"]["expected"]
    # one it does not describe: the default stack's fixed costs, borrowed, the range widened
    other = json.loads(run_cli(*args, "--stack", "tensorrt-llm").out)
    assert other["range"]["evidence"] == "other" and "borrowed from neuronx-distributed" in other["stack_basis"]
    assert other["tpot_s"]["expected"] == default["tpot_s"]["expected"]
    assert other["tpot_s"]["high"] > default["tpot_s"]["high"]


def test_a_stack_given_on_a_chip_with_no_runs_says_its_efficiency_is_borrowed(run_cli: RunCli) -> None:
    args = ["estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--chip", "trainium3", "--chips", "64"]
    given = json.loads(run_cli(*args, "--stack", "axlearn", "--json").out)
    assert given["stack"] == "axlearn" and given["range"]["evidence"] == "borrowed"
    assert given["stack_basis"].startswith("given; no published training run on this chip")


def test_a_serving_estimate_on_a_chip_without_its_stacks_floors_names_the_borrowing(run_cli: RunCli,
                                                                                      reg: registry.Registry) -> None:  # fmt: skip
    """Trainium3 has no serving run nor stack of its own: its default stack's floors come from Trainium2's
    NxD Inference, as the held-out refit resolves them (the same rule), and the range says borrowed."""
    import attrs

    from hwprof.perf.serve import cases as serve_cases
    from hwprof.perf.serve import layout as sl

    args = ["estimate", "serve", "--model", "llama3.1-8b", "--chip", "trainium3", "--chips", "1", "--json"]
    got = json.loads(run_cli(*args).out)
    stack = sl.stack_of(reg.chip("trainium3"), None, attrs.evolve(sl.SHIPPED, evidence=serve_cases.evidence_of(reg)))
    assert stack.floors_from == "neuronx-distributed on trainium2" and stack.borrowed
    said = [a for a in got["assumptions"] if a.startswith("serving stack neuronx-distributed")]
    assert said and "borrowed from neuronx-distributed on trainium2" in said[0]
    assert got["range"]["evidence"] == "borrowed"
    h200 = json.loads(run_cli("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5en.48xlarge", "--json").out)
    assert h200["range"]["evidence"] == "own" and any("fixed costs those of tensorrt-llm on h100-sxm" in a
                                                      for a in h200["assumptions"])  # fmt: skip


def test_estimate_peak_of_bare_chips_says_each_thing_once(run_cli: Any) -> None:
    result = run_cli("estimate", "peak", "--chip", "trainium2", "--chips", "16")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "16 x trainium2"
    assert "1 chips" not in result.out
    assert not [line for line in lines if re.match(r"(tiers|from)\s+[-:]?\s*$", line)], result.out
    assert not re.search(r"^from\s+:", result.out, re.M)


@pytest.mark.parametrize("kind", ["train", "serve"])
def test_a_precision_in_capitals_means_the_same_precision(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    # Profiles name precisions in lower case; a user typing FP8 asks for fp8, not for an unknown precision.
    base = ["estimate", kind, "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--json"]
    base += ["--tokens", "1e12"] if kind == "train" else ["--kv-precision"]
    answers = []
    for word in ("fp8", "FP8"):
        args = [*base, word] if kind == "serve" else base
        code, out, err = run(capsys, *args, "--precision", word)
        assert code == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1]
    said = answers[1]["inputs"]["precision"] if kind == "train" else answers[1]["weights"]
    assert said == "fp8"
