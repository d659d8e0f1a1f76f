"""End to end, as a user does it: a fresh venv with hwprof, `hwprof plugins install` of a real
third-party plugin package (tests/fixtures/hwprof-amd-mi300x, a chip hwprof does not ship), then the
chip, its 8-GPU system and an estimate come from it; `hwprof plugins uninstall` and it is gone.

Each builds a venv (~30 s of CPU): marked venv, they are left out of a plain run; `pytest -m venv` runs
them, and CI does, once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import FIXTURES, ROOT
from tests.facts import facts

REPO = ROOT
PLUGIN = FIXTURES / "hwprof-amd-mi300x"
OWNERSHIP = FIXTURES / "hwprof-onprem-ownership"


@pytest.mark.venv
def test_install_use_and_uninstall_a_third_party_plugin(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HWPROF_", "PYTHON", "VIRTUAL_ENV"))}
    env["HWPROF_NO_USER_PROFILES"] = "1"
    python, hwprof = venv / "bin" / "python", venv / "bin" / "hwprof"

    def run(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=300)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    # hwprof from a copy of the source tree, the plugin from a copy too: builds write beside the sources.
    source = tmp_path / "hwprof-src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "tests", "benchmarks", "build", "*.egg-info"))
    run(python, "-m", "pip", "install", "-q", source)
    plugin = tmp_path / "hwprof-amd-mi300x"
    shutil.copytree(PLUGIN, plugin)
    run(hwprof, "plugins", "install", plugin)

    listed = {c["id"]: c for c in json.loads(run(hwprof, "chips", "list", "--json").stdout)}
    assert listed["amd-mi300x"]["provider"] == "plugin 'hwprof-amd-mi300x'"
    assert listed["amd-mi300x"]["peak_dense_tflops"] == {"fp8": 2614.9, "fp16": 1307.4, "bf16": 1307.4}
    assert "h100-sxm" in listed  # the built-ins are still there

    system = json.loads(run(hwprof, "systems", "show", "amd-mi300x-platform", "--json").stdout)
    # 8 chips: 8 x 2,614.9 = 20,919.2 TFLOPS = 20.9192 PFLOPS dense FP8; 8 x 192 GB = 1,536 GB.
    assert system["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(20.9192)
    assert system["memory_gb"]["value"] == pytest.approx(1536)
    assert system["provider"] == "plugin 'hwprof-amd-mi300x'"
    assert system["origin"].endswith("hwprof_amd_mi300x.toml")

    # 6 x 1e9 params x 1e12 tokens = 6e21 FLOPs over 8 x 1,307.4e12 x 0.5 FLOP/s = 1,147,315 s.
    args = ["--params", "1e9", "--tokens", "1e12", "--mfu", "0.5", "--cost-model", "none", "--json"]
    estimate = json.loads(run(hwprof, "estimate", "train", "--system", "amd-mi300x-platform", *args).stdout)
    assert estimate["time_s"]["expected"] == pytest.approx(6e21 / (8 * 1307.4e12 * 0.5))

    plugins = {p["name"]: p for p in json.loads(run(hwprof, "plugins", "list", "--json").stdout)}
    assert plugins["hwprof-amd-mi300x"]["status"] == "loaded"
    assert plugins["hwprof-amd-mi300x"]["version"] == "0.1.0"
    assert plugins["hwprof-amd-mi300x"]["registered"] == {"chips": 1, "interconnects": 1, "systems": 1}
    assert run(hwprof, "plugins", "freeze").stdout.startswith("hwprof-amd-mi300x @ file://")

    run(hwprof, "plugins", "uninstall", "hwprof-amd-mi300x", "-y")
    assert "amd-mi300x" not in run(hwprof, "chips", "list").stdout
    gone = run(hwprof, "systems", "show", "amd-mi300x-platform", ok=False)
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: unknown system 'amd-mi300x-platform'")
    assert json.loads(run(hwprof, "plugins", "list", "--json").stdout) == []


@pytest.mark.venv
def test_an_installed_cost_model_is_quoted_beside_the_built_in_prices(tmp_path: Path) -> None:
    """The ownership example computes its quote; compare puts it beside the AWS price list."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HWPROF_", "PYTHON", "VIRTUAL_ENV"))}
    env["HWPROF_NO_USER_PROFILES"] = "1"
    python, hwprof = venv / "bin" / "python", venv / "bin" / "hwprof"

    def run(*args: str | Path) -> str:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    source = tmp_path / "hwprof-src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "tests", "benchmarks", "build", "*.egg-info"))
    run(python, "-m", "pip", "install", "-q", source)
    plugin = tmp_path / "hwprof-onprem-ownership"
    shutil.copytree(OWNERSHIP, plugin)
    run(hwprof, "plugins", "install", plugin)

    args = ["--model", "llama3.1-70b", "--tokens", "1e12", "--systems", "p5.48xlarge", "--json"]
    out = json.loads(run(hwprof, "compare", "train", *args, "--cost-models", "aws,onprem",
                         "--purchase", "on-demand,ownership"))  # fmt: skip
    rows = {row["cost_model"]: row for row in out["rows"]}
    # 8 x (35,000 / (4 x 8,760) + 1.275 kW x 1.3 x 0.10 USD/kWh + 1,500 / 8,760) = 10.6867 USD per hour
    assert rows["onprem"]["price"]["usd_per_hour"] == pytest.approx(10.6867, abs=1e-4)
    assert rows["onprem"]["price"]["purchase"] == "ownership"
    assert rows["onprem"]["price"]["basis"].startswith("8 chips x (35,000 USD")
    assert rows["aws"]["price"]["purchase"] == "on-demand"
    # Same hardware, same time: the cost ratio is the ratio of hourly prices.
    assert rows["onprem"]["time_s"] == rows["aws"]["time_s"]
    ratio = rows["aws"]["cost_usd"]["expected"] / rows["onprem"]["cost_usd"]["expected"]
    assert ratio == pytest.approx(rows["aws"]["price"]["usd_per_hour"] / 10.6867, rel=1e-3)


