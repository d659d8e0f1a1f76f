"""Calling plugins: through pluggy, one plugin at a time, with what goes wrong contained.

Every call into a plugin (its import, its commands hook, its registration hooks together) goes
through ``contained``:

- any exception it raises, ``SystemExit`` and ``KeyboardInterrupt`` included, becomes a one-line failure
  naming the plugin; only a Ctrl-C the user pressed while it ran (a SIGINT, which a handler set for the
  call marks) still stops hwprof;
- what it prints to stdout is kept off stdout (where ``--json`` and CSV go) and shown on stderr;
- a call running longer than ``SLOW_S`` seconds is named on stderr while it runs, and one running
  longer than ``HWPROF_PLUGIN_TIMEOUT`` seconds (default 30) is given up (the plugin is skipped).

Hooks are called through pluggy's public ``pm.subset_hook_caller``, one plugin's implementation at
a time plus every plugin's wrappers, so hook wrappers, ordering and tracing apply while a failure
stays with its plugin. pluggy hashes the plugins a subset leaves out, so a plugin object that is not
hashed by identity is registered through a stand-in (``held``). ``HWPROF_TRACE_PLUGINS=1`` prints
each hook call, who answered it and how long it took.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pluggy

T = TypeVar("T")
SLOW_S = 2.0
DEFAULT_TIMEOUT_S = 30.0
TIMEOUT_ENV = "HWPROF_PLUGIN_TIMEOUT"
TRACE_ENV = "HWPROF_TRACE_PLUGINS"


class GaveUp(BaseException):
    """Raised inside a plugin's call that ran past the time limit (a BaseException, so a plugin's
    ``except Exception`` does not swallow it)."""


def _note(text: str) -> None:
    from .printable import printable

    sys.stderr.write(f"warning: {printable(text)}\n")
    sys.stderr.flush()


def timeout_s() -> float:
    """``HWPROF_PLUGIN_TIMEOUT`` in seconds, or the default when unset or not a number from 0.1 to a day."""
    return _timeout(os.environ.get(TIMEOUT_ENV, "").strip())


@functools.cache
def _timeout(raw: str) -> float:
    """Read once per value: every plugin call asks, and a bad value is reported once, not per call."""
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 86_400:  # also NaN
        _note(f"{TIMEOUT_ENV}={raw[:20]!r}: expected seconds from 0.1 to 86400; using {DEFAULT_TIMEOUT_S:g}")
        return DEFAULT_TIMEOUT_S
    return value


def exception_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (``SystemExit: 3`` for an exit)."""
    from ..errors import ProfileError

    if isinstance(exc, ProfileError):
        return "its profile is invalid: " + "; ".join(exc.problems)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


Doing = str | Callable[[], str]  # what runs, or a function saying what runs now (several hooks in turn)


class Watch:
    """What happened during a watched call: whether the user pressed Ctrl-C."""

    interrupted = False


@contextlib.contextmanager
def watched(plugin: str, what: Doing) -> Iterator[Watch]:
    """Name ``what`` on stderr once it runs past SLOW_S; raise ``GaveUp`` inside it at the time limit;
    mark a SIGINT (the user's Ctrl-C) so it is told from a KeyboardInterrupt the plugin raised itself.

    The limit needs SIGALRM, so it holds in the main thread on POSIX; elsewhere the slow call is
    only named. An alarm set by the caller (a test harness, say) is put back afterwards.
    """
    limit = timeout_s()
    slow = min(SLOW_S, limit / 2)
    watch = Watch()

    def message() -> str:
        return (f"plugin {plugin!r} is slow: {_now(what)} has run for {slow:g} s; it is given up at {limit:g} s "
                f"({TIMEOUT_ENV}; HWPROF_LOAD_PLUGINS can leave the plugin out)")  # fmt: skip

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        timer = threading.Timer(slow, lambda: _note(message()))
        timer.daemon = True
        timer.start()
        try:
            yield watch
        finally:
            timer.cancel()
        return
    stage = ["slow"]

    def alarm(signum: int, frame: Any) -> None:
        if stage[0] == "slow":
            stage[0] = "late"
            _note(message())
            signal.setitimer(signal.ITIMER_REAL, limit - slow)
        else:
            raise GaveUp(f"gave up after {limit:g} s in {_now(what)} ({TIMEOUT_ENV})")

    previous_interrupt = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: Any) -> None:
        watch.interrupted = True
        previous_interrupt(signum, frame)  # type: ignore[operator, misc]  # Python's own raises KeyboardInterrupt

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, alarm)
    if callable(previous_interrupt):  # ignored or default (no Python handler): a Ctrl-C cannot raise here
        signal.signal(signal.SIGINT, interrupt)
    previous_timer, _ = signal.setitimer(signal.ITIMER_REAL, slow)
    try:
        yield watch
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if callable(previous_interrupt):
            signal.signal(signal.SIGINT, previous_interrupt)
        if previous_timer:
            left = previous_timer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _now(what: Doing) -> str:
    return what if isinstance(what, str) else what()


