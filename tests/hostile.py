"""Running ``hwprof`` as a user would, for the hostile-input tests: with a clean environment, in this
process (``run``: the console script's own ``main``, as a fresh process would see it) or, for what only a
real process shows (its stdout a full device), as the installed command with a time limit (``spawn``).

The tests know the command line and the entry-point group; ``run`` alone knows which of hwprof's
once-per-process memories a fresh process would start without.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs

HWPROF = str(Path(sys.executable).with_name("hwprof"))
TIME_LIMIT_S = 60  # generous: a hang shows as TimeoutExpired, never as a slow pass


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-2000:]}\n--- stderr\n{self.err[-2000:]}"


def clean_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWPROF_")}
    env.update(HWPROF_NO_USER_PROFILES="1", HWPROF_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], stdout: object = subprocess.PIPE, cwd: Path | None = None) -> Ran:
    """The installed command in its own process (about half a second of CPU each: only where the point is
    the process itself)."""
    done = subprocess.run(
        [HWPROF, *args], env=env, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        timeout=TIME_LIMIT_S, text=True, cwd=cwd,
    )  # fmt: skip
    return Ran(done.returncode, done.stdout or "", done.stderr)


HANG_S = 300  # a hang fails the test; generous, so a busy machine never does


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Ran:
    """``hwprof ARGS`` in this process under exactly ``env`` (its PYTHONPATH on sys.path, as a fresh
    interpreter would put it), from ``cwd``; everything put back afterwards."""
    import contextlib
    import importlib
    import io
    import signal

    from hwprof.cli.app import main

    saved_env, saved_path, saved_cwd = dict(os.environ), list(sys.path), os.getcwd()
    sites = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    out, err = io.StringIO(), io.StringIO()

    def hang(signum: int, frame: object) -> None:
        raise AssertionError(f"hwprof {' '.join(args)} ran over {HANG_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    try:
        os.environ.clear()
        os.environ.update(env)
        sys.path[:0] = sites
        importlib.invalidate_caches()
        if cwd is not None:
            os.chdir(cwd)
        _fresh_process(sites)
        signal.alarm(HANG_S)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        _fresh_process(sites)
    return Ran(code, out.getvalue(), err.getvalue())


def _fresh_process(sites: list[str]) -> None:
    """Forget what hwprof keeps once per process, and the modules a fake plugin folder supplied."""
    from hwprof.data import cache, plugin_calls, registry

    registry.reset()
    cache._warned.clear()
    cache._unusable.cache_clear()
    plugin_calls._timeout.cache_clear()
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if sites and where.startswith(tuple(sites)):
            del sys.modules[name]


def is_clean_error(result: Ran) -> bool:
    """Exit 1 or 2 with a message, and no traceback or internal error."""
    err = result.err
    return result.code in (1, 2) and "error" in err.lower() and "Traceback" not in err and "internal error" not in err


def fake_plugin(site: Path, name: str, body: str) -> Path:
    """An installed third-party plugin ``name`` (module + dist-info) under ``site``; put it on PYTHONPATH."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[hwprof]\n{name} = {name}\n", encoding="utf-8")
    return site


# The record module moves with the package layout; a plugin written today finds it either way.
RECORDS_IMPORT = """\
import datetime
from hwprof import hookimpl
try:
    from hwprof.data import records as model
except ImportError:
    from hwprof.core import model
SRC = model.Source(key="s", title="plugin datasheet", date=datetime.date(2025, 1, 1))
def fig(v):
    return model.Figure(value=v, source=SRC, status="official")
"""

# A small, complete profile with its own ids: each hostile case breaks one value of it.
PROFILE = """\
schema_version = 1

[sources.s1]
title = "Test datasheet"
date = 2025-01-01

[[chip]]
id = "hx-chip"
name = "HX"
vendor = "Test"
memory_gb = { value = 96, source = "s1", status = "official" }
memory_bandwidth_tbps = { value = 3, source = "s1", status = "official" }
training_efficiency = { value = 1, source = "s1", status = "estimated" }

[chip.peak_dense_tflops]
bf16 = { value = 500, source = "s1", status = "official" }

[[interconnect]]
id = "hx-link"
name = "HX link"
tier = "scale-up"
bandwidth_per_chip_gb_s = { value = 800, source = "s1", status = "official" }
direction = "bidirectional"

[[system]]
id = "hx-box"
name = "HX box"
kind = "board"
chip = "hx-chip"
chips = 8
source = "s1"
status = "official"

[[system.tiers]]
interconnect = "hx-link"

[[cost_model]]
id = "hx-cloud"
name = "HX cloud"

[[cost_model.prices]]
system = "hx-box"
region = "hx-1"
purchase = "on-demand"
usd_per_hour = 20
observed = 2025-01-01
source = "s1"
status = "official"

[[workload]]
id = "hx-model"
name = "HX model"
params = 8e9
source = "s1"
status = "official"
layers = 32
hidden = 4096
heads = 32
kv_heads = 8
seq_len = 8192

[[validation_case]]
id = "hx-serve"
kind = "serve"
role = "validation"
model = "hx-model"
chip = "hx-chip"
chips = 8
system = "hx-box"
precision = "bf16"
metric = "tpot_s"
published = 0.01
source = "s1"
status = "reported"
batch = 1
input_tokens = 100
output_tokens = 100
"""


NON_FINITE = re.compile(r"(?<![\w,.])(NaN|-?Infinity|nan|-?inf)(?![\w,.])")


def non_finite(out: str) -> bool:
    """Whether the output shows NaN or infinity: JSON is read number by number (text in it may say
    anything), a table is searched for the words standing alone."""
    import json
    import math

    try:
        data = json.loads(out)
    except ValueError:
        return bool(NON_FINITE.search(out))
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
