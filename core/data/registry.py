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

from hwprof.core.data import hookspecs, records
from hwprof.core.errors import HwprofError, ProfileError, did_you_mean

GROUP = "hwprof"
BUILTIN_DIST = "hwprof"
BUILTIN_MODULE_PREFIX = "hwprof.plugins."

# hook name -> (registry attribute, record type, word used in messages)
REGISTRATION_HOOKS: dict[str, tuple[str, type, str]] = {
    "hwprof_register_chips": ("chips", records.Chip, "chip"),
    "hwprof_register_interconnects": ("interconnects", records.Interconnect, "interconnect"),
    "hwprof_register_systems": ("systems", records.System, "system"),
    "hwprof_register_cost_models": ("cost_models", records.QuotesCost, "cost model"),
    "hwprof_register_workloads": ("workloads", records.Workload, "workload"),
    "hwprof_register_validation_cases": ("validation_cases", records.ValidationCase, "validation case"),
}
# kind in a profile file -> registry attribute
PROFILE_KINDS = {"chip": "chips", "interconnect": "interconnects", "system": "systems",
                 "cost_model": "cost_models", "workload": "workloads",
                 "validation_case": "validation_cases"}  # fmt: skip


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
    import platformdirs

    return [Path(platformdirs.user_config_dir("hwprof")) / "profiles", *dirs]


@attrs.define
class PluginInfo:
    name: str
    status: str  # loaded, failed, blocked
    builtin: bool = False
    error: str = ""
    hooks: list[str] = attrs.Factory(list)
    registered: dict[str, int] = attrs.Factory(dict)
    dist_name: str = ""

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


@attrs.define
class Registry:
    chips: dict[str, records.Chip] = attrs.Factory(dict)
    interconnects: dict[str, records.Interconnect] = attrs.Factory(dict)
    systems: dict[str, records.System] = attrs.Factory(dict)
    cost_models: dict[str, records.QuotesCost] = attrs.Factory(dict)
    workloads: dict[str, records.Workload] = attrs.Factory(dict)
    validation_cases: dict[str, records.ValidationCase] = attrs.Factory(dict)
    providers: dict[tuple[str, str], str] = attrs.Factory(dict)  # (attribute, id) -> provider
    plugins: list[PluginInfo] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)
    manager: pluggy.PluginManager | None = None

    def get(self, attribute: str, key: str) -> Any:
        table: dict[str, Any] = getattr(self, attribute)
        if key in table:
            return table[key]
        word = next(w for a, _, w in REGISTRATION_HOOKS.values() if a == attribute)
        hint = did_you_mean(key, list(table)) or (f"; known: {', '.join(sorted(table))}" if table else "")
        listing = attribute.replace("_", "-")
        raise HwprofError(f"unknown {word} {key!r}{hint} (see `hwprof {listing} list`)")

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


