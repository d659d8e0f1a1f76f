"""Built-in plugin. NVIDIA H200 SXM: the chip, the HGX H200 8-GPU board, p5e.48xlarge and p5en.48xlarge.

The figures live in profiles/nvidia_h200.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "nvidia_h200.toml")
