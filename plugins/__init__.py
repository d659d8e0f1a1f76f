"""Built-in plugins: each registers its TOML profiles through the `hwprof` entry-point group."""
