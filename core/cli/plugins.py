"""``hwprof plugins``: what is installed and what it registered; install, remove, export, scaffold.

``install`` and ``uninstall`` are thin wrappers over pip in the interpreter hwprof runs in, so a
plugin lands where hwprof looks for it. ``freeze`` prints the plugins as requirements, so they can
be put back after an upgrade or in a new environment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..data.hookspecs import hookimpl
from ..errors import HwprofError, did_you_mean
from .common import FormatOpt, JsonFlag, complete_chips
from .render import Table, echo, emit, output_format, plural, warn

if TYPE_CHECKING:
    from importlib.metadata import Distribution

plugins_app = typer.Typer(
    help="Installed plugins and what they register; install, remove, scaffold.", no_args_is_help=True
)
HOOK_PREFIX = "hwprof_register_"


@plugins_app.command("list")
def plugins_list(
    all_plugins: Annotated[bool, typer.Option("--all", help="Include the built-in plugins.")] = False,
    as_json: JsonFlag = False,
    fmt: FormatOpt = None,
) -> None:
    """Plugins: name, version, status, hooks, and what each registered."""
    from ..service.session import current_registry as reg

    r = reg()
    infos = [p for p in r.plugins if all_plugins or not p.builtin]
    data = [{"name": p.name, "version": p.version, "builtin": p.builtin, "status": p.status,
             "error": p.error, "hooks": p.hooks, "registered": p.registered} for p in infos]  # fmt: skip
    fmt = output_format(fmt, as_json)
    if not infos and fmt == "table":
        echo("no third-party plugins installed (--all shows the built-in ones)")
        return
    rows = [[p.name, p.version or "-", p.status + (f": {p.error}" if p.error else ""),
             ", ".join(_used_hooks(p)) or "-",
             ", ".join(plural(n, k.removesuffix("s").replace("_", " ")) for k, n in p.registered.items()) or "-",
             "yes" if p.builtin else ""] for p in infos]  # fmt: skip
    emit(fmt, data, lambda: [Table(["name", "version", "status", "hooks", "registered", "built-in"], rows)])


def _used_hooks(info: Any) -> list[str]:
    """Hooks that did something: a registration hook that returned nothing is left out of the table."""
    from ..data.registry import REGISTRATION_HOOKS

    return [h.removeprefix(HOOK_PREFIX) for h in info.hooks
            if h not in REGISTRATION_HOOKS or REGISTRATION_HOOKS[h][0] in info.registered]  # fmt: skip


def _pip(*args: str, quiet: bool = False) -> str:
    """Run pip in this interpreter with an argument list (never a shell). ``quiet``: its output is
    captured and returned, and shown (its last lines) only when pip fails."""
    import subprocess

    command = [sys.executable, "-m", "pip", *args]
    if not quiet:
        returncode = subprocess.run(command, check=False).returncode
        if returncode:
            raise HwprofError(f"pip {args[0]} failed (exit {returncode}); pip's message above says why")
        return ""
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode:
        lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()][-8:]
        sys.stderr.write("".join(f"  pip: {line}\n" for line in lines))
        said = "its last lines are above" if lines else "it printed nothing"
        raise HwprofError(f"pip {args[0]} failed (exit {done.returncode}); {said}")
    return done.stdout or ""


def _installed_summary(pip_output: str) -> str:
    """'hwprof-gcp 0.1.0: plugin 'hwprof-gcp' registers 3 interconnects, 3 systems, 1 cost model', from a
    fresh registry, for each distribution pip says it installed that provides a plugin."""
    import importlib

    from ..data import registry

    done = next((line for line in pip_output.splitlines() if line.startswith("Successfully installed ")), "")
    names = {_normal(word.rsplit("-", 1)[0]) for word in done.removeprefix("Successfully installed ").split()}
    importlib.invalidate_caches()
    registry.reset()
    found = registry.build(registry.Settings.from_env())
    parts = []
    for info in found.plugins:
        if _normal(info.dist_name) in names:
            counts = ", ".join(plural(n, a[:-1].replace("_", " ")) for a, n in info.registered.items()) or "nothing"
            state = f"registers {counts}" if info.status == "loaded" else f"{info.status}: {info.error}"
            parts.append(f"{info.dist_name} {info.version}: plugin {info.name!r} {state}")
    return "; ".join(parts)


def _not_an_option(value: str, what: str) -> None:
    # pip would read a leading '-' as one of its own options.
    if value.startswith("-"):
        raise HwprofError(f"{what} {value!r}: cannot start with '-'; for a file in this folder write ./{value}")


@plugins_app.command("install")
def plugins_install(
    target: Annotated[str, typer.Argument(metavar="NAME|PATH", help="A package name (or requirement) or a folder.")],
    editable: Annotated[
        bool, typer.Option("-e", "--editable", help="Install a plugin folder in editable mode.")
    ] = False,
    upgrade: Annotated[bool, typer.Option("-U", "--upgrade", help="Upgrade it if already installed.")] = False,
) -> None:
    """Install a plugin with pip into the environment hwprof runs in."""
    _not_an_option(target, "plugin")
    path = Path(target)
    is_path = path.exists()
    if not is_path and target.startswith((".", "/", "~")):
        raise HwprofError(f"{target}: no such file or folder")
    if editable and not path.is_dir():
        raise HwprofError(f"-e {target}: editable installs need a plugin folder (one holding pyproject.toml)")
    options = [*(["--upgrade"] if upgrade else []), *(["--editable"] if editable else [])]
    if path.is_dir() and not editable:
        from .scaffold import unshipped_profiles

        for problem in unshipped_profiles(path):
            warn(problem)
    output = _pip("install", *options, str(path.resolve()) if is_path else target, quiet=True)
    # An editable install is importable only in a new process (its .pth file is read at start-up).
    summary = "" if editable else _installed_summary(output)
    echo(f"installed {summary}" if summary else f"installed {target}; `hwprof plugins list` shows what it registered")


def _plugin_dists() -> dict[str, Distribution]:
    """Third-party distributions that provide hwprof plugins, by normalised name."""
    from importlib.metadata import entry_points

    from ..data.entry_points import GROUP
    from ..data.plugin_loading import BUILTIN_DIST

    found: dict[str, Distribution] = {}
    for ep in entry_points(group=GROUP):
        if ep.dist is not None and ep.dist.name != BUILTIN_DIST:
            found.setdefault(_normal(ep.dist.name), ep.dist)
            found.setdefault(_normal(ep.name), ep.dist)  # the name `plugins list` shows works too
    return found


def _normal(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


@plugins_app.command("uninstall")
def plugins_uninstall(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The plugin's distribution or plugin name.")],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall a plugin with pip. Only distributions that provide hwprof plugins."""
    _not_an_option(name, "plugin")
    dists = _plugin_dists()
    dist = dists.get(_normal(name))
    if dist is None:
        if _normal(name) == "hwprof":
            raise HwprofError("hwprof is not a plugin; to remove hwprof itself use pip uninstall hwprof")
        known = sorted({d.name for d in dists.values()})
        listing = f"; installed plugins: {', '.join(known)}" if known else "; no third-party plugins are installed"
        raise HwprofError(f"{name!r} is not an installed hwprof plugin{did_you_mean(name, known)}{listing}")
    dist_name = dist.name  # read now: importlib reads metadata lazily, and pip is about to delete it
    _pip("uninstall", *(["--yes"] if yes else []), dist_name)
    from .cache import clear

    _, removed = clear()  # what was read from the plugin must not outlive it
    echo(
        f"uninstalled {dist_name}" + (f"; cleared {plural(removed, 'cache entry', 'cache entries')}" if removed else "")
    )