GUIDE_HEADING = "## Ship a cloud as a plugin package"


def _guide_commands() -> list[str]:
    """The shell block of CONTRIBUTING.md's guide to shipping a cloud, line by line."""
    import re

    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split(GUIDE_HEADING, 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.venv
def test_the_second_cloud_builds_from_its_own_guide(tmp_path: Path) -> None:
    """packages/hwprof-gcp, built, checked, installed and tested by running CONTRIBUTING's block as
    written (in a fresh venv, from a copy of the tree), then priced beside the built-in AWS list."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HWPROF_", "PYTHON", "VIRTUAL_ENV"))}
    env["HWPROF_NO_USER_PROFILES"] = "1"
    env["HWPROF_CACHE_DIR"] = str(tmp_path / "cache")
    binaries = {"hwprof": venv / "bin" / "hwprof", "python": venv / "bin" / "python"}
    source = tmp_path / "hwprof-src"
    skip = shutil.ignore_patterns(".*", "build", "*.egg-info")

    def ignore(folder: str, names: list[str]) -> set[str]:  # hwprof's own tests and benchmarks, not the package's
        top = {"tests", "benchmarks"} if Path(folder) == REPO else set()
        return set(skip(folder, names)) | (top & set(names))

    shutil.copytree(REPO, source, ignore=ignore)
    subprocess.run([binaries["python"], "-m", "pip", "install", "-q", source], check=True, env=env, timeout=300)

    cwd, outputs = source, {}
    for line in _guide_commands():
        words = line.split()
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        assert words[0] in binaries, f"the guide runs {words[0]!r}, which this test does not know"
        done = subprocess.run([str(binaries[words[0]]), *words[1:]], cwd=cwd, capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        outputs[line] = done.stdout
    facts(outputs["hwprof plugins install ."], "installed hwprof-gcp 0.1.0", "plugin 'hwprof-gcp'", "1 cost model",
          "3 interconnects", "3 systems")  # fmt: skip
    assert "a3-highgpu-8g   us-central1  on-demand     88.49 (r)" in outputs["hwprof prices list --cost-model gcp"]

    hwprof = str(binaries["hwprof"])
    args = ["--model", "llama3.1-70b", "--tokens", "15e12", "--chips", "1024", "--format", "json",
            "--systems", "trn2.48xlarge,p5.48xlarge,a3-highgpu-8g,a3-ultragpu-8g"]  # fmt: skip
    done = subprocess.run([hwprof, "compare", "train", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    priced = {(row["system"], row["cost_model"]) for row in json.loads(done.stdout)["rows"] if row.get("price")}
    assert {
        ("a3-highgpu-8g", "gcp"),
        ("a3-ultragpu-8g", "gcp"),
        ("p5.48xlarge", "aws"),
        ("trn2.48xlarge", "aws"),
    } <= priced

    # Uninstalled, nothing of it stays: not its systems, not a cache entry read from it.
    assert any((tmp_path / "cache").iterdir())
    done = subprocess.run([hwprof, "plugins", "uninstall", "hwprof-gcp", "-y"], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0 and "uninstalled hwprof-gcp; cleared " in done.stdout, done.stdout + done.stderr
    assert list((tmp_path / "cache").iterdir()) == []
