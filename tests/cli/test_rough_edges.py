"""The rough edges a new user hit (issue 12), each pinned by a test: docs that say how to run the
tool, plan rows that say which price they used, JSON keys whose unit is the unit of the value,
model configs read the way transformers reads them, a second cost model that breaks nothing, and
wording that reads right for one and for many.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import FIXTURES, ROOT

CONFIGS = FIXTURES / "configs"


def find(data: Any, key: str) -> Any:
    """The first value stored under ``key`` anywhere in a JSON document (results change shape; keys stay)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = find(item, key)
            if found is not None:
                return found
    return None


def keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from keys(v)
    elif isinstance(data, list):
        for item in data:
            yield from keys(item)


# ----------------------------------------------------------------------------- docs


def code_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, line) of the lines inside fenced code blocks."""
    inside, out = False, []
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            out.append((i, line))
    return out


def first_bare_hwprof(lines: list[str]) -> int:
    """The first line a newcomer would paste that runs a bare ``hwprof``: in a code block, or a table's
    inline command."""
    in_code = (i for i, line in code_lines(lines) if re.match(r"\s*(\$ )?hwprof ", line))
    inline = (i for i, line in enumerate(lines) if re.search(r"\| `hwprof ", line))
    return min(next(in_code, len(lines)), next(inline, len(lines)))


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md"])
def test_docs_activate_the_venv_before_a_bare_hwprof(doc: str) -> None:
    # A newcomer pasting the tour got "hwprof: command not found", then ran pytest on the system python.
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    first = first_bare_hwprof(lines)
    activate = [i for i, line in enumerate(lines) if "source .venv/bin/activate" in line]
    assert activate and activate[0] < first, f"{doc}: say `source .venv/bin/activate` before line {first + 1}"
    bare_pytest = [line for _, line in code_lines(lines) if re.match(r"\s*(python3? -m )?pytest\b", line)]
    assert bare_pytest == [], f"{doc}: run pytest through the venv: {bare_pytest}"


def test_contributing_says_a_plugin_must_ship_its_toml_as_package_data() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "package-data" in text and '"*.toml"' in text


# ----------------------------------------------------------------------------- plan train


# Both H200 systems: p5e has no on-demand price, so it uses its 724-day-old capacity-block price.
H200_PLAN = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30",
             "--purchase", "on-demand,capacity-block", "--systems", "p5e.48xlarge,p5en.48xlarge")  # fmt: skip


def test_plan_rows_name_the_purchase_region_and_price_they_used(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN)
    assert result.code == 0, result.err
    header = result.out.splitlines()[1]
    for column in ("purchase", "region", "USD/h", "observed"):
        assert column in header, f"no {column!r} column in: {header}"
    p5e = next(line for line in result.out.splitlines() if line.startswith("p5e.48xlarge"))
    assert "capacity-block" in p5e and "us-east-2" in p5e
    assert re.search(r"\b43\.26\s+2024-12-01 STALE\b", p5e)  # the price, then its date in its own column


def test_plan_json_carries_the_stale_price_warning(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN, "--json")
    assert result.code == 0, result.err
    warnings = result.json()["warnings"]
    assert any("p5e.48xlarge (capacity-block" in w and "stale" in w for w in warnings), warnings
    assert "warning: price of p5e.48xlarge (capacity-block" in result.err


def test_plan_marks_every_option_tied_for_fastest(run_cli: Any) -> None:
    result = run_cli(*H200_PLAN, "--top", "100", "--json")  # every option, so each tie is in view
    assert result.code == 0, result.err
    options = [o for o in result.json()["options"] if o["meets_deadline"]]
    best = min(o["time_s"]["expected"] for o in options)
    tied = {(o["system"], o["count"], o["purchase"]) for o in options if o["time_s"]["expected"] <= best * 1.005}
    assert {(o["system"], o["count"], o["purchase"]) for o in options if "fastest" in o["marks"]} == tied
    assert len(tied) > 1  # p5e and p5en: the same H200s, the same layout, the same time


# ----------------------------------------------------------------------------- JSON units


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", "peak", "--chip", "h100-sxm", "--chips", "8", "--json"),
        ("systems", "show", "p5.48xlarge", "--json"),
    ],
)
def test_json_keys_name_the_unit_of_their_value(run_cli: Any, args: tuple[str, ...]) -> None:
    data = run_cli(*args).json()
    assert "per_chip" not in set(keys(data)), "a bare per_chip key inherits its parent's unit, which it does not have"
    assert data["power_kw"]["per_chip_w"] == 700.0  # H100 SXM TDP in watts
    assert data["power_kw"]["value"] == pytest.approx(8 * 0.7)
    assert data["peak_dense_pflops"]["fp8"]["per_chip_tflops"] == 1979.0
    assert data["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(8 * 1.979)


# ----------------------------------------------------------------------------- --model-config


def train_time(run_cli: Any, *model: str) -> float:
    args = ("estimate", "train", *model, "--tokens", "14.8e12", "--system", "p5.48xlarge", "--count", "256", "--json")
    result = run_cli(*args)
    assert result.code == 0, result.err
    return float(find(result.json(), "time_s")["expected"])


def test_model_config_does_not_train_at_its_longest_context(run_cli: Any) -> None:
    # DeepSeek-V3's max_position_embeddings is 163,840: as the training sequence, attention was +437%.
    preset = train_time(run_cli, "--model", "deepseek-v3")
    config = train_time(run_cli, "--model-config", str(CONFIGS / "deepseek-v3.json"))
    assert config == pytest.approx(preset, rel=0.05)


def test_model_config_without_hidden_act_takes_the_model_types_default(run_cli: Any, tmp_path: Path) -> None:
    # LlamaConfig defaults hidden_act to "silu" (a gated MLP): without it Llama 405B was counted as 296B.
    config = {"model_type": "llama", "hidden_size": 16384, "intermediate_size": 53248, "num_hidden_layers": 126,
              "num_attention_heads": 128, "num_key_value_heads": 8, "vocab_size": 128256}  # fmt: skip
    path = tmp_path / "llama-405b.json"
    path.write_text(json.dumps(config))
    result = run_cli("estimate", "train", "--model-config", path, "--tokens", "1e12", "--system", "p5.48xlarge",
                     "--count", "128", "--json")  # fmt: skip
    assert result.code == 0, result.err
    # Per layer: attention 16384 x 128 x 128 x 2 + 16384 x 8 x 128 x 2 = 570,425,344; gated MLP
    # 3 x 16384 x 53248 = 2,617,245,696; 2 norms of 16384; x 126 layers, plus the final norm and
    # untied embeddings 2 x 128256 x 16384.
    expected = 126 * (570_425_344 + 2_617_245_696 + 2 * 16_384) + 16_384 + 2 * 128_256 * 16_384
    assert find(result.json(), "params") == pytest.approx(expected)
    assert expected == pytest.approx(405.85e9, rel=1e-3)


# ----------------------------------------------------------------------------- a second cost model


@pytest.fixture
def second_cost_model(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the user did: `profiles new --from aws --id my-aws` into a folder hwprof loads."""
    folder = tmp_path / "mine"
    folder.mkdir()
    assert run_cli("profiles", "new", "--from", "aws", "--id", "my-aws", "-o", folder / "my-aws.toml").code == 0
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(folder))
    return folder


