"""`import hwprof`: docs/api.md's example runs as written, and the functions return what the
commands print with --json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hwprof
from tests import FIXTURES, ROOT
from tests.facts import facts


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_the_documented_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    [example] = python_blocks(ROOT / "docs" / "api.md")
    exec(compile(example, "docs/api.md", "exec"), {})
    out = capsys.readouterr().out
    assert "AWS Trainium2: 1,299 dense FP8 TFLOPS (official" in out
    assert re.search(r"llama3.1-70b on 64 x trn2.48xlarge: \d+ days \(\d+ to \d+\)", out)
    assert "error: unknown system 'no-such-system'" in out


def test_every_documented_function_exists() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`hwprof\.(\w+)\(", text))
    assert named <= set(hwprof.__all__), named - set(hwprof.__all__)
    assert named >= {n for n in hwprof.__all__ if callable(getattr(hwprof, n)) and n not in ("HwprofError", "hookimpl")}


def test_results_are_what_json_prints(run_cli: Any) -> None:
    args = ("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge")
    printed = run_cli(*args, "--json").json()
    result = hwprof.estimate_train("llama3.1-8b", tokens=1e12, system="p5.48xlarge")
    assert json.loads(json.dumps(hwprof.to_json(result), default=str))["time_s"] == printed["time_s"]
    peak = hwprof.estimate_peak(system="trn2-ultraserver")
    assert peak["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(64 * 1299 / 1000)  # 83.1 PF, the article's 83.2


def test_a_model_config_or_a_workload_works_like_a_preset(tmp_path: Path) -> None:
    work = hwprof.workload(FIXTURES / "configs" / "llama-3.1-8b.json")
    assert work.params == pytest.approx(8.03e9, rel=0.01)  # Llama 3.1 8B: 8.03B parameters
    by_workload = hwprof.estimate_train(work, tokens=1e12, chip="h100-sxm", chips=8)
    by_path = hwprof.estimate_train(str(ROOT / "tests/fixtures/configs/llama-3.1-8b.json"), tokens=1e12, chip="h100-sxm",
                                    chips=8)  # fmt: skip
    assert hwprof.to_json(by_workload)["time_s"] == hwprof.to_json(by_path)["time_s"]


def test_plan_and_compare_from_python() -> None:
    plan = hwprof.to_json(hwprof.plan_train("llama3.1-70b", tokens=15e12, deadline_days=30))
    assert plan["cheapest"]["meets_deadline"] and plan["cheapest"]["layout"].startswith("tp=")
    deployment = hwprof.plan_serve("llama3.1-8b", rate=2, ttft_slo=1, tpot_slo=0.05, systems=["trn2.48xlarge"],
                                   max_count=2)  # fmt: skip
    assert deployment.cheapest == "trn2.48xlarge" and deployment.systems[0].best.tpot_p90_s <= 0.05
    served = hwprof.to_json(hwprof.compare_serve("llama3.1-8b", systems=["p5.48xlarge", "trn2.48xlarge"]))
    assert served["baseline"] == "p5.48xlarge" and len(served["rows"]) == 2


def test_every_estimate_compare_and_plan_takes_a_stack() -> None:
    systems = ["p5.48xlarge", "trn2.48xlarge"]
    compared = hwprof.compare_train("llama3.1-8b", tokens=1e11, systems=systems, stack="torchtitan")
    assert [(r["stack"], r["evidence"]) for r in compared.rows] == [("torchtitan", "other")] * 2
    planned = hwprof.plan_train("llama3.1-8b", tokens=1e11, systems=systems, top=2, stack="torchtitan")
    assert {(r.stack, r.evidence) for r in planned.options} == {("torchtitan", "other")}
    served = hwprof.estimate_serve("llama3.1-8b", system="trn2.48xlarge", stack="optimum-neuron-vllm")
    # its prefill efficiency is NxD Inference's on the same chip and runtime, borrowed as its floors are
    assert served.stack == "optimum-neuron-vllm" and served.range.evidence == "borrowed"
    deployment = hwprof.plan_serve("llama3.1-8b", rate=2, ttft_slo=1, tpot_slo=0.05, systems=["p5.48xlarge"],
                                   max_count=2, stack="tensorrt-llm")  # fmt: skip
    assert (deployment.systems[0].stack, deployment.systems[0].evidence) == ("tensorrt-llm", "own")
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.compare_serve("llama3.1-8b", systems=systems, stack="vllm-x")
    assert caught.value.subject == "stack" and "known: " in str(caught.value) and "--" not in str(caught.value)


def test_bad_input_raises_the_commands_message() -> None:
    with pytest.raises(hwprof.HwprofError, match="unknown workload 'llama9'"):
        hwprof.estimate_train("llama9", tokens=1e12, system="p5.48xlarge")


def test_import_hwprof_stays_light() -> None:
    # Every command imports the package first: it must not pull in the estimators or typer.
    code = "import hwprof, sys; print(sorted(m for m in ('typer', 'hwprof.perf.train.training', 'numpy', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: hwprof.estimate_train("llama3.1-70b", tokens=1e12),
         "give the hardware once: `system` ID [`count` K] or `chip` ID `chips` N"),
        (lambda: hwprof.estimate_train("llama3.1-70b", tokens=1e12, system="p5.48xlarge", chips=12),
         "`chips` 12 is not a whole number of p5.48xlarge (8 chips each): use 8 or 16, or `count`"),
        (lambda: hwprof.estimate_serve("llama3.1-8b", chip="h100-sxm"), "`chip` needs `chips` N (how many)"),
        (lambda: hwprof.compare_train("llama3.1-8b", tokens=1e11, systems=["p5.48xlarge", "trn2.48xlarge"],
                                      baseline="x"),
         "`baseline` x is not one of `systems` p5.48xlarge,trn2.48xlarge"),
        (lambda: hwprof.workload(""),
         "give the model once: `model` ID, `params` N (with `layers`/`hidden`/`heads` for attention and KV cache) "
         "or `model_config` PATH"),
    ],
)  # fmt: skip
def test_errors_from_python_name_the_keyword_not_the_flag(call: Any, expected: str) -> None:
    with pytest.raises(hwprof.HwprofError) as caught:
        call()
    assert str(caught.value) == expected
    assert "--" not in str(caught.value)


def test_a_wrong_value_from_python_says_which_input() -> None:
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.estimate_train("llama3.1-70b", tokens=1e12, system="p5.48xlarge", purchase="spto")
    assert (caught.value.subject, caught.value.value) == ("purchase", "spto")
    assert str(caught.value).startswith("purchase spto: unknown purchase option (did you mean 'spot'?)")
    assert caught.value.for_cli().startswith("--purchase spto: unknown purchase option")


def test_the_api_plans_with_a_computed_cost_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed ownership model (tests/fixtures) prices a plan from Python as it does on the
    command line: the API and the CLI build their candidates in the same place (hwprof.service.plan)."""
    from hwprof.data import plugin_loading

    monkeypatch.syspath_prepend(str(FIXTURES / "hwprof-onprem-ownership"))
    installed = plugin_loading.entry_points
    extra = ("hwprof-onprem-ownership", "hwprof_onprem_ownership", "hwprof-onprem-ownership")
    monkeypatch.setattr(plugin_loading, "entry_points", lambda: [*installed(), extra])
    hwprof.registry()
    result = hwprof.plan_train("llama3.1-8b", tokens=1e11, systems=["p5.48xlarge"], cost_model="onprem",
                               purchase="ownership", top=3)  # fmt: skip
    [option, *_] = result.options
    # 8 x (35,000 / (4 x 8,760) + 1.275 kW x 1.3 x 0.10 + 1,500 / 8,760) USD per system-hour (the example's figures)
    assert option.price["usd_per_hour"] == pytest.approx(8 * (35000 / 35040 + 1.275 * 1.3 * 0.1 + 1500 / 8760))
    assert option.purchase == "ownership"


