"""Built-in plugin. AWS prices: on-demand, Capacity Block and spot prices per instance type and region, each dated.

The figures live in profiles/aws_pricing.toml, each with its source and status.
"""

from hwprof.core.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "aws_pricing.toml")
