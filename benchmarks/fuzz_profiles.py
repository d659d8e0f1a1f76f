"""Fuzz hwprof with mutants of its own built-in profiles and count what happens.

Each mutant is a built-in profile file with one to three hostile edits (a number made huge, tiny,
negative, NaN or text; a line dropped or doubled; a key misspelled; an id or a reference changed;
a date moved to year 1 or 9999; a BOM, a stray byte, a cut-off end). Each mutant is checked with
``hwprof profiles check FILE`` and then used in place of the built-in plugin it came from
(``HWPROF_LOAD_PLUGINS`` without that plugin, ``--profiles`` on the mutant's folder) by commands
that read what that file declares. Commands run in-process through the console script's own entry
point, so 10,000 mutants take minutes, not an hour; a run over the time limit counts as a hang.

    .venv/bin/python benchmarks/fuzz_profiles.py                 # 10,000 mutants, seed 0
    .venv/bin/python benchmarks/fuzz_profiles.py -n 500 --seed 3 --keep /tmp/fuzz-failures

Outcomes per command run: ``ok`` (exit 0, finite output), ``warned`` (the same, with a warning:
the mutant skipped, usually), ``error`` (exit 1 or 2 with a message),
and the ones that must stay at 0: ``internal`` (exit 70 or an exception out of ``main``), ``hang``,
``silent`` (non-zero exit with nothing on stderr), ``odd-exit`` (any other code), ``non-finite``
(exit 0 printing NaN or Infinity). Exit status 1 when any of those is above 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The output checks the property tests use too (tests/hostile.py), so both judge output alike.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile import non_finite  # noqa: E402

BAD_OUTCOMES = ("internal", "hang", "silent", "odd-exit", "non-finite", "raw-escape")
# Terminal controls and text-reordering marks: shown as \\uXXXX by hwprof, never printed raw (issue 24, item 5).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE_NUMBERS = [
    "0", "-1", "-0.0", "1e308", "-1e308", "1e-308", "5e-324", "1e400", "nan", "-nan", "inf", "-inf",
    "1" + "0" * 299, "-" + "1" * 300, "9223372036854775807", "18446744073709551616", "0.5", "1e18", "1e-9",
    "0x7fffffff", "1_000_000", '"12"', "true", "[]", "{}", "2025-01-01",
]  # fmt: skip
HOSTILE_STRINGS = ['""', '"../../evil id"', '"' + "x" * 5000 + '"', '"\\u0000"', '"\\t\\n"', '"ünïcödé"', "5",
                   '"on-demand"', '"fp8"', '"zz99"', '"\\u001b[2J\\u001b]0;title\\u0007"', '"x\\nfake: line"',
                   '"\\u001b]8;;https://x.example\\u0007link\\u001b]8;;\\u0007"', '"\\u202eevil"', '"\\u009b31m"']  # fmt: skip
HOSTILE_DATES = ["0001-01-01", "9999-12-31", "1970-01-01", "2025-02-29", "2025-13-01", "2100-01-01"]
NUMBER = re.compile(r"(?<=[=\[,{]\s)-?\d[\d_]*(\.\d+)?([eE][-+]?\d+)?(?=\s*[,}\]\n]|$)")
STRING = re.compile(r'(?<== )"[^"\n]*"')
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
KEY = re.compile(r"^(\s*)([a-z_]+)(\s*=)", re.MULTILINE)


# ----------------------------------------------------------------------------- mutations


def _replace_match(text: str, pattern: re.Pattern[str], rng: random.Random, choices: list[str]) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + rng.choice(choices) + text[m.end() :]


def _lines(text: str, rng: random.Random, action: str) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = rng.randrange(len(lines))
    if action == "drop":
        del lines[i]
    elif action == "double":
        lines.insert(i, lines[i])
    else:  # move a line elsewhere: keys change tables
        lines.insert(rng.randrange(len(lines)), lines.pop(i))
    return "".join(lines)


def _misspell(text: str, rng: random.Random) -> str:
    matches = list(KEY.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    key = m.group(2)
    i = rng.randrange(len(key))
    typo = key[:i] + key[i + 1 :] if len(key) > 1 and rng.random() < 0.5 else key + rng.choice(["s", "_gb", "_x"])
    return text[: m.start(2)] + typo + text[m.end(2) :]


def _swap_ids(text: str, rng: random.Random, ids: list[str]) -> str:
    found = [m for m in re.finditer(r'(?<== )"([a-z0-9][a-z0-9._+-]*)"', text) if m.group(1) in ids]
    if not found:
        return text
    m = rng.choice(found)
    new = rng.choice([*ids, "nosuch", m.group(1) + "-x"])
    return text[: m.start()] + f'"{new}"' + text[m.end() :]


def _bytes(text: str, rng: random.Random) -> str:
    choice = rng.randrange(5)
    if choice == 0:
        return "\ufeff" + text
    if choice == 1:
        return text[: rng.randrange(len(text) + 1)]  # cut off
    if choice == 2:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(["\x00", "\x1b", "\r", "\ud800", "[[", "]]", "=", '"', "\\"]) + text[i:]
    if choice == 3:
        return text + "\n" + "[[chip]]\n" * rng.randrange(1, 4)
    return "x = " + "[" * 200 + "]" * 200 + "\n" + text  # deep nesting


def mutate(text: str, rng: random.Random, ids: list[str]) -> tuple[str, list[str]]:
    """``text`` with one to three hostile edits, and their names."""
    edits: list[tuple[str, Callable[[str], str]]] = [
        ("number", lambda t: _replace_match(t, NUMBER, rng, HOSTILE_NUMBERS)),
        ("number", lambda t: _replace_match(t, NUMBER, rng, HOSTILE_NUMBERS)),
        ("number", lambda t: _replace_match(t, NUMBER, rng, HOSTILE_NUMBERS)),
        ("string", lambda t: _replace_match(t, STRING, rng, HOSTILE_STRINGS + HOSTILE_NUMBERS[:14])),
        ("date", lambda t: _replace_match(t, DATE, rng, HOSTILE_DATES)),
        ("drop-line", lambda t: _lines(t, rng, "drop")),
        ("double-line", lambda t: _lines(t, rng, "double")),
        ("move-line", lambda t: _lines(t, rng, "move")),
        ("misspell", lambda t: _misspell(t, rng)),
        ("swap-id", lambda t: _swap_ids(t, rng, ids)),
        ("bytes", lambda t: _bytes(t, rng)),
    ]
    names = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        name, edit = rng.choice(edits)
        text = edit(text)
        names.append(name)
    return text, names


# ----------------------------------------------------------------------------- running hwprof in-process


class Hang(BaseException):
    """Raised by the alarm: the command ran over the time limit."""


def _entry_point() -> Callable[[list[str]], int]:
    """What the console script runs (``hwprof.cli.console.run`` takes sys.argv; this takes the arguments)."""
    from hwprof.cli.app import main

    return main


def _reset() -> None:
    """Forget the registry built by the last command, keeping the imported plugin modules (one set
    per HWPROF_LOAD_PLUGINS value): records are what the mutants change, not plugin code."""
    from hwprof.data import registry

    registry._cached.clear()


def run_once(main: Callable[[list[str]], int], args: list[str], env: dict[str, str], limit_s: float) -> tuple[str, str]:
    """(outcome, stderr) of ``hwprof ARGS`` in this process."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    _reset()

    def alarm(signum: int, frame: Any) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        return "hang", err.getvalue()
    except BaseException as exc:  # noqa: BLE001 - anything out of main is a bug
        return "internal", f"{type(exc).__name__}: {exc}\n{err.getvalue()}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text, errors = out.getvalue(), err.getvalue()
    if code == 70 or "internal error" in errors or "Traceback" in errors:
        return "internal", errors
    if RAW_CONTROL.search(text + errors):
        return "raw-escape", repr((text + errors)[:500])
    if code == 0:
        if non_finite(text):
            return "non-finite", text[:500]
        return ("warned", errors) if "warning:" in errors else ("ok", errors)
    if code in (1, 2):
        return ("error", errors) if errors.strip() else ("silent", errors)
    if code == 130:
        return "error", errors
    return "odd-exit", f"exit {code}: {errors}"


