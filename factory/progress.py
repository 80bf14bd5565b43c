"""Progress of a run: a live line on a terminal, a plain line every `every_s` seconds otherwise.

Counters are updated from the driver (samples generated) and the checker thread (samples verified, kept).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from factory.teachers import Log


class Progress:
    def __init__(
        self,
        problems: int,
        log: Log,
        stream: TextIO | None = None,
        live: bool | None = None,
        every_s: float = 10.0,
    ) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._every_s = 0.5 if self._live else every_s
        self._log = log
        self._lock = threading.Lock()
        self.problems = problems
        self.problems_done = 0  # finished this invocation, or found finished on disk
        self.problems_reused = 0
        self.samples = 0
        self.tokens = 0
        self.verified = 0
        self.kept = 0
        self._started: float | None = None  # when the teacher was ready: engine start-up is not generation
        self._last_line = 0.0
        self._drawn = False

    def teacher_started(self) -> None:
        self._started = time.monotonic()

    def generated(self, samples: int, tokens: int) -> None:
        with self._lock:
            self.samples += samples
            self.tokens += tokens
        self._maybe_show()

    def checked(self, verified: int, kept: int) -> None:
        with self._lock:
            self.verified += verified
            self.kept += kept
        self._maybe_show()

    def problem_finished(self, reused: bool = False) -> None:
        with self._lock:
            self.problems_done += 1
            self.problems_reused += reused

    def generate_seconds(self) -> float:
        return round(time.monotonic() - self._started, 2) if self._started is not None else 0.0

    def line(self) -> str:
        elapsed = max(self.generate_seconds(), 1e-9)
        rate = self.tokens / elapsed
        pass_rate = self.kept / self.verified if self.verified else 0.0
        text = (
            f"problems {self.problems_done}/{self.problems} | samples {self.samples} | kept {self.kept} "
            f"({pass_rate:.0%}) | {rate:.0f} tok/s | {elapsed:.0f} s"
        )
        made = self.problems_done - self.problems_reused
        left = self.problems - self.problems_done
        if made and left and self._started is not None:
            text += f" | ETA {_duration(left * elapsed / made)}"
        return text

    def finish(self) -> None:
        """The last line, kept on screen."""
        if self._started is None:
            return
        if self._live:
            self._stream.write("\r\x1b[K")
        self._log("progress: " + self.line())

    def _maybe_show(self) -> None:
        now = time.monotonic()
        if self._started is None or now - self._last_line < self._every_s:
            return
        self._last_line = now
        if self._live:
            self._stream.write("\r\x1b[K" + self.line())
            self._stream.flush()
        else:
            self._log("progress: " + self.line())


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