README_COMMANDS = [
    ("estimate", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--system", "trn2.48xlarge", "--count", "64"),
    ("estimate", "serve", "--model", "llama3.1-70b", "--system", "trn2.48xlarge", "--batch", "8"),
    ("plan", "train", "--model", "llama3.1-70b", "--tokens", "15e12", "--deadline-days", "30"),
]


@pytest.mark.parametrize("args", README_COMMANDS)
def test_a_second_cost_model_breaks_no_command_that_worked(
    second_cost_model: Path, run_cli: Any, args: tuple[str, ...]
) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.err
    # Both price lists apply (issue 23): an estimate's note names the other, a plan's rows name each.
    assert "my-aws" in (result.out if args[0] == "plan" else result.err)


def test_the_users_default_cost_model_is_used(
    second_cost_model: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HWPROF_COST_MODEL", "my-aws")
    result = run_cli(*README_COMMANDS[0], "--json")
    assert result.code == 0, result.err
    assert find(result.json(), "cost_model") == "my-aws"
    monkeypatch.setenv("HWPROF_COST_MODEL", "nosuch")
    result = run_cli(*README_COMMANDS[0])
    assert result.code == 1 and "HWPROF_COST_MODEL" in result.err


# ----------------------------------------------------------------------------- estimate peak


def test_estimate_peak_of_bare_chips_says_each_thing_once(run_cli: Any) -> None:
    result = run_cli("estimate", "peak", "--chip", "trainium2", "--chips", "16")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "16 x trainium2"
    assert "1 chips" not in result.out
    assert not [line for line in lines if re.match(r"(tiers|from)\s+[-:]?\s*$", line)], result.out
    assert not re.search(r"^from\s+:", result.out, re.M)


# ----------------------------------------------------------------------------- plugins


@pytest.fixture
def removable_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake plugin distribution whose metadata pip really removes (importlib reads it lazily)."""
    from hwprof.data import registry

    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "fake_site", site)
    monkeypatch.syspath_prepend(str(site))

    def pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        shutil.rmtree(site / "hwprof_fake-1.0.dist-info")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", pip)
    registry.reset()
    yield
    for name in [m for m in sys.modules if m.startswith("hwprof_fake")]:
        del sys.modules[name]
    registry.reset()


def test_plugins_uninstall_names_what_it_removed(removable_plugin: None, run_cli: Any) -> None:
    result = run_cli("plugins", "uninstall", "hwprof-fake", "-y")
    assert result.code == 0, result.err
    # ... and clears the cache, so nothing read from it stays behind (issue 23)
    assert re.fullmatch(r"uninstalled hwprof-fake; cleared [0-9,]+ cache entr(y|ies)\n", result.out), result.out


def test_profiles_check_warns_when_a_plugins_toml_would_not_be_installed(run_cli: Any, tmp_path: Path) -> None:
    # A hand-written plugin following CONTRIBUTING, without package-data: pip installs no TOML.
    root = tmp_path / "hwprof-acme"
    package = root / "hwprof_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    assert run_cli("profiles", "new", "--from", "h100-sxm", "--id", "acme-x1", "-o", package / "acme.toml").code == 0
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n')
    result = run_cli("profiles", "check", package / "acme.toml")
    assert result.code == 0
    assert "package-data" in result.err and "acme.toml" in result.err
    pyproject = '[tool.setuptools.package-data]\nhwprof_acme = ["*.toml"]\n'
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n' + pyproject)
    assert "package-data" not in run_cli("profiles", "check", package / "acme.toml").err


def test_plugins_new_from_a_chip_copies_its_system_and_interconnects(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("plugins", "new", "hwprof-acme-x1", "--chip", "h100-sxm", "-o", tmp_path)
    assert result.code == 0, result.err
    profile = tmp_path / "hwprof-acme-x1" / "hwprof_acme_x1" / "hwprof_acme_x1.toml"
    check = run_cli("profiles", "check", profile)
    assert check.code == 0, check.output
    assert re.search(r"1 chip, [1-9]\d* interconnects?, [1-9]\d* systems?", check.out), check.out
    text = profile.read_text()
    assert "(edit me)" not in text
    # The new system runs the new chip over the copied links, under new ids.
    shown = run_cli("--profiles", profile.parent, "systems", "list", "--json").json()
    assert [s["chip"] for s in shown if s["chip"] == "acme-x1"]


# ----------------------------------------------------------------------------- wording


PLURAL_SLIPS = re.compile(r"\b1 (chips|sequences|systems|interconnects|cost models|workloads|cases)\b")


def test_counts_read_right_for_one_and_for_many(run_cli: Any) -> None:
    listing = run_cli("plugins", "list", "--all").out
    assert not PLURAL_SLIPS.search(listing), listing
    assert "1 chip," in listing and "1 cost model" in listing
    checked = run_cli(
        "profiles", "check", ROOT / "profiles" / "models.toml", ROOT / "profiles" / "published_results.toml"
    )
    assert re.search(r"\(\d+ workloads\)", checked.out) and re.search(r"\(\d+ validation cases\)", checked.out)
    checked = run_cli("profiles", "check", ROOT / "profiles" / "trainium2.toml").out
    assert re.search(r"\(1 chip, \d+ interconnects?, \d+ systems?\)", checked), checked
    assert not PLURAL_SLIPS.search(checked)


def test_one_sequence_is_singular(run_cli: Any) -> None:
    result = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", "trn2.48xlarge", "--batch", "1",
                     "--input-tokens", "5000000")  # fmt: skip
    assert result.code == 1
    assert not PLURAL_SLIPS.search(result.err), result.err


def test_long_times_to_first_token_are_shown_in_seconds(run_cli: Any) -> None:
    result = run_cli("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge",
                     "--input-tokens", "100000", "--batch", "1")  # fmt: skip
    assert result.code == 0, result.err
    assert not re.search(r"\d,\d{3}(\.\d+)? ?ms", result.out), result.out
    assert "(s)" not in result.out  # "1 replica(s)": counted in words instead


def test_cost_per_million_tokens_says_which_tokens(run_cli: Any) -> None:
    result = run_cli("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge")
    assert result.code == 0, result.err
    assert "USD/M tokens" not in result.out and "output tokens" in result.out


def test_compare_train_takes_cost_model_like_every_other_command(run_cli: Any) -> None:
    args = ("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5.48xlarge,trn2.48xlarge")
    assert run_cli(*args, "--cost-model", "aws").code == 0
    assert run_cli(*args, "--cost-models", "aws").code == 0  # the old spelling still works


def test_prices_keep_their_published_digits(run_cli: Any) -> None:
    out = run_cli("prices", "list", "--system", "p5en.48xlarge", "--purchase", "on-demand").out
    assert "63.296" in out


def test_every_option_and_command_has_help_text() -> None:
    import typer

    from hwprof.cli.app import build_app

    missing = []

    def walk(command: Any, path: str) -> None:
        if not (command.help or command.short_help) and path != "hwprof":
            missing.append(path)
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "help", None):
                missing.append(f"{path} {param.opts[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(build_app()), "hwprof")
    assert missing == []


def test_plugins_install_warns_before_pip_drops_a_plugins_toml(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "hwprof-acme"
    (root / "hwprof_acme").mkdir(parents=True)
    (root / "hwprof_acme" / "__init__.py").write_text("")
    (root / "hwprof_acme" / "acme.toml").write_text("schema_version = 1\n")
    (root / "pyproject.toml").write_text('[project]\nname = "hwprof-acme"\nversion = "0.1"\n')
    calls: list[list[str]] = []
    monkeypatch.setattr(
        subprocess, "run", lambda command, **_: calls.append(command) or subprocess.CompletedProcess(command, 0)
    )
    result = run_cli("plugins", "install", root)
    assert result.code == 0 and calls  # pip still runs: the warning says what will be missing
    assert "warning: acme.toml would not be installed with the plugin" in result.err
    assert '[tool.setuptools.package-data] hwprof_acme = ["*.toml"]' in result.err
    calls.clear()
    assert "would not be installed" not in run_cli("plugins", "install", "-e", root).err  # editable reads it in place


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", "serve", "--model", "llama3.1-405b", "--system", "p5en.48xlarge", "--input-tokens", "100000",
         "--output-tokens", "10"),
        ("compare", "serve", "--model", "llama3.1-405b", "--systems", "p5en.48xlarge,trn2-ultraserver",
         "--input-tokens", "100000", "--output-tokens", "10"),
    ],
)  # fmt: skip
def test_long_prompts_are_timed_in_seconds_not_thousands_of_ms(run_cli: Any, args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert re.search(r"\d+(\.\d+)? s\b", result.out), result.out
    assert not re.search(r"\d,\d{3}(\.\d+)? ?ms", result.out), result.out
    assert "(s)" not in result.out  # "1 replica(s)": counted in words instead
