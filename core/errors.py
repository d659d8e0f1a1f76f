"""The one exception type the CLI turns into a single clear line and a non-zero exit."""

from pathlib import PurePath


class HwprofError(Exception):
    """A problem with the user's input: the message says what, where and how to fix it.

    Domain code names the input in domain words (``subject="purchase", value="spto"``); the CLI
    names it as the flag it came from (``--purchase spto: ...``) with ``for_cli``, so the maths can
    be used from Python without command-line words leaking into its errors. A message naming other
    inputs writes each as its parameter name in backticks (``"give `system` or `chip`"``): Python
    callers read the keyword they pass, the CLI shows the flag (``--system``, ``--chip``).
    """

    exit_code = 1

    def __init__(self, message: str, *, subject: str = "", value: object = None) -> None:
        self.detail, self.subject, self.value = message, subject, value
        super().__init__(f"{subject}{_shown(value)}: {message}" if subject else message)

    def for_cli(self, flags: dict[str, str] | None = None) -> str:
        """The message with its subject, and each input named in backticks, as a flag: ``flags[name]``,
        else ``--name-words``."""
        import re

        def flag(name: str) -> str:
            return (flags or {}).get(name) or "--" + name.replace("_", "-")

        text = f"{flag(self.subject)}{_shown(self.value)}: {self.detail}" if self.subject else str(self)
        return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: flag(m[1]), text)


def _shown(value: object) -> str:
    """' value' as a message shows it: floats short, 300-digit numbers and long text shortened."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f" {value:g}"
    text = str(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(text) > 20:
        return f" (a {len(text)}-digit number)"
    if isinstance(value, PurePath):  # a path's end names the file: keep it, elide the middle of a long one
        return f" {text if len(text) <= 200 else text[:98] + '...' + text[-99:]}"
    return f" {text if len(text) <= 80 else text[:77] + '...'}"


class ProfileError(HwprofError):
    """One or more problems in a profile file; ``problems`` holds each as one line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems[0] if len(problems) == 1 else "\n".join(problems))


def close_matches(word: str, choices: "list[str] | set[str] | dict[str, object]") -> list[str]:
    """Up to three choices close to ``word``, closest first."""
    import difflib

    return difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)


def did_you_mean(word: str, choices: "list[str] | set[str] | dict[str, object]") -> str:
    """' (did you mean x?)' for the closest choices, or '' when nothing is close."""
    close = close_matches(word, choices)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
