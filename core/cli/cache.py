"""``hwprof cache``: where hwprof keeps its cache, and clearing it.

hwprof caches what it reads at start-up (parsed profile files, the list of installed plugins) in
one folder: ``HWPROF_CACHE_DIR`` when set, else the user's cache folder (``hwprof cache path``
prints it; ``HWPROF_NO_CACHE=1`` turns the cache off). Entries are keyed by what they were read
from, so a stale one is never used; deleting them is always safe, and ``plugins uninstall``
does it so nothing of a removed plugin stays behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from ..data.hookspecs import hookimpl
from .render import echo, plural

cache_app = typer.Typer(help="Where hwprof's cache lives, and clearing it.", no_args_is_help=True)

# hwprof's own entries ({kind}-{digest}.json, and the older {kind}-{checksum}-{length}.pickle) and
# interrupted writes of them: only these are removed, whatever else a shared HWPROF_CACHE_DIR holds.
ENTRY = re.compile(r"^[a-z][a-z-]*-([0-9a-f]{40}|[0-9a-f]{8}-[0-9]+)(\.(json|pickle))?(\.[0-9]+\.tmp|\.tmp)?$")


def clear() -> tuple[Path | None, int]:
    """(the cache folder, how many entries were removed from it)."""
    from ..data.cache import folder

    place = folder()
    if place is None or not place.is_dir():
        return place, 0
    removed = 0
    for path in place.iterdir():
        if ENTRY.match(path.name) and path.is_file() and not path.is_symlink():
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:  # another hwprof removed it first
                pass
    return place, removed


@cache_app.command("path")
def cache_path() -> None:
    """Print the cache folder (HWPROF_CACHE_DIR, else the user's cache folder)."""
    from ..data.cache import folder

    place = folder()
    echo(str(place) if place is not None else "no cache: HWPROF_NO_CACHE is set")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete hwprof's cache entries (always safe: the next command reads the files again)."""
    place, removed = clear()
    if place is None:
        echo("no cache: HWPROF_NO_CACHE is set")
        return
    echo(f"removed {plural(removed, 'cache entry', 'cache entries')} from {place}")


@hookimpl
def hwprof_register_commands(cli: typer.Typer) -> None:
    cli.add_typer(cache_app, name="cache")