@plugins_app.command("freeze")
def plugins_freeze() -> None:
    """Print installed third-party plugins as requirements: `hwprof plugins freeze > plugins.txt`,
    then `pip install -r plugins.txt` after an upgrade or in a new environment."""
    lines = {_requirement(dist) for dist in _plugin_dists().values()}
    for line in sorted(lines, key=str.lower):
        echo(line)


def _requirement(dist: Distribution) -> str:
    """``name==version``, or where it was installed from when that was a folder or URL (PEP 610)."""
    import json

    direct = dist.read_text("direct_url.json")
    if direct:
        try:
            info = json.loads(direct)
            url, editable = str(info["url"]), bool(info.get("dir_info", {}).get("editable"))
        except (ValueError, KeyError, TypeError, AttributeError):
            warn(f"{dist.name}: its direct_url.json does not read (PEP 610); written as {dist.name}=={dist.version}")
            return f"{dist.name}=={dist.version}"
        if editable:
            import shlex
            from urllib.parse import unquote, urlparse

            # pip reads a requirements line's options as a shell would: a path with spaces is quoted
            return f"-e {shlex.quote(unquote(urlparse(url).path)) if url.startswith('file:') else url}"
        return f"{dist.name} @ {url}"
    return f"{dist.name}=={dist.version}"


@plugins_app.command("new")
def plugins_new(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Distribution name, e.g. hwprof-acme-x1.")],
    chip: Annotated[
        str | None,
        typer.Option(
            "--chip",
            metavar="ID",
            autocompletion=complete_chips,
            help="Pre-fill the profile from this chip, a system built on it and its interconnects.",
        ),  # fmt: skip
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", metavar="DIR", help="Create the folder in DIR.")] = Path(),
) -> None:
    """Scaffold a plugin package in a new folder NAME: pyproject.toml, module, profile, README, test."""
    from .scaffold import names_for, plugin_files, write_package

    names = names_for(name)
    template, systems, links = None, [], []
    if chip is not None:
        from ..service.session import current_registry as reg

        r = reg()
        template = r.chip(chip)
        # One system on this chip (the smallest) and the links it uses: a plugin's usual contents.
        systems = sorted((s for s in r.systems.values() if s.chip == chip), key=lambda s: (s.chips, s.id))[:1]
        wanted = [t.interconnect for s in systems for t in s.tiers] + [template.scale_up]
        links = [r.interconnects[i] for i in dict.fromkeys(wanted) if i in r.interconnects]
    target = write_package(output, names, plugin_files(names, template, systems, links))
    pkg = names.package
    echo(
        f"created {target}\n"
        f"  edit      {target / pkg / (pkg + '.toml')}\n"
        f"  check     hwprof profiles check {target / pkg / (pkg + '.toml')}\n"
        f"  install   hwprof plugins install -e {target}\n"
        f"  test      cd {target} && python -m unittest discover -s tests"
    )


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(plugins_app, name="plugins")
