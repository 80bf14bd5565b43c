"""Which draws the teachers make next: each problem's missing draws in file order, and in adaptive mode a
problem's next round once the checker has counted the traces of its last one that pass the verifier and
the trace filters.

Adaptive sampling stops a problem as soon as no further draw can change what is kept: it has `target_kept`
passing traces, a selector can keep no more (`at_most: k` with k of them), it has had `give_up_after`
draws without one, or its budget (`max_samples`) is spent. A problem without a gold answer gets its whole
budget at once: its samples vote on the gold, so none is judged before all are drawn.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from factory.config import RunConfig
from factory.ledger import NO_GOLD, Ledger
from factory.progress import Progress
from factory.prompts import PromptTemplate
from factory.records import Message, Problem, sample_key
from factory.teachers import SampleRequest, sampling_record


@dataclass
class StreamStats:
    problems_reused: int = 0  # every sample was on disk already
    samples_generated: int = 0
    completion_tokens: int = 0
    generate_seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (problem id, error): retries spent


class Source:
    """Hands the teachers their requests. Thread-safe: the teachers poll it from their threads, the checker
    reports to it from another. `finished` is told of each problem that needs no draw (adaptive: so the
    checker curates the draws it found on disk)."""

    def __init__(
        self,
        problems: Iterable[Problem],
        config: RunConfig,
        template: PromptTemplate,
        ledger: Ledger,
        stats: StreamStats,
        progress: Progress,
        enough: Callable[[int], bool],
    ) -> None:
        self._problems: collections.abc.Iterator[Problem] | None = iter(problems)
        self._template = template
        self._models = [teacher.model for teacher in config.all_teachers()]
        self._recorded = sampling_record(config.sampling)
        self._ledger = ledger
        self._stats = stats
        self._progress = progress
        self._enough = enough  # the selectors: no further draw can change what they keep
        self.adaptive = bool(config.adaptive.target_kept)
        self._target, self._budget = config.adaptive.target_kept, config.adaptive.max_samples
        self._give_up_after = config.adaptive.give_up_after
        self._step = config.sampling.n
        self._follow_ups: collections.deque[SampleRequest] = collections.deque()
        self._open: dict[str, int] = {}  # adaptive: problem id → draws asked for so far
        self._changed = threading.Condition()
        self._closed = False
        self.finished: Callable[[Problem], None] = lambda problem: None

    def poll(self, block: bool) -> SampleRequest | None:
        while True:
            with self._changed:
                if self._closed:
                    return None
                if self._follow_ups:
                    return self._follow_ups.popleft()
                problem = next(self._problems, None) if self._problems is not None else None
                if problem is None:
                    self._problems = None
                    if not block or not self._open:
                        return None
                    self._changed.wait()
                    continue
                curated = problem.id in self._ledger.curated
                request = None if curated else self._request(problem, self._first_round(problem))
                if request is not None:
                    return request
                self._stats.problems_reused += 1
                self._progress.problem_finished(reused=True)
                if curated:
                    continue
            # Outside the lock: telling the checker may wait for room in its queue, and the checker takes
            # this lock to report a round.
            self.finished(problem)

    def report(self, problem: Problem, passing: int) -> bool:
        """Adaptive mode: `problem`'s last request is verified, and `passing` more traces pass. True when the
        problem is finished (no further round)."""
        with self._changed:
            self._ledger.passing[problem.id] += passing
            request = self._request(problem, self._open.pop(problem.id))
            if request is not None:
                self._follow_ups.append(request)
            else:
                self._progress.problem_finished()
            self._changed.notify_all()
            return request is None

    def failed(self, request: SampleRequest, error: str) -> None:
        """A request that failed for good: its problem is left for the next invocation."""
        with self._changed:
            self._stats.failed.append((request.problem.id, error))
            self._open.pop(request.problem.id, None)
            self._ledger.passing.pop(request.problem.id, None)
            self._progress.problem_finished()
            self._changed.notify_all()

    def add_passing(self, problem_id: str, passing: int) -> None:
        """Traces found passing among the samples on disk (before generation starts)."""
        with self._changed:
            if passing:
                self._ledger.passing[problem_id] += passing

    def close(self) -> None:
        """Wake and finish every waiting poll (the run is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _first_round(self, problem: Problem) -> int:
        if not self.adaptive:
            return self._step
        return self._budget if problem.answer == NO_GOLD else min(self._step, self._budget)

    def _made(self, problem: Problem, messages: list[Message], index: int) -> bool:
        """Draw `index` is on disk, from any of the run's teachers."""
        return any(
            sample_key(problem.id, messages, self._template.hash, model, self._recorded, index)
            in self._ledger.done
            for model in self._models
        )

    def _request(self, problem: Problem, draws: int) -> SampleRequest | None:
        """The missing draws among the first `draws`; in adaptive mode, further rounds until the problem is
        finished. None when the problem is finished."""
        messages = self._template.messages(problem.problem)
        while True:
            missing = tuple(index for index in range(draws) if not self._made(problem, messages, index))
            if missing:
                if self.adaptive:
                    self._open[problem.id] = draws
                return SampleRequest(problem, missing)
            if not self.adaptive or self._stop(problem.id, draws):
                self._ledger.passing.pop(problem.id, None)  # finished: nothing about it stays in memory
                return None
            draws = min(self._budget, draws + self._step)

    def _stop(self, problem_id: str, draws: int) -> bool:
        passing = self._ledger.passing[problem_id]
        gave_up = self._give_up_after is not None and passing == 0 and draws >= self._give_up_after
        return passing >= self._target or self._enough(passing) or gave_up or draws >= self._budget