class _Collector:
    """Builds a Registry, turning each plugin's or profile's failure into a warning."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry()

    def warn(self, problem: str, then: str) -> None:
        """A warning saying what happens ``then``; in strict mode, an error."""
        if self.settings.strict:
            raise HwprofError(f"{problem} (strict mode: without --strict-plugins, {then})")
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
                table[item.id] = item
                self.registry.providers[(attribute, item.id)] = provider
                counts[attribute] = counts.get(attribute, 0) + 1
        return counts

    def load_plugins(self, loaded: LoadedPlugins) -> None:
        self.registry.manager = loaded.manager
        for info in loaded.infos:
            self.registry.plugins.append(info)
            if info.status == "loaded":
                try:
                    records = self._call_hooks(loaded.manager, info.name, info)
                except Exception as exc:  # a plugin's bug must not take the CLI down
                    info.status, info.error = "failed", _exception_line(exc)
                    loaded.manager.unregister(name=info.name)
                else:
                    info.registered = self.add(f"plugin {info.name!r}", records)
                    continue
            if info.status == "failed":
                self.warn(
                    f"plugin {info.name!r} failed: {info.error}",
                    "it is skipped (HWPROF_LOAD_PLUGINS lists the plugins to load)",
                )

    def _call_hooks(self, manager: pluggy.PluginManager, name: str, info: PluginInfo) -> dict[str, list[Any]]:
        plugin = manager.get_plugin(name)
        records: dict[str, list[Any]] = {}
        for caller in manager.get_hookcallers(plugin) or []:
            info.hooks.append(caller.name)
            if caller.name not in REGISTRATION_HOOKS:
                continue
            attribute, record_type, word = REGISTRATION_HOOKS[caller.name]
            impl = next(i for i in caller.get_hookimpls() if i.plugin is plugin)
            try:
                result = impl.function()
            except ProfileError as exc:
                raise RuntimeError("its profile is invalid: " + "; ".join(exc.problems)) from None
            if not isinstance(result, list | tuple) or not all(isinstance(r, record_type) for r in result):
                raise TypeError(
                    f"{caller.name} must return a list of {record_type.__name__} records, got {_short(result)}"
                )
            records[attribute] = list(result)
        info.hooks.sort()
        return records

    def load_profile_dirs(self) -> None:
        from hwprof.core.data.schema import load_file

        for folder in self.settings.profile_dirs:
            if not folder.is_dir():
                continue
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


@attrs.define
class LoadedPlugins:
    manager: pluggy.PluginManager
    infos: list[PluginInfo]


def load_modules(allow: frozenset[str] | None, extra: Iterable[tuple[str, object]] = ()) -> LoadedPlugins:
    """Import every plugin of the entry-point group (or those allowed) and register its hooks.

    Cheap by design: plugin modules must not do work at import, so ``hwprof --help`` stays fast
    while plugin commands are still found. Records are collected later, by ``build``.
    """
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
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
        try:
            manager.register(load_object(target) if isinstance(target, str) else _load(target), name=name)
        except Exception as exc:  # a plugin that fails to import must not take the CLI down
            info.status, info.error = "failed", _exception_line(exc)
            if manager.get_plugin(name) is not None:
                manager.unregister(name=name)
    return LoadedPlugins(manager, infos)


def entry_points() -> list[tuple[str, str, str]]:
    """(name, "module:attr", distribution) of every ``hwprof`` entry point installed.

    Cached on disk under a fingerprint of every distribution's entry_points.txt on sys.path, so
    the usual start, with nothing installed or removed since the last one, skips importing
    ``importlib.metadata`` (a tenth of start-up). Any install, upgrade or removal misses.
    """
    from hwprof.core.data.cache import cached

    return cached("entry-points", _installed_fingerprint(), _read_entry_points)


def _read_entry_points() -> list[tuple[str, str, str]]:
    from importlib.metadata import entry_points as installed

    return [(ep.name, ep.value, ep.dist.name if ep.dist else "") for ep in installed(group=GROUP)]


def _installed_fingerprint() -> str:
    import sys

    parts = []
    for entry in sys.path:
        try:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}")
            if not entry:  # the working folder: its mtime is enough, and it may be huge
                continue
            with os.scandir(entry) as listing:
                for item in listing:
                    if item.name.endswith((".dist-info", ".egg-info")):
                        declared = os.path.join(item.path, "entry_points.txt")
                        stamp = os.stat(declared).st_mtime_ns if os.path.exists(declared) else 0
                        parts.append(f"{item.name}\0{stamp}")
        except OSError:  # a missing folder or a zip file: its own mtime above is the fingerprint
            continue
    return "\n".join(sorted(parts))


def load_object(reference: str) -> object:
    """What an entry point's "module:attr.attr" names (the same rule importlib.metadata follows)."""
    import importlib

    module, _, attributes = reference.split("[")[0].strip().partition(":")
    target: object = importlib.import_module(module.strip())
    for name in filter(None, attributes.strip().split(".")):
        target = getattr(target, name)
    return target


def _load(target: Any) -> object:
    """A test's plugin: an object with ``load()`` like an entry point, or the plugin itself."""
    return target.load() if hasattr(target, "load") else target


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


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
