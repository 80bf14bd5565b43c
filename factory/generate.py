"""Stage 2: problems → samples. Windows of problems go to the teacher; each problem's samples are appended to
this invocation's journal (`samples/part-NNNNN.jsonl`) and fsynced as soon as they exist.

Every sample has a key (`Sample.key`): problem, rendered prompt, model, sampling parameters and index. A
re-run, after Ctrl-C, `kill -9` or a crashed server, asks the teacher only for the keys not on disk, so
each sample is made once; a line torn by a crash is not read and its sample is made again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from factory.config import SamplingConfig
from factory.prompts import PromptTemplate
from factory.records import Problem, Sample, sample_key
from factory.storage import Journal, drop_torn_tail, read_journal
from factory.teachers import Log, SampleRequest, Teacher, sampling_record

PART_GLOB = "part-*.jsonl"


@dataclass
class GenerateStats:
    problems_reused: int = 0
    problems_generated: int = 0
    samples_generated: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: GenerateStats) -> None:
        """Count another call's generation (adaptive rounds); reuse is counted by the first call alone."""
        self.problems_generated += other.problems_generated
        self.samples_generated += other.samples_generated
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds


def read_samples(samples_dir: Path) -> Iterator[Sample]:
    """Every complete sample on disk, each key once."""
    seen: set[str] = set()
    for part in sorted(samples_dir.glob(PART_GLOB)):
        for row in read_journal(part):
            sample = Sample.from_dict(row)
            key = sample.key()
            if key not in seen:
                seen.add(key)
                yield sample


class LazyTeacher:
    """The teacher, started on first use (a run with nothing to generate never loads an engine) and kept
    across rounds of adaptive sampling. The caller closes it."""

    def __init__(self, start: Callable[[], Teacher]) -> None:
        self._start = start
        self._teacher: Teacher | None = None
        self.started_at: float | None = None

    def get(self) -> Teacher:
        if self._teacher is None:
            self._teacher = self._start()
            self.started_at = time.monotonic()  # engine start-up is not generation time
        return self._teacher

    def close(self) -> None:
        teacher, self._teacher = self._teacher, None
        if teacher is not None:
            teacher.close()


def generate(
    draws: Iterable[tuple[Problem, int]],
    samples_dir: Path,
    teacher: LazyTeacher,
    template: PromptTemplate,
    sampling: SamplingConfig,
    model: str,
    window: int,
    log: Log,
) -> GenerateStats:
    """Make every sample whose key is not on disk yet: draws 0..d-1 of each (problem, d) in `draws`."""
    for part in samples_dir.glob(PART_GLOB):
        drop_torn_tail(part)
    done = {sample.key() for sample in read_samples(samples_dir)}
    stats = GenerateStats()
    pending = _missing(draws, done, template, sampling, model, stats)
    journal: Journal | None = None
    started = time.monotonic()
    progress = _Progress(log, started)
    try:
        while chunk := list(itertools.islice(pending, window)):
            engine = teacher.get()
            if journal is None:
                started = max(started, teacher.started_at or started)
                progress = _Progress(log, started)
                journal = Journal(samples_dir / f"part-{_next_part(samples_dir):05d}.jsonl")
            for samples in engine.generate(chunk, template, sampling):
                journal.append(sample.to_dict() for sample in samples)
                stats.problems_generated += 1
                stats.samples_generated += len(samples)
                stats.completion_tokens += sum(sample.completion_tokens or 0 for sample in samples)
                progress.update(stats)
    finally:
        if journal is not None:
            journal.close()
    stats.seconds = round(time.monotonic() - started, 2) if journal is not None else 0.0
    if stats.problems_generated:
        progress.update(stats, final=True)
    return stats


def _next_part(samples_dir: Path) -> int:
    return 1 + max((int(path.stem.split("-")[1]) for path in samples_dir.glob(PART_GLOB)), default=-1)


def _missing(
    draws: Iterable[tuple[Problem, int]],
    done: set[str],
    template: PromptTemplate,
    sampling: SamplingConfig,
    model: str,
    stats: GenerateStats,
) -> Iterator[SampleRequest]:
    recorded = sampling_record(sampling)
    for problem, count in draws:
        messages = template.messages(problem.problem)
        indices = tuple(
            index
            for index in range(count)
            if sample_key(problem.id, messages, template.hash, model, recorded, index) not in done
        )
        if indices:
            yield SampleRequest(problem, indices)
        else:
            stats.problems_reused += 1


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
