"""hwprof plugin hwprof-gcp: Google Cloud's A3 instances and what they cost.

Everything is in gcp.toml: the GPU networks of A3 High, A3 Mega and A3 Ultra, the three machine
types (on the H100 and H200 chips hwprof ships), and the `gcp` cost model with on-demand, spot and
committed-use prices, each with its source and the date it was read.
"""

from hwprof.data.toml_plugin import TomlPlugin

plugin = TomlPlugin(__name__, "gcp.toml")