# ----------------------------------------------------------------------------- what each profile is used by


def sample_cases(text: str, rng: random.Random, keep: int = 3) -> str:
    """The file's header and sources with ``keep`` of its [[validation_case]] tables, picked at random.

    ``hwprof validate`` estimates every case it is given; a mutant of the whole results file would
    spend a second on cases the mutation never touched.
    """
    head, *cases = re.split(r"(?m)^(?=\[\[validation_case\]\])", text)
    return head + "".join(rng.sample(cases, min(keep, len(cases))))


def builtin_profiles() -> dict[str, tuple[str, str]]:
    """plugin name -> (file name, text) for every built-in plugin that ships one TOML file."""
    from importlib.resources import files

    folder = files("hwprof.profiles")
    found = {}
    for item in folder.iterdir():
        if item.name.endswith(".toml"):
            found[item.name.removesuffix(".toml")] = (item.name, item.read_text(encoding="utf-8"))
    return found


def commands_for(text: str) -> list[list[str]]:
    """Commands that read what this profile declares, on ids it declares where it names some."""

    def first(kind: str) -> str | None:
        m = re.search(rf'^\[\[{kind}\]\]\s*\nid = "([^"]+)"', text, re.MULTILINE)
        return m.group(1) if m else None

    commands = [["chips", "list", "--json"]]
    if (system := first("system")) is not None:
        commands += [["systems", "list"], ["systems", "show", system, "--json"],
                     ["estimate", "train", "--model", "llama3.1-70b", "--tokens", "1e12", "--system", system,
                      "--cost-model", "none", "--json"],
                     ["estimate", "serve", "--model", "llama3.1-8b", "--system", system, "--cost-model", "none"]]  # fmt: skip
    elif (chip := first("chip")) is not None:
        commands += [["chips", "show", chip]]
    if first("cost_model"):
        # (compare train searches layouts per system, a second each: estimate train reads the same prices)
        commands += [["prices", "list", "--json"], ["prices", "show", "trn2.48xlarge", "--json"],
                     ["estimate", "train", "--model", "llama3.1-70b", "--tokens", "1e12", "--system",
                      "trn2.48xlarge", "--json"]]  # fmt: skip
    if first("workload"):
        commands += [["models", "list", "--json"],
                     ["estimate", "train", "--model", first("workload") or "", "--tokens", "1e12", "--chip",
                      "h100-sxm", "--chips", "64", "--json"]]  # fmt: skip
    if first("validation_case"):
        commands += [["validate", "--json"]]
    return commands


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--mutants", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=10.0, help="seconds before a command counts as a hang")
    parser.add_argument("--uses", type=int, default=2, help="use commands run per mutant (picked at random)")
    parser.add_argument("--keep", type=Path, help="write each bad mutant and its command here")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    options = parser.parse_args()

    main_fn = _entry_point()
    profiles = builtin_profiles()
    plugins = sorted(profiles)
    ids = sorted({m for _, text in profiles.values() for m in re.findall(r'^id = "([^"]+)"', text, re.MULTILINE)})
    rng = random.Random(options.seed)
    counts: Counter[str] = Counter()
    edits: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwprof-fuzz-") as tmp:
        base = {"HWPROF_NO_USER_PROFILES": "1", "HWPROF_CACHE_DIR": str(Path(tmp) / "cache")}
        folder = Path(tmp) / "profiles"
        folder.mkdir()
        for n in range(options.mutants):
            plugin = rng.choice(plugins)
            name, text = profiles[plugin]
            if "[[validation_case]]" in text:
                text = sample_cases(text, rng)
            mutant, names = mutate(text, rng, ids)
            edits.update(names)
            path = folder / name
            for old in folder.iterdir():
                old.rmdir() if old.is_dir() else old.unlink()
            path.write_bytes(mutant.encode("utf-8", "surrogatepass"))
            if rng.random() < 0.1:  # a folder named like a profile beside it (issue 24, item 1)
                (folder / "aa-old.toml").mkdir()
                names = [*names, "folder-named-toml"]
            others = ",".join(p for p in plugins if p != plugin)
            env = {**base, "HWPROF_LOAD_PLUGINS": others}
            runs = [(["profiles", "check", str(path)], env)]
            uses = commands_for(text)
            for args in rng.sample(uses, min(options.uses, len(uses))):
                strict = rng.random() < 0.2
                runs.append(((["--strict-plugins"] if strict else []) + ["--profiles", str(folder), *args], env))
            for args, run_env in runs:
                outcome, detail = run_once(main_fn, args, run_env, options.limit)
                counts[outcome] += 1
                if outcome in BAD_OUTCOMES:
                    example = {"mutant": n, "plugin": plugin, "edits": names, "args": args, "outcome": outcome,
                               "detail": detail.strip()[-400:]}  # fmt: skip
                    examples.append(example)
                    if options.keep:
                        options.keep.mkdir(parents=True, exist_ok=True)
                        (options.keep / f"{n:05d}-{name}").write_bytes(mutant.encode("utf-8", "surrogatepass"))
                        with (options.keep / "failures.jsonl").open("a") as log:
                            log.write(json.dumps(example) + "\n")
            if (n + 1) % 1000 == 0 and not options.json:
                print(f"{n + 1:>6} mutants, {time.perf_counter() - started:6.1f} s: {dict(counts)}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    report = {
        "mutants": options.mutants, "seed": options.seed, "command_runs": sum(counts.values()),
        "seconds": round(elapsed, 1),
        "outcomes": {k: counts.get(k, 0) for k in ("ok", "warned", "error", *BAD_OUTCOMES)},
        "edits": dict(edits), "first_failures": examples[:10],
    }  # fmt: skip
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{options.mutants:,} mutants (seed {options.seed}), {report['command_runs']:,} command runs "
              f"in {elapsed:.0f} s")  # fmt: skip
        for key, value in report["outcomes"].items():
            print(f"  {key:<11} {value:>7,}")
        for example in examples[:10]:
            print(f"  e.g. {example['outcome']}: {example['plugin']} {example['edits']} -> hwprof "
                  f"{' '.join(example['args'])}\n       {example['detail'][-200:]}")  # fmt: skip
    return 1 if any(counts.get(k, 0) for k in BAD_OUTCOMES) else 0


if __name__ == "__main__":
    sys.exit(main())
