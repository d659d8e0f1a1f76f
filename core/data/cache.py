"""A small on-disk cache of parsed profiles, so start-up does not re-read unchanged TOML.

Entries are keyed by a hash of the file's text, its origin and the hwprof version, so an edited
file or a new release simply misses. It lives in the user's cache folder (``HWPROF_CACHE_DIR``
overrides it, ``HWPROF_NO_CACHE=1`` turns it off); deleting it is always safe. Entries are
pickles written by hwprof itself, atomically; one that fails to load is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

try:  # pickle.py only re-exports these from CPython's _pickle; importing it costs about 1 ms a start
    from _pickle import dump, load
except ImportError:  # another Python: the pure one
    from pickle import dump, load

T = TypeVar("T")
MAX_ENTRIES = 256
PROTOCOL = 5  # pickle.HIGHEST_PROTOCOL on Python 3.8 and later


SPECIAL = ("/proc", "/sys", "/dev")  # not places to keep files, whatever they look like
_warned: set[str] = set()


def folder() -> Path | None:
    if os.environ.get("HWPROF_NO_CACHE", "") not in ("", "0"):
        return None
    if custom := os.environ.get("HWPROF_CACHE_DIR"):
        if _usable(custom):
            return Path(custom)
        if custom not in _warned:  # once per process: the cache is asked for on every profile read
            _warned.add(custom)
            sys.stderr.write(f"warning: HWPROF_CACHE_DIR={custom}: not a folder hwprof can keep files in; "
                             "using the default cache folder (unset it, or point it at a folder)\n")  # fmt: skip
    from hwprof.data.places import user_cache_dir

    default = user_cache_dir()
    return Path(default) if _usable(default) else None


@functools.lru_cache(maxsize=16)
def _usable(place: str) -> bool:
    """A folder, or a path one can be made at; not a file, a device or a special filesystem.

    Asked once per path and process: every profile read asks, and resolving links costs syscalls."""
    real = os.path.realpath(place)
    if any(real == s or real.startswith(s + "/") for s in SPECIAL):
        return False
    return os.path.isdir(real) or not os.path.lexists(real)


def cached(kind: str, key: str, build: Callable[[], T]) -> T:
    """``build()``, or its result from an earlier run with the same ``kind`` and ``key``."""
    place = folder()
    if place is None:
        return build()
    from hwprof.version import __version__

    full_key = f"{__version__}\0{kind}\0{key}"
    # A cheap checksum names the file; the full key stored inside rules out collisions.
    path = place / f"{kind}-{zlib.crc32(full_key.encode()):08x}-{len(full_key)}.pickle"
    try:
        with path.open("rb") as stream:
            stored_key, value = load(stream)
        if stored_key == full_key:
            return value  # type: ignore[no-any-return]
    except Exception:  # missing, truncated or from an incompatible build: rebuild it
        pass
    value = build()
    _store(place, path, (full_key, value))
    return value


def _store(place: Path, path: Path, value: object) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        place.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as stream:
            dump(value, stream, protocol=PROTOCOL)
        os.replace(temporary, path)
        entries = sorted(place.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in entries[: max(0, len(entries) - MAX_ENTRIES)]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk only costs speed
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
