"""The data: records, TOML reading, the hook specs and the registry that collects plugins' records.

Data flows one way: TOML or a plugin -> records -> registry -> performance models -> results -> CLI.
"""
