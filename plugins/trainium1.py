"""Built-in plugin. AWS Trainium (Trainium1): the chip and trn1.32xlarge, the Trainium with
published training throughput.

The figures live in profiles/trainium1.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "trainium1.toml")
