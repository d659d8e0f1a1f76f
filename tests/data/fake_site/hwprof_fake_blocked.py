"""A plugin the tests keep out with HWPROF_LOAD_PLUGINS: if it ever loads, its chip shows it."""

from hwprof.core import hookimpl
from hwprof_fake_good import _figure
from hwprof.core.data.records import Chip


@hookimpl
def hwprof_register_chips():
    return [Chip(id="blocked-chip", name="Blocked", vendor="Fake", peak_dense_tflops={"bf16": _figure(1.0)},
                 memory_bandwidth_tbps=_figure(1.0), memory_gb=_figure(1.0))]
