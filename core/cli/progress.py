"""A progress line on stderr while a long command runs (``plan train``, ``validate``): one line
rewritten in place (carriage return, no terminal codes), only when stderr is a terminal, erased
when the work ends, so pipes, files and ``--json`` never see it."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

REFRESH_S = 0.5


class Progress:
    """``with Progress("plan train") as p: ... p.update("system 2 of 4, 12 counts")``: the label, the
    latest status and the seconds elapsed, redrawn every half second from a background thread."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.status = ""
        self.shown = 0  # characters of the line on screen
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()

    def update(self, status: str) -> None:
        self.status = status

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        return f"{self.label}: {self.status + ', ' if self.status else ''}{elapsed:,.0f} s"

    def _draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text + " " * max(0, self.shown - len(text)))
        self.stream.flush()
        self.shown = len(text)

    def _run(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self._draw()

    def __enter__(self) -> Progress:
        if self.on:
            self._draw()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self.on:  # erase the line: what follows starts at the left margin
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
