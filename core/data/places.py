"""Where hwprof keeps the user's files: the config folder (user profiles) and the cache folder.

platformdirs knows every platform's rule, but importing it is about 2 ms of every start. On
Linux with ``HOME`` set and the XDG variable unset, its answer is ``$HOME/.config/hwprof`` (or
``.cache``); that case is answered here, and every other case (macOS, Windows, Android, an XDG
variable set, no usable HOME) is asked of platformdirs. tests/test_places.py checks both agree.
"""

from __future__ import annotations

import os
import sys
from typing import Any

APP = "hwprof"


def user_config_dir() -> str:
    """The user's config folder for hwprof, e.g. ``~/.config/hwprof``."""
    return _plain_linux("XDG_CONFIG_HOME", ".config") or _platformdirs().user_config_dir(APP)


def user_cache_dir() -> str:
    """The user's cache folder for hwprof, e.g. ``~/.cache/hwprof``."""
    return _plain_linux("XDG_CACHE_HOME", ".cache") or _platformdirs().user_cache_dir(APP)


def _plain_linux(variable: str, default: str) -> str | None:
    home = os.environ.get("HOME", "")
    android = hasattr(sys, "getandroidapilevel") or (
        os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"
    )
    if sys.platform != "linux" or android or os.environ.get(variable) or not os.path.isabs(home):
        return None
    return os.path.join(home, default, APP)


def _platformdirs() -> Any:
    import platformdirs

    return platformdirs
