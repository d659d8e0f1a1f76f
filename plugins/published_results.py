"""Built-in plugin. Published training and serving results that `hwprof validate` checks the
estimators against, each with its source; some set the efficiency defaults (role = calibration).

The cases live in profiles/published_results.toml.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "published_results.toml")
