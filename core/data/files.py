"""Reading and writing files the way every hwprof command does.

Reading: only regular files (a FIFO would block, ``/dev/zero`` never ends), at most a stated
number of bytes, UTF-8 with or without a byte-order mark. Writing: whole or not at all, never
over a file by accident; a new file gets the mode the umask gives, a replaced one keeps its
mode, and a symlink is followed on purpose (the file it points to is replaced, the link stays).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import HwprofError

BOM = "\ufeff"


def read_text(path: Path, limit: int, what: str = "file") -> str:
    """The text of the regular file ``path``, at most ``limit`` bytes, a leading BOM dropped.

    Raises ``HwprofError`` naming the path for anything else: a folder, a FIFO, a device, a file
    over the limit, bytes that are not UTF-8 (with the line they are on). The kind is checked
    before opening (a folder is never opened), again on the opened file (it may have been swapped
    in between), and what is opened is closed whatever happens.
    """
    try:
        _regular(path, os.stat(path).st_mode, what)
        # Non-blocking, so a FIFO swapped in after the check still returns at once.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise HwprofError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        _regular(path, os.fstat(fd).st_mode, what)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise HwprofError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise HwprofError(f"{path}: larger than a {what} can be ({limit:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HwprofError(f"{path}:{line}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    return text.removeprefix(BOM)


def _regular(path: Path, mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise HwprofError(f"{path}: not a regular file ({kind}); give a {what} saved on disk")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str, force: bool = False, backup: bool = False) -> Path | None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interrupted write leaves the old file (or no file) in place, never half a file. With
    ``backup``, a file being replaced is first copied to ``<name>.<date and time>.bak``, a new name
    each time (an earlier backup is never overwritten); that copy is returned.
    A symlink is written through: the file it points to is replaced and keeps its mode. A
    dangling symlink is refused rather than replaced by a file.
    """
    import shutil
    import tempfile

    if path.is_symlink():
        if not path.exists():
            raise HwprofError(f"{path}: a symlink to {os.readlink(path)}, which does not exist; remove the link")
        path = Path(os.path.realpath(path))  # follow it on purpose: the link itself stays
    if path.is_dir():
        raise HwprofError(f"{path}: is a folder; give a file name ending in .toml")
    if path.exists() and not force:
        raise HwprofError(f"{path}: already exists; pass --force to replace it, or choose another -o FILE")
    if path.exists() and not path.is_file():
        raise HwprofError(f"{path}: not a regular file; hwprof replaces only files it could have written")
    if not path.parent.is_dir():
        raise HwprofError(f"{path}: folder {path.parent} does not exist; create it first")
    # A replaced file keeps its mode; a new one gets what the umask gives (mkstemp makes 0600).
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise HwprofError(f"{path}: cannot write: {exc.strerror or exc}") from None
    kept = _backup_name(path) if backup and path.exists() else None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        if kept is not None:
            with open(kept, "xb") as copy, open(path, "rb") as original:  # "x": never over another backup
                shutil.copyfileobj(original, copy)
            shutil.copystat(path, kept)
        if force:
            os.replace(tmp, path)
        else:  # link fails if the name appeared since the check: two writers never replace each other's file
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise HwprofError(
                f"{path}: already exists; pass --force to replace it, or choose another -o FILE"
            ) from None
        if isinstance(exc, OSError):
            raise HwprofError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return kept


def _backup_name(path: Path) -> Path:
    """``<name>.<YYYY-MM-DDTHHMMSS>.bak``, with ``-2``, ``-3`` ... for a second one within a second."""
    import datetime as dt

    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    for n in range(1, 1000):
        kept = path.with_name(f"{path.name}.{stamp}{f'-{n}' if n > 1 else ''}.bak")
        if not os.path.lexists(kept):
            return kept
    raise HwprofError(f"{path}: a thousand backups this second; remove some")


def folder_mode() -> int:
    """The mode a new folder gets under the current umask (mkdtemp makes 0700)."""
    return 0o777 & ~_umask()
