"""The ``hwprof`` console script (``[project.scripts]``); nothing else imports this module, so the
garbage collector settings below belong to the CLI's own process, never to a program using hwprof.

Start-up makes some 30,000 objects the collector tracks (modules, classes, functions, typer's and
hwprof's tables, the records), and they live until the process ends. Collecting while they are
made frees little (a few hundred objects; about 3 ms of ``hwprof chips list``), and at exit the
interpreter walks them all once more and frees them one by one (about 15 ms; benchmarks/README.md).
So the collector is off while the CLI is imported; what exists then is frozen (``gc.freeze``:
never visited again) and the command runs with the collector on; before the exit everything is
frozen again, so the exit skips that walk and the OS takes the memory back. Output is flushed by
then and atexit handlers still run; only finalizers of objects still alive at exit, which Python
never promises to run, may not.
"""

from __future__ import annotations

import gc

_collecting = gc.isenabled()
gc.disable()
from .app import main  # noqa: E402  (imported with the collector off, see above)

gc.freeze()
if _collecting:
    gc.enable()


def run() -> int:
    """``hwprof``: ``main`` on the command line's arguments. In-process callers use ``main``."""
    code = main()
    gc.freeze()
    return code
