"""Built-in plugin. AWS Trainium3: the chip, NeuronLink-v4 with NeuronSwitch, and the Trn3 UltraServers.

The figures live in profiles/trainium3.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "trainium3.toml")
