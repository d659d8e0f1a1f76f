"""TOML profiles the built-in plugins register; read with ``hwprof.data.schema.load_resource``."""
