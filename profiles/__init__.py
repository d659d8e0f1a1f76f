"""TOML profiles the built-in plugins register; read with ``hwprof.core.data.schema.load_resource``."""
