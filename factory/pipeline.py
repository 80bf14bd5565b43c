"""Generation, verification and curation as one stream; this module drives it.

The teachers pull requests from a `Source` (factory.scheduler) whenever they have room. Each finished
request's samples are appended to this invocation's sample journal (`samples/part-NNNNN.jsonl`, fsynced) and
handed to the `Checker` thread (factory.checker), which verifies them in the process pool beside the engine
and curates each problem once its draws are all verified. Packaging (factory.package) runs once the stream
has ended, from what is on disk.

Exactly once: every sample has a key (`Sample.key`); a request asks only for the indices whose keys are not
on disk (factory.ledger). Samples without a verdict and problems not curated (a crash, or a changed verify or
curate config) are handed to the checker first, from disk, without starting an engine.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from factory.checker import FINISHED, NEW, Checker, Journals, Work, catch_up
from factory.config import RunConfig
from factory.curate import Curator
from factory.judge import ModelJudge
from factory.ledger import Ledger, Scope, next_part
from factory.problem_table import ProblemTable
from factory.progress import Progress
from factory.prompts import PromptTemplate
from factory.records import Problem, ProblemVote, Sample
from factory.scheduler import Source, StreamStats
from factory.storage import Journal
from factory.teachers import SampleRequest, Teacher
from filters import start_pool


class LazyTeacher:
    """The teacher, started on first use: a run with nothing to generate never loads an engine."""

    def __init__(self, start: Callable[[], Teacher]) -> None:
        self._start = start
        self._teacher: Teacher | None = None

    def get(self) -> Teacher:
        if self._teacher is None:
            self._teacher = self._start()
        return self._teacher

    def faults(self) -> Counter[str]:
        """Its failed tries by kind (a remote teacher's); an engine in this process has none to count."""
        return getattr(self._teacher, "faults", Counter())

    def requests(self) -> int | None:
        """The requests a remote teacher made (its cost is per request as much as per token)."""
        return getattr(self._teacher, "requests", None)

    def close(self) -> None:
        teacher, self._teacher = self._teacher, None
        if teacher is not None:
            teacher.close()


# What a teacher's thread hands the writer: a request's samples, its error, or None when it has finished.
_Result = list[Sample] | BaseException | None
RESULTS_IN_HAND = 64  # finished requests waiting for the writer


def stream(
    config: RunConfig,
    run_dir: Path,
    template: PromptTemplate,
    problems: ProblemTable,
    ledger: Ledger,
    scope: Scope,
    teachers: list[LazyTeacher],
    progress: Progress,
    curator: Curator,
    votes: Mapping[str, ProblemVote],
    judge: ModelJudge | None = None,
) -> StreamStats:
    """Catch up on what the last invocation left unverified or uncurated, then generate what is missing.
    Each teacher runs in a thread of its own, pulling from the one source; this thread writes the journal."""
    folders = [run_dir / name for name in ("samples", "verdicts", "votes", "curated")]
    part = next_part(*folders)
    samples_dir = folders[0]
    stats = StreamStats()
    journals = Journals(*(Journal(folder / f"part-{part:05d}.jsonl") for folder in folders[1:]))
    source = Source(problems, config, template, ledger, stats, progress, curator.enough)
    checker = Checker(config, journals, curator, source, progress, judge, votes)
    source.finished = lambda problem: checker.submit(Work(problem, [], FINISHED))
    tracked = _Tracked(source)
    # Bounded, so that a teacher faster than the journal and the checker waits instead of filling memory.
    results: queue.Queue[_Result] = queue.Queue(RESULTS_IN_HAND)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_drive,
            args=(teacher, tracked, template, config, progress, results, stop),
            name=f"factory-teacher-{number}",
            daemon=True,
        )
        for number, teacher in enumerate(teachers)
    ]
    samples_journal = Journal(samples_dir / f"part-{part:05d}.jsonl")
    errors: list[BaseException] = []
    try:
        if ledger.catch_up:
            catch_up(problems, run_dir, ledger, scope, checker)
            checker.drain()  # adaptive rounds count the passing traces found here
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            finished: list[list[Sample]] = []
            for item in _available(results):
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    errors.append(item)
                else:
                    finished.append(item)
            if not finished:
                continue
            # One fsync for every request that finished meanwhile: at hundreds of completions a second, a
            # sync per request would bound the run by the disk.
            samples_journal.append(sample.to_dict() for item in finished for sample in item)
            for item in finished:
                if source.adaptive:  # the source asks for a problem's next round by key
                    ledger.done.update(sample.key() for sample in item)
                tokens = sum(sample.completion_tokens or 0 for sample in item)
                stats.samples_generated += len(item)
                stats.completion_tokens += tokens
                progress.generated(len(item), tokens)
                problem = tracked.in_flight.pop(item[0].problem_id)
                checker.submit(Work(problem, item, NEW))
    finally:
        stop.set()
        source.close()
        for thread in threads:
            thread.join(timeout=30)
        try:
            checker.close()
        finally:
            journals.close()
            samples_journal.close()
    stats.generate_seconds = progress.generate_seconds()
    if errors:
        raise errors[0]
    return stats


