"""Built-in plugin. Workload presets: Llama 3.1 8B/70B/405B, DeepSeek-V3, GPT-3 175B, Mixtral 8x7B.

The figures live in profiles/models.toml, each with its source and status.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin("hwprof.profiles", "models.toml")
