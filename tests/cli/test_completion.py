"""Shell completion (typer's): commands, options and the ids a user would otherwise look up: chips,
systems, models, cost models, formats. Driven the way the shell drives it, through the
environment variables typer's completion script sets.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def complete(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What bash would be offered after typing ``line`` (the last word being completed)."""

    def run(line: str) -> list[str]:
        words = line.split(" ")
        monkeypatch.setenv("_HWPROF_COMPLETE", "complete_bash")
        monkeypatch.setenv("COMP_WORDS", line)
        monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
        result = run_cli()
        assert result.code == 0, result.err
        assert result.err == ""  # nothing on the user's terminal but the choices
        return result.out.split()

    return run


def test_commands_and_options(complete: Any) -> None:
    assert {"chips", "estimate", "plan", "compare", "prices"} <= set(complete("hwprof "))
    assert "--format" in complete("hwprof chips list --")
    assert complete("hwprof chips list --format m") == ["markdown"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hwprof chips show tr", ["trainium1", "trainium2", "trainium3"]),
        ("hwprof estimate train --chip h", ["h100-sxm", "h200-sxm"]),
        ("hwprof estimate train --system p5", ["p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge"]),
        ("hwprof estimate serve --model llama3.1-", ["llama3.1-405b", "llama3.1-70b", "llama3.1-8b"]),
        ("hwprof estimate train --cost-model ", ["aws"]),
        ("hwprof prices show p5e", ["p5e.48xlarge", "p5en.48xlarge"]),
        ("hwprof compare train --systems p5.48xlarge,p5e", ["p5.48xlarge,p5e.48xlarge", "p5.48xlarge,p5en.48xlarge"]),
    ],
)
def test_ids_complete(complete: Any, line: str, expected: list[str]) -> None:
    assert complete(line) == expected


def test_ids_from_the_users_profiles_complete(
    complete: Any, monkeypatch: pytest.MonkeyPatch, write_profile: Any
) -> None:
    from tests.conftest import chip_profile

    path = write_profile(chip_profile("zz-chip"))
    monkeypatch.setenv("HWPROF_PROFILE_PATH", str(path.parent))
    assert complete("hwprof chips show zz") == ["zz-chip"]


def test_the_root_offers_installing_it(run_cli: Any) -> None:
    out = run_cli("--help").out
    assert "--install-completion" in out and "--show-completion" in out


def test_a_third_party_plugin_completes_and_changes_nothing_else(
    complete: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a third-party package installed (the second cloud, packages/hwprof-gcp), its systems and
    cost model complete beside the built-ins, and completion still prints nothing but the choices."""
    from hwprof.data import plugin_loading
    from tests import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "packages" / "hwprof-gcp"))
    installed = plugin_loading.entry_points
    monkeypatch.setattr(
        plugin_loading, "entry_points", lambda: [*installed(), ("hwprof-gcp", "hwprof_gcp:plugin", "hwprof-gcp")]
    )
    assert complete("hwprof estimate train --system a3-") == ["a3-highgpu-8g", "a3-megagpu-8g", "a3-ultragpu-8g"]
    assert complete("hwprof estimate train --cost-model ") == ["aws", "gcp"]
    assert {"chips", "estimate", "plan", "compare", "prices"} <= set(complete("hwprof "))
