"""A profile file as text: read safely from disk, parsed as TOML within limits, and a key path's
line found again for messages. What the values mean is ``schema``'s business.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import HwprofError, ProfileError

MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 12


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def locate(text: str, path: str) -> int | None:
    """Best-effort line number (1-based) of a key path like ``chip[0].peak_dense_tflops.fp8``."""
    lines = text.splitlines()
    cursor, found = 0, None
    prefix = ""
    for name, index in re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", path):
        prefix = f"{prefix}.{name}" if prefix else name
        if index:
            header = re.compile(rf"^\s*\[\[\s*{re.escape(prefix)}\s*\]\]")
            hits = [i for i, line in enumerate(lines) if header.match(line)]
            if len(hits) > int(index):
                cursor = found = hits[int(index)]
                continue
        key = re.compile(rf"(^|[\s{{,.\[]){re.escape(name)}\s*[=.\]]")
        for i in range(cursor, len(lines)):
            if key.search(lines[i]):
                cursor = found = i
                break
    return None if found is None else found + 1


def parse_text(text: str, origin: str) -> dict[str, Any]:
    import tomllib  # only on a cache miss: start-up reads parsed profiles from the cache

    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))  # a byte-order mark is allowed
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{origin}:{match.group(1)}" if match else origin
        message = re.sub(r"\s*\(at line.*\)", "", str(exc))
        raise ProfileError([f"{where}: malformed TOML: {message}; fix the syntax at that line"]) from None
    except RecursionError:
        raise ProfileError([f"{origin}: tables or arrays nested too deeply"]) from None
    if _depth(data) > MAX_DEPTH:
        raise ProfileError([f"{origin}: tables or arrays nested deeper than {MAX_DEPTH} levels"])
    return data


def read_bytes(path: Path) -> str:
    """A profile file's text: a regular file, at most MAX_FILE_BYTES, UTF-8 (a BOM is dropped)."""
    from .files import read_text

    try:
        return read_text(path, MAX_FILE_BYTES, "profile")
    except HwprofError as exc:
        raise ProfileError([str(exc)]) from None
