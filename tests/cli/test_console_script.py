"""The console script (``hwprof.cli.console:run``) prints what ``main`` prints and exits with its
code; the collector settings it uses to start faster stay in its own process: importing hwprof or
calling ``main`` in-process leaves the collector as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {**os.environ, "HWPROF_NO_USER_PROFILES": "1", "HWPROF_LOAD_PLUGINS": "trainium2,nvidia_h100"}


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, timeout=60)


def test_the_console_script_prints_and_exits_as_main_does() -> None:
    script = (
        "import gc, sys\nfrom hwprof.cli import console\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 0, 'start-up frozen, collector back on'\n"
        "code = console.run()\nassert gc.get_freeze_count() > 0\nsys.exit(code)"
    )
    in_process = "import sys\nfrom hwprof.cli.app import main\nsys.exit(main())"
    for args, code in ((["chips", "list"], 0), (["chips", "show", "nope"], 1), (["chipz"], 2)):
        console, plain = _python(script, *args), _python(in_process, *args)
        assert (console.returncode, console.stdout, console.stderr) == (plain.returncode, plain.stdout, plain.stderr)
        assert console.returncode == code, console.stderr


def test_importing_hwprof_or_calling_main_leaves_the_collector_alone() -> None:
    code = (
        "import gc\nbefore = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())\n"
        "import hwprof\nhwprof.registry()\nfrom hwprof.cli.app import main\nmain(['chips', 'list'])\n"
        "after = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())\nprint(before == after, after)"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    same, after = done.stdout.splitlines()[-1].split(" ", 1)
    assert same == "True" and after.startswith("(True, ") and after.endswith(", 0)"), after
