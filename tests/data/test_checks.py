"""The one validation layer: bounds in domain words, the same for options, TOML and plugin records."""

from __future__ import annotations

import datetime as dt

import pytest

from hwprof.data import checks
from hwprof.data.checks import Bound, CheckError
from tests.facts import facts

BIG = 10**299


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0, -1, 1e19, BIG, -BIG, "12", None, True])
def test_tokens_refuses(value: object) -> None:
    problem = checks.TOKENS.problem(value)
    assert problem is not None and problem.startswith("tokens must be ") and ", got " in problem
    with pytest.raises(CheckError):
        checks.TOKENS.check(value)


@pytest.mark.parametrize("value", [1, 1.0, 15.6e12, 1e18])
def test_tokens_accepts(value: float) -> None:
    assert checks.TOKENS.check(value) == value


def test_whole_numbers() -> None:
    layers = checks.count("layers", 1, 100_000)
    assert layers.check(80) == 80
    assert layers.check(80.0) == 80 and isinstance(layers.check(80.0), int)
    facts(layers.problem(80.5), "layers", "whole number", "80.5")
    facts(layers.problem(0), "layers", "at least 1", "got 0")
    facts(layers.problem(BIG), "layers", "at most 100,000", "a 300-digit number")
    facts(layers.problem("80"), "layers", "whole number", "1 to 100,000", "'80'")


def test_open_lower_end() -> None:
    facts(checks.MFU.problem(0), "MFU", "above 0", "got 0")
    facts(checks.MFU.problem(7), "MFU", "at most 1", "got 7")
    facts(checks.MFU.problem(float("nan")), "MFU", "finite number", "nan")
    assert checks.MFU.check(1) == 1
    assert Bound("x", 0, 1).check(0) == 0


def test_shown_shortens() -> None:
    assert checks.shown(BIG) == "a 300-digit number"
    assert checks.shown(12345) == "12345"
    assert checks.shown("x" * 100).endswith("...") and len(checks.shown("x" * 100)) == 60
    assert checks.shown(1e308) == "1e+308"


def test_dates() -> None:
    assert checks.date_problem("observed", dt.date(2025, 1, 1)) is None
    facts(checks.date_problem("observed", dt.date(9999, 12, 31)) or "", "observed", "1950-01-01", "2100-12-31",
          "9999-12-31")  # fmt: skip


def test_profile_range_keeps_arithmetic_finite() -> None:
    # The widest chain the estimators form: a product of three large figures over a small one.
    assert checks.PROFILE_HIGH**3 / checks.PROFILE_LOW < 1e308


# Checked where they are used, with messages of their own (cost/pricing.stale_days_setting).
CHECKED_IN_USE = {"--stale-days"}


def test_every_numeric_option_states_its_range() -> None:
    """A new numeric option gets a bound: ``callback=checked(checks.X)`` (hwprof.cli.common).
    Without one, the safety net in cli/app.py still refuses NaN, inf and numbers past 1e18."""
    import typer

    from hwprof.cli.app import NUMBER_TYPES, build_app

    missing = []

    def walk(command: object, path: list[str]) -> None:
        for param in command.params:  # type: ignore[attr-defined]
            numeric = type(param.type).__name__ in NUMBER_TYPES
            if numeric and param.callback is None and param.opts[0] not in CHECKED_IN_USE:
                missing.append(f"hwprof {' '.join(path)} {param.opts[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(build_app()), [])
    assert missing == [], "give these options a bound with checked(...): " + ", ".join(missing)


@pytest.mark.parametrize(("value", "ok"), [(1.0, True), (0.999, True), (1.0001, False), (2, False)])
def test_interconnect_efficiency_is_a_share_up_to_exactly_one(value: float, ok: bool) -> None:
    """Issue 24's mutation-check gap: 1.0 is inside the 0-1 its message states, anything above is not."""
    from hwprof.data.schema import load_text
    from hwprof.errors import ProfileError
    from tests.hostile import PROFILE

    link = 'direction = "bidirectional"\n'
    text = PROFILE.replace(link, link + f'efficiency = {{ value = {value}, source = "s1", status = "estimated" }}\n', 1)
    if ok:
        (interconnect,) = load_text(text, "hx.toml").interconnect
        assert interconnect.efficiency.value == value
    else:
        with pytest.raises(ProfileError, match=rf"efficiency is a share of the bandwidth \(0-1\), got {value:g}"):
            load_text(text, "hx.toml")
