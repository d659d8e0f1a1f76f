"""Importing plugins: every module of the ``hwprof`` entry-point group (or those allowed), each
registered with pluggy, a failing one contained and named. Records are collected later, by
``registry``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from ..errors import did_you_mean
from . import hookspecs, plugin_calls
from .entry_points import GROUP, entry_points, load_object, load_target

BUILTIN_DIST = "hwprof"
BUILTIN_MODULE_PREFIX = "hwprof.plugins."


@attrs.define(eq=False, repr=False)  # no eq/repr: each attrs method costs start-up time
class PluginInfo:
    name: str
    status: str  # loaded, failed, blocked
    builtin: bool = False
    error: str = ""
    hooks: list[str] = attrs.Factory(list)
    registered: dict[str, int] = attrs.Factory(dict)
    dist_name: str = ""
    unknown_hooks: list[str] = attrs.Factory(list)  # hooks it implements that hwprof has no spec for

    @property
    def version(self) -> str:
        # Read on demand: parsing distribution metadata costs start-up time on every command.
        if not self.dist_name:
            return ""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.dist_name)
        except PackageNotFoundError:
            return ""


@attrs.define(eq=False, repr=False)
class LoadedPlugins:
    manager: pluggy.PluginManager
    infos: list[PluginInfo]
    not_installed: list[str] = attrs.Factory(list)  # names HWPROF_LOAD_PLUGINS gives that nothing provides


def load_problems(loaded: LoadedPlugins) -> list[tuple[str, str]]:
    """(problem, what happens then) found while loading: names HWPROF_LOAD_PLUGINS gives that nothing
    provides, and hooks no spec names (``pm.check_pending()``: a misspelled hwprof_register_chip)."""
    installed = [info.name for info in loaded.infos]
    found = [
        (f"HWPROF_LOAD_PLUGINS names {name!r}, which is not installed{did_you_mean(name, installed)}", "it is ignored")
        for name in loaded.not_installed
    ]
    hooks = [name for name in dir(hookspecs) if name.startswith("hwprof_")]
    for info in loaded.infos:
        for hook in info.unknown_hooks:
            found.append((f"plugin {info.name!r} implements {hook}, which is not a hwprof hook"
                          f"{did_you_mean(hook, hooks)}", "it is never called"))  # fmt: skip
    return found


def skipped(info: PluginInfo) -> tuple[str, str]:
    """(problem, what happens then) for a plugin that failed."""
    return f"plugin {info.name!r} failed: {info.error}", "it is skipped (HWPROF_LOAD_PLUGINS lists the plugins to load)"


def load_modules(allow: frozenset[str] | None, extra: Iterable[tuple[str, object]] = ()) -> LoadedPlugins:
    """Import every plugin of the entry-point group (or those allowed) and register its hooks.

    Cheap by design: plugin modules must not do work at import, so ``hwprof --help`` stays fast
    while plugin commands are still found. Records are collected later, by ``build``.
    """
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    plugin_calls.trace(manager)
    found: list[tuple[str, Any, str]] = [(name, value, dist) for name, value, dist in entry_points()]
    # Built-ins first: they win id clashes.
    found.sort(key=lambda item: (not str(item[1]).startswith(BUILTIN_MODULE_PREFIX), item[0]))
    found += [(name, module, "") for name, module in extra]
    infos = []
    for name, target, dist_name in found:
        builtin = isinstance(target, str) and target.startswith(BUILTIN_MODULE_PREFIX)
        info = PluginInfo(name=name, status="loaded", builtin=builtin, dist_name=dist_name)
        infos.append(info)
        if allow is not None and name not in allow:
            info.status = "blocked"
            manager.set_blocked(name)
            continue

        def load(target: Any = target, name: str = name) -> None:
            plugin = load_object(target) if isinstance(target, str) else load_target(target)
            manager.register(plugin_calls.held(manager, plugin), name=name)

        # A plugin that fails to import (or exits, or hangs) must not take the CLI down.
        _, failure = plugin_calls.contained(name, "its import", load)
        if failure:
            info.status, info.error = "failed", failure
            if manager.get_plugin(name) is not None:
                manager.unregister(name=name)
    for plugin_name, hooks in plugin_calls.unknown_hooks(manager).items():
        for known in (i for i in infos if i.name == plugin_name):
            known.unknown_hooks = sorted(hooks)
    names = {info.name for info in infos}
    return LoadedPlugins(manager, infos, sorted(n for n in allow or () if n not in names))
