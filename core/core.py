"""The import path plugins used before core/ became the ``hwprof`` package itself: ``from hwprof.core
import hookimpl`` and ``hwprof.core.data.records`` keep working, so a plugin written against an older
hwprof installs unchanged. New code imports ``hwprof`` (``from hwprof import hookimpl``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

from .data.hookspecs import hookimpl
from .version import __version__

__all__ = ["__version__", "hookimpl"]

_OLD = __name__ + "."
# The old package was a package: give it a path so ``hwprof.core.x`` reaches the finder below.
__path__: list[str] = []


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``hwprof.core.X`` is the module ``hwprof.X`` (the same object, not a copy)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_OLD):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module("hwprof." + spec.name[len(_OLD) :])
        spec.loader_state = module.__spec__  # the import system overwrites __spec__: put it back below
        return module

    def exec_module(self, module: ModuleType) -> None:
        alias = module.__spec__
        if alias is not None and alias.loader_state is not None:
            module.__spec__ = alias.loader_state


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())  # ahead of the path finder, which would load a second copy