def _available(results: queue.Queue[_Result]) -> list[_Result]:
    """The next result (waiting for it), and every other one already queued."""
    items = [results.get()]
    while True:
        try:
            items.append(results.get_nowait())
        except queue.Empty:
            return items


def _drive(
    teacher: LazyTeacher,
    tracked: _Tracked,
    template: PromptTemplate,
    config: RunConfig,
    progress: Progress,
    results: queue.Queue[_Result],
    stop: threading.Event,
) -> None:
    """One teacher's thread: start it when the first request for it exists, then stream its results."""
    try:
        first = tracked.poll(block=True)
        if first is None:
            return  # nothing to generate: the engine never starts
        # The verifier's process pool warms up while the engine loads, not during the first checks.
        threading.Thread(target=_warm_pool, args=(config.reject.workers,), daemon=True).start()
        engine = teacher.get()
        progress.teacher_started()
        for samples in engine.stream(_FirstThen(first, tracked), template, config.sampling):
            if not _hand(results, samples, stop):
                break
    except BaseException as error:  # the driver raises it once the other teachers have finished
        _hand(results, error, stop)
    finally:
        _hand(results, None, stop)


def _hand(results: queue.Queue[_Result], item: _Result, stop: threading.Event) -> bool:
    """Give the writer a result, waiting while it is behind; False once the writer has stopped reading."""
    while not stop.is_set():
        try:
            results.put(item, timeout=0.1)
            return True
        except queue.Full:
            pass
    return False


def _warm_pool(workers: int | None) -> None:
    try:
        start_pool(workers)
    except RuntimeError:  # the run ended (or failed) before the pool was warm: the interpreter is exiting
        pass


class _Tracked:
    """The source as the teachers see it, remembering the problem of each request in flight (samples carry
    only its id)."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self.in_flight: dict[str, Problem] = {}

    def poll(self, block: bool) -> SampleRequest | None:
        request = self._source.poll(block)
        if request is not None:
            self.in_flight[request.problem.id] = request.problem
        return request

    def failed(self, request: SampleRequest, error: str) -> None:
        self.in_flight.pop(request.problem.id, None)
        self._source.failed(request, error)


class _FirstThen:
    """A request already taken from the source, then the source."""

    def __init__(self, first: SampleRequest, rest: _Tracked) -> None:
        self._first: SampleRequest | None = first
        self._rest = rest

    def poll(self, block: bool) -> SampleRequest | None:
        first, self._first = self._first, None
        return first if first is not None else self._rest.poll(block)

    def failed(self, request: SampleRequest, error: str) -> None:
        self._rest.failed(request, error)
