"""hwprof core: the data model, hook specs, registry, estimators and CLI.

Knows no vendor: every chip, system and price arrives through a plugin.
Kept import-light because the CLI imports it on every start.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("hwprof")
"""Decorator for plugin hook implementations: ``@hookimpl def hwprof_register_chips(): ...``"""

__all__ = ["__version__", "hookimpl"]
