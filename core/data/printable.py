"""Text from a file or a plugin made safe to show on a terminal.

A profile's name, a source's title, an unknown key, a plugin's message: any of them may hold
terminal escapes (a window title, a fake line, an OSC-8 link to any address) or characters that
reorder or hide text (bidi overrides, zero-width marks). ``printable`` shows each such character as
``\\uXXXX``, the form JSON itself uses, so JSON output stays valid and says the same thing.
Every line hwprof prints goes through it (``hwprof.cli.render``: echo, warn, note and each cell).
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and C1 controls, the Arabic letter mark, zero-width and
# bidi marks, line and paragraph separators, bidi embeddings and isolates, word joiners, the BOM
# and the interlinear annotation marks.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
_IN_LINES = re.compile(f"[{_UNSAFE}]")
_IN_ONE_LINE = re.compile(f"[{_UNSAFE}\n\t]")


def _shown(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str, lines: bool = False) -> str:
    """``text`` with every control or invisible formatting character shown as ``\\uXXXX``; with
    ``lines``, newlines and tabs are kept (a whole output), else they are shown too (one cell or line)."""
    return (_IN_LINES if lines else _IN_ONE_LINE).sub(_shown, text)
