"""Writing files the way every hwprof command does: whole or not at all, never over a file by accident."""

from __future__ import annotations

import os
from pathlib import Path

from hwprof.core.errors import HwprofError


def write_atomic(path: Path, text: str, force: bool = False, backup: bool = False) -> Path | None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interrupted write leaves the old file (or no file) in place, never half a file. With
    ``backup``, a file being replaced is first copied to ``<name>.bak``; that copy is returned.
    """
    import shutil
    import tempfile

    if path.is_dir():
        raise HwprofError(f"{path}: is a folder; give a file name ending in .toml")
    if path.exists() and not force:
        raise HwprofError(f"{path}: already exists; pass --force to replace it, or choose another -o FILE")
    if not path.parent.is_dir():
        raise HwprofError(f"{path}: folder {path.parent} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise HwprofError(f"{path}: cannot write: {exc.strerror or exc}") from None
    kept = path.with_name(path.name + ".bak") if backup and path.exists() else None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
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
