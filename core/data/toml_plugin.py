"""A plugin made of one TOML file: what most hardware plugins need, in one line.

    plugin = TomlPlugin("my_chip", "my_chip.toml")   # entry point: my_chip:plugin

Its hooks register whatever the file declares. The file is read on first use, not at import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .hookspecs import hookimpl
from .kinds import KINDS, Kind
from .schema import ProfileSet, load_resource


class TomlPlugin:
    def __init__(self, package: str, filename: str) -> None:
        self.package, self.filename = package, filename

    def __repr__(self) -> str:
        return f"TomlPlugin({self.package!r}, {self.filename!r})"

    def __dir__(self) -> list[str]:
        """What pluggy looks through for hooks: its own names and a subclass's, not ``object``'s
        (pluggy inspects every name listed, on every start)."""
        names = {name for cls in type(self).__mro__ if cls is not object for name in vars(cls)}
        return sorted(n for n in names | set(vars(self)) if not n.startswith("__"))

    @property
    def profile(self) -> ProfileSet:
        return load_resource(self.package, self.filename)


def _registration(kind: Kind) -> Callable[[TomlPlugin], Sequence[Any]]:
    def register(self: TomlPlugin) -> Sequence[Any]:
        return getattr(self.profile, kind.name)  # type: ignore[no-any-return]

    register.__name__ = register.__qualname__ = kind.hook
    return hookimpl(register)


# One hook per kind of record (hwprof.data.kinds), each returning what the file declares.
for _kind in KINDS:
    setattr(TomlPlugin, _kind.hook, _registration(_kind))
