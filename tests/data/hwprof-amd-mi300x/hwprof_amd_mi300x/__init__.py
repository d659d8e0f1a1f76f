"""hwprof plugin hwprof-amd-mi300x: registers the records in hwprof_amd_mi300x.toml.

hwprof finds this module through the `hwprof` entry point in pyproject.toml and imports it on every
start: keep it light, and import heavy libraries inside the functions that need them.
To add logic (a cost model with rules, a command), add hook functions here; see hwprof's
docs/writing-plugins.md for every hook with an example.
"""

from hwprof.core.data.toml_plugin import TomlPlugin

plugin = TomlPlugin(__name__, "hwprof_amd_mi300x.toml")
