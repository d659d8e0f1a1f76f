"""TOML profiles the built-in plugins register; read with ``hwprof.core.schema.load_resource``."""
