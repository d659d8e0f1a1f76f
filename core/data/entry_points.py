"""Finding plugins: the ``hwprof`` entry points installed, and the objects they name.

The list is cached on disk under a fingerprint of what is installed, so the usual start skips
``importlib.metadata``.
"""

from __future__ import annotations

import os
from typing import Any

GROUP = "hwprof"


def entry_points() -> list[tuple[str, str, str]]:
    """(name, "module:attr", distribution) of every ``hwprof`` entry point installed.

    Cached on disk under a fingerprint of every distribution's entry_points.txt on sys.path, so
    the usual start, with nothing installed or removed since the last one, skips importing
    ``importlib.metadata`` (a tenth of start-up). Any install, upgrade or removal misses.
    """
    from .cache import cached

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


def load_target(target: Any) -> object:
    """A test's plugin: an object with ``load()`` like an entry point, or the plugin itself."""
    return target.load() if hasattr(target, "load") else target