# ----------------------------------------------------------------------------- issue 24, item 15
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tokens": "1e12"}, "tokens: must be a number, got str '1e12'"),
        ({"count": "2"}, "count: must be a whole number, got str '2'"),
        ({"count": 2.5}, "count: must be a whole number (an int), got 2.5"),
        ({"mfu": "0.4"}, "mfu: must be a number, got str '0.4'"),
        ({"system": ["p5.48xlarge"]}, "system: must be text (a str), got list"),
        ({"layout": 8}, "layout: must be text (a str), got int 8"),
        ({"tokens": 10**400}, "tokens: must be a finite number, got a number too large for a float"),
        ({"tokens": float("nan")}, "tokens: tokens must be a finite number, got nan"),
        ({"purchase": ""}, "purchase '': give at least one purchase option"),
        ({"layot": "tp=8"}, "unknown option 'layot'"),
    ],
)
def test_bad_train_arguments_raise_hwprof_error_naming_them(arguments: dict[str, Any], message: str) -> None:
    call = {"tokens": 1e12, "system": "p5.48xlarge", "cost_model": "none", **arguments}
    if "purchase" in arguments:
        call.pop("cost_model")
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.estimate_train("llama3.1-8b", **call)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"batch": 0}, "batch: batch must be at least 1, got 0"), ({"batch": 1.5}, "batch: must be a whole number")],
)
def test_bad_serve_arguments_raise(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.estimate_serve("llama3.1-8b", system="p5.48xlarge", cost_model="none", **arguments)
    assert str(caught.value).startswith(message)


def test_registry_profiles_must_be_folders(tmp_path: Path) -> None:
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.registry(profiles=str(tmp_path))  # type: ignore[arg-type]
    assert str(caught.value).startswith("profiles")  # the argument, in the API's own words
    facts(str(caught.value), "list of folders", "got str")
    with pytest.raises(hwprof.HwprofError, match=r"^profiles: /nonexistent: no such folder"):
        hwprof.registry(profiles=["/nonexistent"])
    assert hwprof.registry(profiles=[tmp_path]).chips["h100-sxm"]  # a failed call left nothing broken


def test_numpy_numbers_give_a_result_to_json_can_serialise() -> None:
    import json

    import numpy as np

    run = hwprof.estimate_train("llama3.1-8b", tokens=np.float64(1e12), system="p5.48xlarge", count=np.int64(2),
                                cost_model="none", layout="tp=8,dp=2")  # fmt: skip
    assert run.inputs.chips == 16 and type(run.inputs.chips) is int
    assert json.loads(json.dumps(hwprof.to_json(run)))["inputs"]["tokens"] == 1e12


def test_a_system_listed_twice_is_refused_by_name() -> None:
    with pytest.raises(hwprof.HwprofError) as caught:
        hwprof.compare_train("llama3.1-8b", tokens=1e12, systems=["p5.48xlarge", "trn2.48xlarge", "p5.48xlarge"])
    assert str(caught.value).startswith("systems")
    facts(str(caught.value), "p5.48xlarge", "twice")
