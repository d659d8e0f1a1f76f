"""Built-in plugin. AWS Trainium2: the chip, NeuronLink-v3, trn2.48xlarge, trn2u.48xlarge and the Trn2 UltraServer.

The figures live in profiles/trainium2.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "trainium2.toml")
