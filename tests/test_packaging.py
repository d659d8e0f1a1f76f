"""The wheel holds only the hwprof namespace (never top-level `core` or `plugins`), the TOML
profiles as package data, and the built-in plugins' entry points."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests import ROOT

SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".mypy-tree", ".hypothesis", "tests"
)


def build_wheel(tmp_path: Path) -> Path:
    # Build from a copy so the work tree gets no build/ or egg-info litter; without build isolation
    # (the test extras bring the setuptools the project needs) it takes about a second.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    if not (src / "README.md").exists():  # the lead writes it; pyproject names it as the readme
        (src / "README.md").write_text("# hwprof\n", encoding="utf-8")
    out = tmp_path / "dist"
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(src),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = out.glob("hwprof-*.whl")
    return wheel


def test_wheel_holds_only_the_hwprof_namespace(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()

    stray = [n for n in names if not (n.startswith("hwprof/") or n.startswith(f"{dist_info}/"))]
    assert stray == [], f"files outside hwprof/ in the wheel: {stray}"
    top = {n.split("/")[1] for n in names if n.startswith("hwprof/")}
    # core/ is the hwprof package itself (its __init__ is the Python API, docs/api.md); plugins/ and
    # profiles/ join it as subpackages.
    core = {p.name for p in (ROOT / "core").iterdir() if p.name != "__pycache__"}
    assert top == core | {"plugins", "profiles"}
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("hwprof/__init__.py") == (ROOT / "core" / "__init__.py").read_bytes()
        assert zf.read("hwprof/perf/train/step.py") == (ROOT / "core" / "perf" / "train" / "step.py").read_bytes()

    profiles = sorted(p.name for p in (ROOT / "profiles").glob("*.toml"))
    assert profiles, "no profiles in the source tree"
    assert sorted(n.removeprefix("hwprof/profiles/") for n in names if n.endswith(".toml")) == profiles
    plugins = sorted(p.name for p in (ROOT / "plugins").glob("*.py"))
    assert sorted(n.removeprefix("hwprof/plugins/") for n in names if n.startswith("hwprof/plugins/")) == plugins
    assert "hwprof/py.typed" in names

    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert parser["console_scripts"]["hwprof"] == "hwprof.cli.console:run"
    builtins = dict(parser["hwprof"])
    for name in ("trainium2", "trainium3", "nvidia_h100", "nvidia_h200", "aws_pricing", "models"):
        assert builtins[name] == f"hwprof.plugins.{name}:plugin"
