"""Built-in plugin. NVIDIA H100 SXM: the chip, NVLink 4 / NVSwitch, the HGX H100 8-GPU board and p5.48xlarge.

The figures live in profiles/nvidia_h100.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "nvidia_h100.toml")
