"""The one exception type the CLI turns into a single clear line and a non-zero exit."""


class HwprofError(Exception):
    """A problem with the user's input: the message says what, where and how to fix it."""

    exit_code = 1


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
