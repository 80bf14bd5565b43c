"""Stage 2: problems → samples. Windows of problems go to the teacher; each window's samples land in their own
part file (`samples/part-NNNNN.jsonl`), written atomically, so a re-run only asks for the missing problems."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from factory.config import SamplingConfig
from factory.prompts import PromptTemplate
from factory.records import Problem, Sample
from factory.storage import read_jsonl, write_jsonl
from factory.teachers import Log, Teacher

PART_GLOB = "part-*.jsonl"


@dataclass
class GenerateStats:
    problems_reused: int = 0
    problems_generated: int = 0
    samples_generated: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def read_samples(samples_dir: Path) -> Iterator[Sample]:
    for part in sorted(samples_dir.glob(PART_GLOB)):
        for row in read_jsonl(part):
            yield Sample.from_dict(row)


def generate(
    problems: Iterable[Problem],
    samples_dir: Path,
    start_teacher: Callable[[], Teacher],
    template: PromptTemplate,
    sampling: SamplingConfig,
    window: int,
    log: Log,
) -> GenerateStats:
    """Sample every problem that has no samples on disk yet. The teacher starts only if there is work."""
    done = {sample.problem_id for sample in read_samples(samples_dir)}
    stats = GenerateStats()
    pending = _skip_done(problems, done, stats)
    next_part = 1 + max((int(path.stem.split("-")[1]) for path in samples_dir.glob(PART_GLOB)), default=-1)
    teacher: Teacher | None = None
    started = time.monotonic()
    progress = _Progress(log, started)
    try:
        while chunk := list(itertools.islice(pending, window)):
            if teacher is None:
                teacher = start_teacher()
                started = time.monotonic()  # engine start-up is not generation time
                progress = _Progress(log, started)
            finished: list[Sample] = []
            try:
                for samples in teacher.generate(chunk, template, sampling):
                    finished.extend(samples)
                    stats.problems_generated += 1
                    stats.samples_generated += len(samples)
                    stats.completion_tokens += sum(sample.completion_tokens or 0 for sample in samples)
                    progress.update(stats)
            finally:
                # Also on an error or Ctrl-C: what the teacher finished is kept, and the re-run skips it.
                if finished:
                    write_jsonl(samples_dir / f"part-{next_part:05d}.jsonl", (s.to_dict() for s in finished))
                    next_part += 1
    finally:
        if teacher is not None:
            teacher.close()
    stats.seconds = round(time.monotonic() - started, 2)
    if stats.problems_generated:
        progress.update(stats, final=True)
    return stats


def _skip_done(problems: Iterable[Problem], done: set[str], stats: GenerateStats) -> Iterator[Problem]:
    for problem in problems:
        if problem.id in done:
            stats.problems_reused += 1
        else:
            yield problem


class _Progress:
    """One line every few seconds while results arrive, and one at the end.

    The first result only starts the clock: an offline engine returns a whole window at once, after its own
    progress bar, and a line then would report a meaningless rate.
    """

    every_s = 10.0

    def __init__(self, log: Log, started: float) -> None:
        self._log = log
        self._started = started
        self._last: float | None = None

    def update(self, stats: GenerateStats, final: bool = False) -> None:
        now = time.monotonic()
        if self._last is None and not final:
            self._last = now
            return
        if not final and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        self._log(
            f"generate: {stats.problems_generated} problems, {stats.samples_generated} samples, "
            f"{stats.completion_tokens} tokens, {stats.completion_tokens / elapsed:.0f} tok/s, {elapsed:.0f} s"
        )
