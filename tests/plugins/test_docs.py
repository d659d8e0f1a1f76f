"""The contributor docs (CONTRIBUTING.md, docs/profiles.md, docs/writing-plugins.md) cannot drift: every hook spec has a section headed by its name and arguments,
whose example module works as a plugin, and a test named after it; the example profile checks
clean; every `hwprof ...` command shown exists; the field reference is the one the model gives.

`python -m tests.plugins.test_docs` rewrites the generated field reference.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hwprof.data import hookspecs, registry
from hwprof.data.json_schema import field_reference
from hwprof.data.schema import load_text
from tests import ROOT

CONTRIBUTING = ROOT / "CONTRIBUTING.md"
PROFILES, PLUGINS = ROOT / "docs" / "profiles.md", ROOT / "docs" / "writing-plugins.md"
REFERENCE = PROFILES  # holds the generated field reference
START, END = "<!-- field reference: generated, do not edit -->", "<!-- end of field reference -->"
HOOKS = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "hwprof_spec")}


def text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in (CONTRIBUTING, PROFILES, PLUGINS))


def section(heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or a higher level."""
    lines = text().splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    end = next((i for i in range(start + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start + 1 : end])


def blocks(body: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", body, flags=re.M | re.S)


def heading(name: str) -> str:
    return f"### {name}({', '.join(inspect.signature(HOOKS[name]).parameters)})"


def example_profile() -> str:
    return blocks(section("### A complete profile"), "toml")[0]


def test_every_hook_has_a_section_named_after_it() -> None:
    assert HOOKS, "no hook specs found"
    missing = [heading(name) for name in HOOKS if heading(name) not in text().splitlines()]
    assert missing == [], f"CONTRIBUTING.md needs a section per hook: {missing}"


def test_every_hook_has_a_test_named_after_it() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [name for name in HOOKS if f"def test_{name}(" not in sources]
    assert missing == [], f"write a test named test_<hook> for: {missing}"


def test_the_example_profile_checks_clean() -> None:
    profile = load_text(example_profile(), "my_chip.toml")
    assert [len(profile.chip), len(profile.interconnect), len(profile.system)] == [1, 1, 1]
    assert profile.chip[0].peak_dense_tflops["fp8"].alternatives[0].value == 1900


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_each_hook_example_works_as_a_plugin(hook: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = blocks(section(heading(hook)), "python")
    package = tmp_path / f"example_{hook}"
    package.mkdir()
    (package / "__init__.py").write_text(code, encoding="utf-8")
    (package / "my_chip.toml").write_text(example_profile(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(package.name)
    try:
        # The built-ins too, so ids the example names (a model, a system) resolve as they would.
        built = registry.build(registry.Settings(), extra_plugins=[("example", module)])
        info = next(p for p in built.plugins if p.name == "example")
        assert (info.status, info.error, built.warnings) == ("loaded", "", [])
        assert hook in info.hooks
        if hook == "hwprof_register_commands":
            app = typer.Typer()
            app.callback()(lambda: None)  # a group, so the command is invoked by its name
            built.manager.hook.hwprof_register_commands(cli=app)  # type: ignore[union-attr]
            (command,) = [c.name for c in app.registered_commands]
            result = CliRunner().invoke(app, [command])
            assert result.exit_code == 0, result.output
            assert result.output.strip()
        elif hook == "hwprof_register_emitters":
            from hwprof.emit import Emitter

            answers = built.manager.hook.hwprof_register_emitters()  # type: ignore[union-attr]
            [mine] = [e for answer in answers for e in answer if e.name == "acme"]
            assert isinstance(mine, Emitter) and mine.kind == "train"
        else:
            attribute = registry.REGISTRATION_HOOKS[hook][0]
            assert info.registered.get(attribute, 0) >= 1, info.registered
    finally:
        sys.modules.pop(package.name, None)


def test_every_command_shown_exists() -> None:
    from hwprof.cli.app import build_app

    app = build_app()

    root = typer.main.get_command(app)
    shown = [line for body in blocks(text(), "bash") for line in body.splitlines() if line.startswith("hwprof ")]
    assert len(shown) >= 8
    for line in shown:
        words = line.split("#")[0].split()[1:]
        command: Any = root
        path = []
        while words:
            word = words.pop(0)
            if word == "--profiles":
                words.pop(0)
            elif not word.startswith("-"):
                assert hasattr(command, "commands") and word in command.commands, f"no command `{line}`"
                command = command.commands[word]
                path.append(word)
                if not hasattr(command, "commands"):
                    break
        assert path, f"`{line}` runs no command"


def generated(current: str) -> str:
    """docs/profiles.md with the field reference between the markers regenerated."""
    before, rest = current.split(START + "\n", 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{field_reference()}{END}{after}"


def test_the_field_reference_is_generated_from_the_model() -> None:
    current = REFERENCE.read_text(encoding="utf-8")
    assert current == generated(current), (
        "docs/profiles.md's field reference is stale: run python -m tests.plugins.test_docs"
    )


def test_every_model_field_is_in_the_reference() -> None:
    from hwprof.data.json_schema import record_types
    from hwprof.data.schema import user_fields

    reference = section("## The profile format, field by field")
    for cls in record_types():
        assert f"#### {cls.__name__} " in reference
        for field in user_fields(cls):
            assert field.name == "key" or f"| `{field.name}` |" in reference, f"{cls.__name__}.{field.name}"


if __name__ == "__main__":
    REFERENCE.write_text(generated(REFERENCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote the field reference in {REFERENCE}")
