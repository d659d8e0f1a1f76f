"""Docs that cannot drift: the README's test command is the one CI runs, every hook a plugin
author can implement carries a complete example in its docstring, and the docs a newcomer pastes
from activate the venv first."""

from __future__ import annotations

import inspect
import re

import pytest

from hwprof.data import hookspecs
from tests import ROOT

# What .ci/run runs as "the README's test command"; the README must show this very line.
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -n auto --dist loadgroup"


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]


def readme_test_command(text: str) -> str:
    """The command in the first fenced block after the first heading that mentions tests."""
    lines = text.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.startswith("#") and "test" in line.lower()), None)
    assert heading is not None, "README.md has no heading about tests (e.g. '## Running the tests')"
    fences = [i for i in range(heading + 1, len(lines)) if lines[i].lstrip().startswith("```")]
    assert len(fences) >= 2, "README.md: no fenced code block after the tests heading"
    block = [line.strip().removeprefix("$ ") for line in lines[fences[0] + 1 : fences[1]]]
    commands = [line for line in block if line and not line.startswith("#")]
    assert len(commands) == 1, f"README.md: the tests block should hold one command, found {commands}"
    return commands[0]


def test_ci_runs_the_test_command() -> None:
    assert TEST_COMMAND in ci_lines(), f".ci/run must run the README's test command verbatim: {TEST_COMMAND}"


def test_ci_runs_the_venv_building_tests_once() -> None:
    """A plain run (the README's command) leaves the tests that build a fresh venv out; CI runs them
    by themselves, so once."""
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "-m 'not venv'" in options["addopts"]
    assert any(line.startswith(".venv/bin/python -m pytest -m venv") for line in ci_lines()), ".ci/run: pytest -m venv"


def test_readme_test_command_is_the_one_ci_runs() -> None:
    readme = ROOT / "README.md"
    assert readme.exists(), f"README.md is missing: it must show the test command that .ci/run runs: {TEST_COMMAND}"
    command = readme_test_command(readme.read_text(encoding="utf-8"))
    assert command in ci_lines(), f"README.md's test command is not a line of .ci/run: {command}"


def test_readme_test_command_parser() -> None:
    text = "# hwprof\n\n```\nhwprof --help\n```\n\n## Running the tests\n\n```sh\n$ make test\n```\n"
    assert readme_test_command(text) == "make test"


def hook_specs() -> list[tuple[str, object]]:
    return [
        (name, fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "hwprof_spec")  # set by pluggy's HookspecMarker("hwprof")
    ]


def test_every_hook_has_an_example() -> None:
    specs = hook_specs()
    names = {name for name, _ in specs}
    assert {
        "hwprof_register_chips",
        "hwprof_register_interconnects",
        "hwprof_register_systems",
        "hwprof_register_cost_models",
        "hwprof_register_workloads",
        "hwprof_register_commands",
    } <= names
    for name, fn in specs:
        assert name.startswith("hwprof_"), f"hook {name} lacks the hwprof_ prefix"
        doc = inspect.getdoc(fn) or ""
        assert "Example" in doc, f"hook {name}: its docstring needs a complete example"
        assert re.search(r"@hookimpl\s+def " + name + r"\(", doc), f"hook {name}: the example should implement it"


def test_the_readme_shows_what_the_cli_prints_now() -> None:
    """The sample outputs are generated (``cog -I . -r README.md``): a change to the model or the
    tables that moves them fails here until they are regenerated."""
    from cogapp import Cog

    assert Cog().main(["cog", "-I", str(ROOT), "--check", str(ROOT / "README.md")]) == 0, "run: cog -I . -r README.md"


def test_the_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 120, f"README.md has {len(lines)} lines: the detail belongs in docs/"


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
