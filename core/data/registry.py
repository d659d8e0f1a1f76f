"""Loading plugins and profiles into one registry of chips, interconnects, systems, prices and
workloads.

Built-in plugins and third-party ones come through the same door: the ``hwprof`` entry-point
group. Loading happens once, on first use, never at import. A plugin that fails to import, raises
in a hook or returns garbage is dropped with one warning naming it; strict mode
(``--strict-plugins`` or ``HWPROF_STRICT_PLUGINS=1``) makes that an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from ..errors import HwprofError, ProfileError, did_you_mean
from . import kinds, plugin_calls, records, verify
from .plugin_loading import LoadedPlugins, PluginInfo, load_modules, load_problems, skipped

# Derived from hwprof.data.kinds, where the kinds of record are listed once.
# hook name -> (registry attribute, record type, word used in messages)
REGISTRATION_HOOKS: dict[str, tuple[str, type, str]] = {k.hook: (k.attribute, k.registers, k.word) for k in kinds.KINDS}
# kind in a profile file -> registry attribute
PROFILE_KINDS = {k.name: k.attribute for k in kinds.KINDS}


@attrs.frozen
class Settings:
    """What to load. ``from_env`` reads the documented environment variables."""

    allow: frozenset[str] | None = None  # None: every plugin; empty: none
    strict: bool = False
    profile_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, strict: bool = False, profile_dirs: Sequence[Path] = ()) -> Settings:
        raw = os.environ.get("HWPROF_LOAD_PLUGINS")
        allow = None if raw is None else frozenset(p.strip() for p in raw.split(",") if p.strip())
        strict = strict or os.environ.get("HWPROF_STRICT_PLUGINS", "") not in ("", "0", "false")
        dirs = [*_user_profile_dirs(), *profile_dirs]
        return cls(allow=allow, strict=strict, profile_dirs=tuple(dirs))


def _user_profile_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("HWPROF_PROFILE_PATH", "").split(os.pathsep) if p]
    if os.environ.get("HWPROF_NO_USER_PROFILES"):
        return dirs
    from .places import user_config_dir

    return [Path(user_config_dir()) / "profiles", *dirs]


@attrs.define(eq=False, repr=False)  # compared by identity; building eq/repr costs start-up time
class Registry:
    chips: dict[str, records.Chip] = attrs.Factory(dict)
    interconnects: dict[str, records.Interconnect] = attrs.Factory(dict)
    systems: dict[str, records.System] = attrs.Factory(dict)
    cost_models: dict[str, records.QuotesCost] = attrs.Factory(dict)
    workloads: dict[str, records.Workload] = attrs.Factory(dict)
    validation_cases: dict[str, records.ValidationCase] = attrs.Factory(dict)
    providers: dict[tuple[str, str], str] = attrs.Factory(dict)  # (attribute, id) -> provider
    # (attribute, id) -> the provider whose record an ``override = true`` one replaced
    overridden: dict[tuple[str, str], str] = attrs.Factory(dict)
    plugins: list[PluginInfo] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)
    manager: pluggy.PluginManager | None = None

    # A typed table per kind of record (hwprof.data.kinds), checked below.

    def get(self, attribute: str, key: str) -> Any:
        table: dict[str, Any] = getattr(self, attribute)
        if key in table:
            return table[key]
        kind = kinds.BY_ATTRIBUTE[attribute]
        hint = did_you_mean(key, list(table)) or (f"; known: {', '.join(sorted(table))}" if table else "")
        raise HwprofError(f"unknown {kind.word} {key!r}{hint} (see `hwprof {kind.listing}`)")

    def chip(self, key: str) -> records.Chip:
        return self.get("chips", key)  # type: ignore[no-any-return]

    def interconnect(self, key: str) -> records.Interconnect:
        return self.get("interconnects", key)  # type: ignore[no-any-return]

    def system(self, key: str) -> records.System:
        return self.get("systems", key)  # type: ignore[no-any-return]

    def cost_model(self, key: str) -> records.QuotesCost:
        return self.get("cost_models", key)  # type: ignore[no-any-return]

    def workload(self, key: str) -> records.Workload:
        return self.get("workloads", key)  # type: ignore[no-any-return]

    def provider(self, attribute: str, key: str) -> str:
        return self.providers.get((attribute, key), "")


assert {k.attribute for k in kinds.KINDS} <= set(attrs.fields_dict(Registry)), "Registry needs a table per kind"


class _Collector:
    """Builds a Registry, turning each plugin's or profile's failure into a warning."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry()

    def warn(self, problem: str, then: str) -> None:
        """A warning saying what happens ``then``; in strict mode, an error."""
        if self.settings.strict:
            raise HwprofError(f"{problem} (strict mode; without it, {then})")
        self.registry.warnings.append(f"{problem}; {then}")

    def add(self, provider: str, records: dict[str, list[Any]]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for attribute, items in records.items():
            table: dict[str, Any] = getattr(self.registry, attribute)
            for item in items:
                owner = self.registry.provider(attribute, item.id)
                if item.id in table and not getattr(item, "override", False):
                    self.warn(
                        f"{provider}: {attribute[:-1].replace('_', ' ')} id {item.id!r} is already registered by "
                        f"{owner}; rename it, or set override = true to replace it on purpose",
                        "this copy is ignored",
                    )
                    continue
                if item.id in table:
                    self.registry.overridden[(attribute, item.id)] = owner
                table[item.id] = item
                self.registry.providers[(attribute, item.id)] = provider
                counts[attribute] = counts.get(attribute, 0) + 1
        return counts

    def load_plugins(self, loaded: LoadedPlugins) -> None:
        self.registry.manager = loaded.manager
        for problem, then in load_problems(loaded):
            self.warn(problem, then)
        for info in loaded.infos:
            self.registry.plugins.append(info)
            if info.status == "loaded":
                found, failure = self._call_hooks(loaded.manager, info)
                if not failure:
                    info.registered = self.add(f"plugin {info.name!r}", found)
                    continue
                info.status, info.error = "failed", failure
                loaded.manager.unregister(name=info.name)
            if info.status == "failed":
                self.warn(*skipped(info))

    def _call_hooks(self, manager: pluggy.PluginManager, info: PluginInfo) -> tuple[dict[str, list[Any]], str]:
        """The records of each registration hook of one plugin, or why the plugin fails.

        Each hook is called through pluggy with only this plugin's implementation, the plugin's
        hooks together contained (plugin_calls). Records are checked as a profile file's are: bad
        ones are skipped with one warning naming the plugin.
        """
        plugin = manager.get_plugin(info.name)
        found: dict[str, list[Any]] = {}
        bad: list[str] = []
        todo: list[tuple[str, kinds.Kind]] = []
        for caller in manager.get_hookcallers(plugin) or []:
            info.hooks.append(caller.name)
            kind = kinds.BY_HOOK.get(caller.name)
            mine = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if kind is not None and not all(i.hookwrapper or i.wrapper for i in mine):  # a wrapper registers nothing
                todo.append((caller.name, kind))
        running = ["its hooks"]

        def call_each() -> list[Any]:
            answers = []
            for hook, _ in todo:
                running[0] = hook
                answers.append(plugin_calls.caller_for(manager, hook, plugin)())
            return answers

        # One watch over the plugin's hooks, naming the one running: a watch costs syscalls, and
        # any hook that fails (or runs past the limit) fails the whole plugin anyway.
        answered, failure = plugin_calls.contained(info.name, lambda: running[0], call_each)
        if failure or answered is None:
            return {}, failure
        for (hook, kind), answers in zip(todo, answered, strict=True):
            result = answers[0] if answers else None  # pluggy leaves out an implementation's None
            if not isinstance(result, list | tuple) or not all(isinstance(r, kind.registers) for r in result):
                return {}, f"{hook} must return a list of {kind.record.__name__} records, got {_short(result)}"
            for record in result:
                problems = verify.problems(record, kind)
                if problems:
                    bad.append(problems[0])
                else:
                    found.setdefault(kind.attribute, []).append(record)
        info.hooks.sort()
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            self.warn(
                f"plugin {info.name!r}: {bad[0]}{more}", f"{'these records are' if more else 'the record is'} skipped"
            )
        return found, ""

    def load_profile_dirs(self) -> None:
        from .schema import load_file

        seen: set[str] = set()
        for folder in self.settings.profile_dirs:
            if not folder.is_dir() or os.path.realpath(folder) in seen:  # the same folder twice loads once
                continue
            seen.add(os.path.realpath(folder))
            for path in sorted(folder.glob("*.toml")):
                try:
                    profile = load_file(path)
                except ProfileError as exc:
                    for problem in exc.problems:
                        self.warn(problem, "the file is skipped")
                    continue
                records = {PROFILE_KINDS[kind]: list(getattr(profile, kind)) for kind in PROFILE_KINDS}
                self.add(f"profile {path}", records)

    def check_references(self) -> None:
        reg = self.registry
        for system in list(reg.systems.values()):
            missing: list[tuple[str, str, dict[str, Any]]] = []
            if system.chip not in reg.chips:
                missing.append(("chip", system.chip, reg.chips))
            missing += [
                ("interconnect", t.interconnect, reg.interconnects)
                for t in system.tiers
                if t.interconnect not in reg.interconnects
            ]
            for word, key, table in missing:
                del reg.systems[system.id]
                self.warn(
                    f"system {system.id!r} ({system.origin or reg.provider('systems', system.id)}) "
                    f"refers to {word} {key!r}, which nothing registers{did_you_mean(key, list(table))}",
                    "the system is skipped",
                )
                break


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def build(settings: Settings, extra_plugins: Iterable[tuple[str, object]] = ()) -> Registry:
    """Load every plugin and profile folder named by ``settings`` into a new Registry.

    ``extra_plugins`` registers (name, module) pairs directly: how tests add a plugin.
    """
    collector = _Collector(settings)
    extra = list(extra_plugins)
    collector.load_plugins(load_modules(settings.allow, extra) if extra else modules(settings))
    collector.load_profile_dirs()
    collector.check_references()
    return collector.registry


_cached: dict[Settings | None, Registry] = {}
_modules: dict[frozenset[str] | None, LoadedPlugins] = {}


def modules(settings: Settings) -> LoadedPlugins:
    """Plugin modules for these settings, imported once per process."""
    if settings.allow not in _modules:
        _modules[settings.allow] = load_modules(settings.allow)
    return _modules[settings.allow]


def get(settings: Settings | None = None) -> Registry:
    """The registry for these settings (default: from the environment), built once."""
    key = settings
    if key not in _cached:
        _cached[key] = build(settings or Settings.from_env())
    return _cached[key]


def reset() -> None:
    _cached.clear()
    _modules.clear()
