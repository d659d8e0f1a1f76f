"""One invocation: the settings that decide which records load, the registry they give, and what
the run has to say (warnings, notes), collected here for the caller to show.

The CLI makes a session per command (its global callback) and shows warnings as they come; the
API makes one per ``hwprof.registry()`` call and keeps them on the session and the registry.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from pathlib import Path

import attrs

from ..data import registry


@attrs.define(eq=False, repr=False)  # no eq/repr: each attrs method costs start-up time
class Session:
    """Strict mode and extra profile folders; the warnings said so far, each once; where to send
    warnings and notes as they come (the CLI's stderr), if anywhere."""

    strict: bool = False
    profile_dirs: list[Path] = attrs.Factory(list)
    on_warning: Callable[[str], None] | None = None
    on_note: Callable[[str], None] | None = None
    warnings: list[str] = attrs.Factory(list)

    def settings(self) -> registry.Settings:
        return registry.Settings.from_env(strict=self.strict, profile_dirs=self.profile_dirs)

    def registry(self) -> registry.Registry:
        """The registry for these settings (built once per process); its load warnings are said once."""
        result = registry.get(self.settings())
        for message in result.warnings:
            self.warn(message)
        return result

    def warn(self, text: str) -> None:
        if text in self.warnings:
            return
        self.warnings.append(text)
        if self.on_warning is not None:
            self.on_warning(text)

    def note(self, text: str) -> None:
        if self.on_note is not None:
            self.on_note(text)


_current: contextvars.ContextVar[Session] = contextvars.ContextVar("hwprof_session")


def begin(session: Session) -> Session:
    """Make ``session`` the one this invocation's calls use."""
    _current.set(session)
    return session


def current() -> Session:
    session = _current.get(None)
    if session is None:
        session = begin(Session())
    return session


def current_registry() -> registry.Registry:
    """The registry of the call being run (built once per process)."""
    return current().registry()


def warn(text: str) -> None:
    """A warning for the caller: printed by the CLI, kept on the session by the API."""
    current().warn(text)


def note(text: str) -> None:
    """Something the user should know that is not a problem (which price list was used, say)."""
    current().note(text)
