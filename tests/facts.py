"""Messages asserted by their key facts (what is wrong, where, the offending value, the fix), not
word for word: rewording a message keeps a test green, dropping a fact fails it."""

from __future__ import annotations


def facts(text: str, *wanted: str) -> str:
    """``text`` when it states every one of ``wanted`` (each a name, value or fix word, as a substring)."""
    missing = [fact for fact in wanted if fact not in text]
    if missing:
        raise AssertionError(f"the message lacks {missing}: {text!r}")
    return text


def error_line(err: str, *wanted: str) -> str:
    """``err`` when it is one line, ``error: ...``, stating every one of ``wanted``."""
    if not (err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1):
        raise AssertionError(f"expected one line starting 'error: ', got {err!r}")
    return facts(err, *wanted)
