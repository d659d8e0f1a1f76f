"""One check for every number and date hwprof takes in: command-line options, profile TOML and
plugin records go through the same ``Bound``, so a value one door refuses no other door accepts.

A bound says, in domain words, what a value is, the range it must lie in and whether it must be
a whole number. Finite is always required. The ranges are wide on purpose (they keep out what
no real workload or chip has, and what would overflow the arithmetic), not a judgement of taste.

On the command line, pass a bound to ``checked`` as an option callback; the CLI adds the flag::

    from hwprof.cli.common import checked
    from hwprof.data import checks

    LAYERS = checks.count("layers", 1, 100_000)        # or Bound("tokens", 1, 1e18), fraction("MFU")
    Layers = Annotated[int, typer.Option("--layers", callback=checked(LAYERS))]
    # hwprof ... --layers -80
    #   error: --layers: layers must be at least 1, got -80     (exit 2)

In Python, ``TOKENS.check(value)`` returns the value or raises ``CheckError`` (an ``HwprofError``,
so the CLI prints it as one line); ``TOKENS.problem(value)`` returns the message or ``None``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import attrs

from ..errors import HwprofError

# Profile numbers with no bound of their own: positive, and inside what float arithmetic over a
# handful of products and quotients stays finite with (1e-9 x 1e18 chains never reach 1e308).
PROFILE_LOW, PROFILE_HIGH = 1e-9, 1e18
# Whole numbers (chip counts, layers, batch, tokens per request): up to a billion.
COUNT_HIGH = 1_000_000_000
EARLIEST, LATEST = dt.date(1950, 1, 1), dt.date(2100, 12, 31)


class CheckError(HwprofError):
    """A value outside its bound; the message is in domain words, without a flag name."""


def shown(value: object) -> str:
    """A value as a message shows it: 300-digit numbers and long text shortened."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 20 else f"a {len(text)}-digit number"
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _limit(value: float) -> str:
    if value == int(value) and abs(value) < 1e10:
        return f"{int(value):,}"
    return f"{value:g}".replace("e+", "e")


@attrs.frozen
class Bound:
    """What a number is and the range it must lie in (``low`` and ``high`` included, unless
    ``above`` says the value must be strictly above ``low``)."""

    what: str
    low: float
    high: float
    integer: bool = False
    above: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        if self.above:
            return f"{kind} above {_limit(self.low)} and at most {_limit(self.high)}"
        return f"{kind} from {_limit(self.low)} to {_limit(self.high)}"

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not allowed, or None when it is."""
        got = f", got {shown(value)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{self.what} must be {self.describe()}{got}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.what} must be a finite number{got}"
        if self.integer and isinstance(value, float) and value != int(value):
            return f"{self.what} must be a whole number{got}"
        if self.above and self.low == 0 and 0 < value < PROFILE_LOW:  # 1e-320: a denormal the arithmetic overflows on
            return f"{self.what} must be at least {PROFILE_LOW:g} (smaller cannot be computed with){got}"
        if value < self.low or (self.above and value == self.low):
            return f"{self.what} must be {'above' if self.above else 'at least'} {_limit(self.low)}{got}"
        if value > self.high:
            return f"{self.what} must be at most {_limit(self.high)}{got}"
        return None

    def check(self, value: Any) -> Any:
        """``value`` (an int for whole numbers), or ``CheckError`` saying what is wrong."""
        if (message := self.problem(value)) is not None:
            raise CheckError(message)
        return int(value) if self.integer else value

    def named(self, what: str) -> Bound:
        return attrs.evolve(self, what=what)


def count(what: str, low: int = 1, high: int = COUNT_HIGH) -> Bound:
    """A whole number from ``low`` to ``high``."""
    return Bound(what, low, high, integer=True)


def fraction(what: str) -> Bound:
    """A share: above 0, at most 1."""
    return Bound(what, 0, 1, above=True)


def date_problem(what: str, value: dt.date) -> str | None:
    if EARLIEST <= value <= LATEST:
        return None
    return f"{what} must be from {EARLIEST} to {LATEST}, got {value}"


# Bounds the CLI and the estimators share. New options: add a bound here or beside the option.
PARAMS = Bound("parameters", 1e3, 1e15)
TOKENS = Bound("tokens", 1, 1e18)
LAYERS = count("layers", 1, 100_000)
HIDDEN = count("model width", 1, 10_000_000)
HEADS = count("attention heads", 1, 1_000_000)
SEQ_LEN = count("sequence length", 1, 1_000_000_000)
CHIPS = count("chips")
SYSTEMS = count("systems")
BATCH = count("batch")
REQUEST_TOKENS = count("tokens per request", 1, 1_000_000_000)
MFU = fraction("MFU")
RATE = Bound("requests per second", 0, 1e9, above=True)
SECONDS = Bound("seconds", 0, 86_400, above=True)
GLOBAL_BATCH_TOKENS = Bound("tokens per optimizer step", 1, 1e12)
DAYS = Bound("days", 0, 36_500, above=True)
USD = Bound("USD", 0, 1e15, above=True)
STALE_DAYS = count("days before a price is stale", 0, 36_500)
SPEC_TOKENS = count("speculative tokens per step", 0, 1_000)
SPEC_ACCEPTED = Bound("tokens emitted per step", 1, 1_001)
PREFIX_CACHED = Bound("cached share of the prompt", 0, 1)
HEADROOM_GIB = Bound("GiB of memory headroom", 0, 1_000_000)
