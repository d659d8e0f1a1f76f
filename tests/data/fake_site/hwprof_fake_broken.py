"""A plugin that fails at import, as one does when its own dependency is missing."""

raise ImportError("hwprof_fake_broken needs libfake, which is not installed")