def contained(plugin: str, what: Doing, call: Callable[[], T]) -> tuple[T | None, str]:
    """(``call()``, "") or (None, the failure in one line). Only the user's own Ctrl-C passes.

    What the call prints to stdout is shown on stderr instead, so ``--json`` and CSV stay parseable."""
    import io

    printed = io.StringIO()
    watch = Watch()
    try:
        with contextlib.redirect_stdout(printed), watched(plugin, what) as watch:
            return call(), ""
    except KeyboardInterrupt as exc:
        if watch.interrupted:
            raise
        return None, exception_line(exc)
    except BaseException as exc:  # SystemExit, GaveUp and any error: the plugin's, not hwprof's
        return None, exception_line(exc)
    finally:
        if text := printed.getvalue().strip():
            lines = text.splitlines()
            more = f" (and {len(lines) - 1} more line(s))" if len(lines) > 1 else ""
            _note(f"plugin {plugin!r} printed to stdout during {_now(what)}, which is kept for hwprof's output; "
                  f"it said: {lines[0][:200]}{more}")  # fmt: skip


def call_plugin(plugin: str, what: str, call: Callable[[], T]) -> T:
    """``call()`` into a plugin's object at run time (a cost model's quote, say): its output and
    failures contained as in ``contained``, a failure raised as one ``HwprofError`` naming it.
    ``LookupError`` and ``HwprofError`` pass: they are how a plugin says "no such thing"."""
    from ..errors import HwprofError

    passed: list[BaseException] = []

    def guarded() -> T:
        try:
            return call()
        except (LookupError, HwprofError) as exc:
            passed.append(exc)
            raise

    result, failure = contained(plugin, what, guarded)
    if passed:
        raise passed[0]
    if failure:
        raise HwprofError(f"{plugin} failed in {what}: {failure}")
    return result  # type: ignore[return-value]


def caller_for(manager: pluggy.PluginManager, hook_name: str, plugin: object) -> Callable[..., Any]:
    """``pm.hook.<hook_name>`` with only ``plugin``'s implementation and every plugin's wrappers.

    pluggy's ``subset_hook_caller`` leaving out the other plugins that answer the hook. A plugin
    that both wraps and answers one hook is left out whole, so it wraps only its own call.
    """
    others = [
        i.plugin
        for i in getattr(manager.hook, hook_name).get_hookimpls()
        if i.plugin is not plugin and not (i.hookwrapper or i.wrapper)
    ]
    return manager.subset_hook_caller(hook_name, others)


class Held:
    """A plugin object that is not hashed by identity, as pluggy holds it: its hooks, nothing else.

    pluggy hashes the plugins a subset call leaves out and tells plugins apart with ``==``; an
    instance of a dataclass or an unfrozen attrs class has no hash, and two equal ones would pass
    for one plugin. This stand-in is hashed and compared by identity, and pluggy finds on it the
    object's own hook methods, bound to the object.
    """

    def __init__(self, manager: pluggy.PluginManager, plugin: object) -> None:
        self._plugin = plugin
        self._hooks = [n for n in dir(plugin) if manager.parse_hookimpl_opts(plugin, n) is not None]
        for name in self._hooks:
            setattr(self, name, getattr(plugin, name))
            if manager.parse_hookimpl_opts(self, name) is None:  # hookimpl put above @classmethod
                raise TypeError(f"{name}: put @hookimpl below @classmethod (the plugin object is not hashable)")

    def __dir__(self) -> list[str]:  # what pluggy looks through for hooks
        return self._hooks

    def __repr__(self) -> str:
        return repr(self._plugin)


def held(manager: pluggy.PluginManager, plugin: object) -> object:
    """What to register for ``plugin``: itself when hashed and compared by identity (a module, most
    objects), else a ``Held`` stand-in, so that ``caller_for`` can leave plugins out by identity."""
    kind = type(plugin)
    if kind.__hash__ is object.__hash__ and kind.__eq__ is object.__eq__:
        return plugin
    return Held(manager, plugin)


def unknown_hooks(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """Plugin name -> hooks it implements that hwprof has no spec for (a misspelling, usually).

    ``pm.check_pending()`` finds them; it stops at the first, so they are then listed one by one.
    """
    try:
        manager.check_pending()
        return {}
    except pluggy.PluginValidationError:
        pass
    found: dict[str, list[str]] = {}
    for name, caller in vars(manager.hook).items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                found.setdefault(impl.plugin_name, []).append(name)
    return found


def trace(manager: pluggy.PluginManager) -> None:
    """With HWPROF_TRACE_PLUGINS=1, print each hook call, who answered and its time, to stderr."""
    if os.environ.get(TRACE_ENV, "") in ("", "0"):
        return
    started: list[float] = []

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        started.append(time.perf_counter())

    def after(
        outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        took = (time.perf_counter() - started.pop()) * 1000
        who = ", ".join(i.plugin_name for i in impls) or "no plugin"
        failed = outcome.exception
        result = f"raised {type(failed).__name__}" if failed else _count(outcome.get_result())
        sys.stderr.write(f"trace: {hook_name} <- {who}: {took:.2f} ms, {result}\n")

    manager.add_hookcall_monitoring(before, after)


def _count(result: Any) -> str:
    if isinstance(result, list):
        parts = [part for part in result if part is not None]
        flat = [r for part in parts for r in (part if isinstance(part, list | tuple) else [part])]
        return f"{len(flat)} record(s)" if parts else "nothing returned"
    return "done"
