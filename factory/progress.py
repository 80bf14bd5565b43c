"""Progress of a run: a bar on a terminal (tqdm's, redrawn in place, factory's lines printed above it), a
plain line every `every_s` seconds otherwise, and optionally a timeline file with a point at least every
`TIMELINE_EVERY_S` seconds (`factory report` plots it).

Counters are updated from the driver (samples generated) and the checker thread (samples verified, kept).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from factory import terminal
from factory.teachers import Log

if TYPE_CHECKING:
    from tqdm import tqdm

# The quiet default prints every 10 s: a run of a minute would plot six points.
TIMELINE_EVERY_S = 2.0
# The counters first, so that a narrow terminal cuts the bar, not them; the bar takes the rest of the width.
BAR_FORMAT = "{desc} |{bar}|"


class Progress:
    def __init__(
        self,
        problems: int,
        log: Log,
        stream: TextIO | None = None,
        live: bool | None = None,
        every_s: float = 10.0,
        timeline: Path | None = None,
    ) -> None:
        self._stream = stream or terminal.stream()
        self._live = self._stream.isatty() if live is None else live
        self._every_s = 0.5 if self._live else every_s
        self._timeline = timeline  # JSON lines of the counters over time, appended to
        self._point_every_s = min(self._every_s, TIMELINE_EVERY_S)
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
        self._last_point = 0.0
        self._bar: tqdm | None = None  # on a terminal, from the teacher's start to `finish`

    def teacher_started(self) -> None:
        self._started = time.monotonic()
        if self._live:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.problems,
                initial=self.problems_done,
                desc=self.line(),
                file=self._stream,
                bar_format=BAR_FORMAT,
                dynamic_ncols=True,
            )
        self._record()  # the origin: a plot of this invocation starts where it started

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
        """The last state, kept on screen: the bar's last frame, or a last plain line."""
        if self._started is None:
            return
        if self._bar is not None:
            self._draw()
            self._bar.close()
            self._bar = None
        else:
            self._log("progress: " + self.line())
        self._record()

    def _maybe_show(self) -> None:
        now = time.monotonic()
        if self._started is None:
            return
        if now - self._last_point >= self._point_every_s:
            self._last_point = now
            self._record()
        if now - self._last_line < self._every_s:
            return
        self._last_line = now
        if self._live:
            self._draw()
        else:
            self._log("progress: " + self.line())

    def _draw(self) -> None:
        bar = self._bar
        if bar is not None:  # `finish` may have closed it meanwhile, from the other thread
            bar.n = self.problems_done
            bar.set_description_str(self.line())  # redraws

    def _record(self) -> None:
        """Append the counters to the timeline. A disk that refuses costs the timeline, never the run."""
        if self._timeline is None:
            return
        with self._lock:
            point = {
                "t": self.generate_seconds(),
                "problems_done": self.problems_done,
                "samples": self.samples,
                "tokens": self.tokens,
                "verified": self.verified,
                "kept": self.kept,
            }
        try:
            with self._timeline.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(point) + "\n")
        except OSError as error:
            self._log(f"progress: cannot append to {self._timeline} ({error}); going on without a timeline")
            self._timeline = None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
