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

from hwprof.errors import HwprofError

BOM = "\ufeff"


def read_text(path: Path, limit: int, what: str = "file") -> str:
    """The text of the regular file ``path``, at most ``limit`` bytes, a leading BOM dropped.

    Raises ``HwprofError`` naming the path for anything else: a folder, a FIFO, a device, a file
    over the limit, bytes that are not UTF-8 (with the line they are on).
    """
    try:
        # Non-blocking, so opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise HwprofError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            raise HwprofError(f"{path}: not a regular file ({kind}); give a {what} saved on disk")
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise HwprofError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise HwprofError(f"{path}: larger than a {what} can be ({limit:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HwprofError(f"{path}:{line}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    return text.removeprefix(BOM)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str, force: bool = False, backup: bool = False) -> Path | None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interrupted write leaves the old file (or no file) in place, never half a file. With
    ``backup``, a file being replaced is first copied to ``<name>.bak``; that copy is returned.
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
    kept = path.with_name(path.name + ".bak") if backup and path.exists() else None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        if kept is not None:
            shutil.copy2(path, kept)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise HwprofError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return kept


def folder_mode() -> int:
    """The mode a new folder gets under the current umask (mkdtemp makes 0700)."""
    return 0o777 & ~_umask()
