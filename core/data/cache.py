"""A small on-disk cache of parsed profiles, so start-up does not re-read unchanged TOML.

Entries are keyed by a digest of the file's text, its origin, the hwprof version and the reader's
own code (this package's modules), so an edited file, a new release or a changed validation rule
simply misses. It lives in the user's cache folder (``HWPROF_CACHE_DIR`` overrides it,
``HWPROF_NO_CACHE=1`` turns it off); deleting it is always safe.

An entry is JSON of plain data: records are written as the name of a record class and its fields,
and read back only into the record classes of ``hwprof.data`` (``_CLASSES``), so a file planted in
the folder can at worst hold wrong figures, never run code. Even that needs the user's own account:
the folder and each entry must belong to the user and be writable by no one else, or the cache is
not used. Entries are written atomically; one that fails to load is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 256
MAX_ENTRY_BYTES = 64 << 20
SUFFIX = ".json"
FORMAT = 2  # of an entry; 1 was pickle (those files are removed on the next write)
SPECIAL = ("/proc", "/sys", "/dev")  # not places to keep files, whatever they look like
_warned: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _warned:  # once per process: the cache is asked for on every profile read
        _warned.add(text)
        sys.stderr.write(f"warning: {text}\n")


def folder() -> Path | None:
    if os.environ.get("HWPROF_NO_CACHE", "") not in ("", "0"):
        return None
    if custom := os.environ.get("HWPROF_CACHE_DIR"):
        problem = _unusable(custom)
        if not problem:
            return Path(custom)
        _warn_once(f"HWPROF_CACHE_DIR={custom}: {problem}; using the default cache folder "
                   "(unset it, or point it at a folder of your own)")  # fmt: skip
    from .places import user_cache_dir

    default = user_cache_dir()
    problem = _unusable(default)
    if problem and problem != SPECIAL_PROBLEM:
        _warn_once(f"cache folder {default}: {problem}; profiles are read without a cache")
    return None if problem else Path(default)


SPECIAL_PROBLEM = "not a folder hwprof can keep files in"


@functools.lru_cache(maxsize=16)
def _unusable(place: str) -> str:
    """Why ``place`` cannot hold the cache, or "": it must be a folder (or a path one can be made
    at) on an ordinary filesystem, the user's own and writable by no one else.

    Asked once per path and process: every profile read asks, and resolving links costs syscalls."""
    real = os.path.realpath(place)
    if any(real == s or real.startswith(s + "/") for s in SPECIAL):
        return SPECIAL_PROBLEM
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return ""  # made (0700) on the first write
    except OSError:
        return SPECIAL_PROBLEM
    if not stat.S_ISDIR(info.st_mode):
        return SPECIAL_PROBLEM
    return _untrusted(info)


def _untrusted(info: os.stat_result) -> str:
    """Why a file or folder with this status is not the user's alone, or ""."""
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"owned by user id {info.st_uid}, not you"
    if info.st_mode & 0o022:
        return f"writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return ""


@functools.cache
def code_digest() -> str:
    """A digest of the reader's code (this package's modules): a rule changed without a new version
    must not be hidden by an entry parsed under the old one."""
    here = Path(__file__).parent
    digest = _hasher()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with contextlib.suppress(OSError):
                digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    return str(digest.hexdigest())


def _hasher() -> Any:
    try:  # hashlib costs 4 ms of start-up for its OpenSSL half; blake2 alone is 0.4 ms
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    return blake2b(digest_size=20)


def cached(kind: str, key: str, build: Callable[[], T]) -> T:
    """``build()``, or its result from an earlier run with the same ``kind`` and ``key``."""
    place = folder()
    if place is None:
        return build()
    from ..version import __version__

    digest = _hasher()
    digest.update(f"{FORMAT}\0{__version__}\0{code_digest()}\0{kind}\0{key}".encode("utf-8", "surrogatepass"))
    name = digest.hexdigest()
    path = place / f"{kind}-{name}{SUFFIX}"
    try:
        stored = _load(path)
        if isinstance(stored, dict) and stored.get("key") == name:
            return _decode(stored["value"])  # type: ignore[no-any-return]
    except Exception:  # missing, truncated, planted or from an incompatible build: rebuild it
        pass
    value = build()
    with contextlib.suppress(TypeError, ValueError, RecursionError):  # a value of a type the cache does not keep
        _store(place, path, {"key": name, "value": _encode(value)})
    return value


def _load(path: Path) -> Any:
    import json

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or _untrusted(info) or info.st_size > MAX_ENTRY_BYTES:
            return None
        return json.loads(stream.read())


def _store(place: Path, path: Path, value: object) -> None:
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        place.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _unusable(str(place)):  # made by someone else between the check and now
            return
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with open(fd, "w", encoding="utf-8", errors="surrogatepass") as stream:
            stream.write(text)
        os.replace(temporary, path)
        old = list(place.glob("*.pickle"))  # entries of the earlier, pickle format: never read again
        entries = sorted(place.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
        for stale in old + entries[: max(0, len(entries) - MAX_ENTRIES)]:
            stale.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk only costs speed
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- plain data
# JSON arrays are tagged by their first item: ["t", ...] a tuple, ["l", ...] a list, ["d", iso] a
# date, ["r", name, {field: value}] a record of one of _CLASSES; objects are dicts with string keys.


@functools.cache
def _classes() -> dict[str, type]:
    """The record classes an entry may hold: the attrs classes of the records and schema modules.

    Taken from the loaded modules, not imported: schema imports this module, and an entry is only
    read on schema's behalf (the entry-points list holds no records)."""
    import attrs

    found = {}
    for module in (sys.modules[n] for n in ("hwprof.data.records", "hwprof.data.schema") if n in sys.modules):
        for name, value in vars(module).items():
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__:
                found[name] = value
    return found


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, tuple | list):
        return ["t" if isinstance(value, tuple) else "l", *(_encode(v) for v in value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict with keys that are not strings")
        return {k: _encode(v) for k, v in value.items()}
    if type(value) is dt.date:
        return ["d", value.isoformat()]
    name = type(value).__name__
    if _classes().get(name) is type(value):
        import attrs

        return ["r", name, {a.name: _encode(getattr(value, a.name)) for a in attrs.fields(type(value))}]  # type: ignore[arg-type]
    raise TypeError(f"the cache does not keep {name}")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _decode(value: Any) -> Any:
    """``_encode``'s inverse. Records are rebuilt as pickle does, without running ``__init__``: they
    were checked when first read, and a record of wrong or missing fields is refused here."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _decode(v) for k, v in value.items()}
    if kind is not list:
        return value
    tag = value[0]
    if tag == "t" or tag == "l":
        items = [v if type(v) in _SCALARS else _decode(v) for v in value[1:]]
        return tuple(items) if tag == "t" else items
    if tag == "d":
        return dt.date.fromisoformat(value[1])
    if tag == "r":
        cls, fields = _classes()[value[1]], value[2]
        if type(fields) is not dict or fields.keys() != _field_names(cls):
            raise ValueError(f"{value[1]}: not its fields")
        record: Any = object.__new__(cls)
        for k, v in fields.items():
            _set(record, k, v if type(v) in _SCALARS else _decode(v))
        return record
    raise ValueError(f"unknown tag {tag!r}")


_set = object.__setattr__  # attrs' frozen classes refuse setattr; pickle sets slots the same way


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    import attrs

    return frozenset(a.name for a in attrs.fields(cls))
