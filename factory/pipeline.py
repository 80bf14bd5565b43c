"""Stages 2–4 as one stream: problems → teacher → samples → verifier → verdicts → shards, all overlapping.

The teacher pulls requests from a `Source` whenever it has room. Each finished request's samples are
appended to this invocation's sample journal (`samples/part-NNNNN.jsonl`, fsynced) and handed to the
`Checker` thread, which verifies them in the process pool beside the engine, appends their verdicts to
`verdicts/part-NNNNN.jsonl` and writes kept ones into the open Parquet shard. In adaptive mode the checker
tells the source how many traces a problem kept, and the source queues the problem's next round.

Memory: problems are read as a stream and forgotten once finished. What stays in memory is per problem
its id and a hash of its gold (`Scope`), per sample on disk its key (to make each sample exactly once),
and in adaptive mode a kept count per problem with kept traces; never the records themselves.

Exactly once: every sample has a key (`Sample.key`); a request asks only for the indices whose keys are not
on disk. Samples without a verdict (a crash between journal and verdict, or a changed reject config) are
verified first, and kept samples missing from the shards (the open shard of a killed run) are written again.
A verdict the model judge could not give (`judge_error`) is dropped when the run starts, so its sample is
judged again.
"""

from __future__ import annotations

import collections
import queue
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.config import RunConfig
from factory.judge import JUDGE_ERROR, ModelJudge
from factory.package import ShardWriter, shipped_keys, to_row
from factory.progress import Progress
from factory.prompts import PromptTemplate
from factory.records import Message, Problem, Sample, SampleVerdict, sample_key
from factory.reject import verdicts_for
from factory.storage import Journal, StageMarkers, drop_torn_tail, read_journal, write_jsonl
from factory.teachers import SampleRequest, Teacher, sampling_record
from filters import start_pool

PART_GLOB = "part-*.jsonl"


@dataclass(frozen=True)
class Scope:
    """The samples this config uses (a smaller limit_per_file or n leaves others on disk, unused) and each
    problem's gold answer today (as a hash: a verdict against another gold is stale)."""

    golds: dict[str, int]
    max_draws: int

    def uses(self, problem_id: str, index: int) -> bool:
        return problem_id in self.golds and index < self.max_draws

    def stale(self, verdict: SampleVerdict) -> bool:
        gold = self.golds.get(verdict.problem_id)
        return gold is not None and gold != hash(verdict.gold)


def read_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every complete line of every journal in `folder`, oldest part first."""
    for part in sorted(folder.glob(PART_GLOB)):
        yield from read_journal(part)


def read_samples(samples_dir: Path) -> Iterator[Sample]:
    """Every complete sample on disk, each key once."""
    return (sample for _, sample in read_keyed_samples(samples_dir))


def read_keyed_samples(samples_dir: Path) -> Iterator[tuple[str, Sample]]:
    """(key, sample) for every complete sample on disk, each key once: callers need not hash it again."""
    seen: set[str] = set()
    for row in read_records(samples_dir):
        sample = Sample.from_dict(row)
        key = sample.key()
        if key not in seen:
            seen.add(key)
            yield key, sample


def read_verdicts(verdicts_dir: Path, scope: Scope) -> Iterator[SampleVerdict]:
    """The verdicts of the samples in scope, each sample once."""
    seen: set[str] = set()
    for row in read_records(verdicts_dir):
        verdict = SampleVerdict.from_dict(row)
        if verdict.sample_key not in seen and scope.uses(verdict.problem_id, verdict.sample_index):
            seen.add(verdict.sample_key)
            yield verdict


def next_part(*folders: Path) -> int:
    """This invocation's journal number: one past the highest in any of the folders."""
    numbers = [int(path.stem.split("-")[1]) for folder in folders for path in folder.glob(PART_GLOB)]
    return 1 + max(numbers, default=-1)


@dataclass
class Ledger:
    """What is on disk when an invocation starts, as keys."""

    done: set[str] = field(default_factory=set)  # samples made
    judged: set[str] = field(default_factory=set)  # samples with a verdict under this reject config
    unshipped: dict[str, SampleVerdict] = field(default_factory=dict)  # kept, but in no finished shard
    kept: Counter[str] = field(default_factory=Counter)  # problem id → kept traces
    catch_up: set[str] = field(default_factory=set)  # problems with samples to verify or ship

    @classmethod
    def read(cls, run_dir: Path, reject_inputs: str, shards_inputs: str, scope: Scope) -> Ledger:
        """Read the run folder. Verdicts made under another reject config are dropped, and so are shards
        made for another package config or problem set; verdicts against a gold answer that has changed
        since, and those the model judge could not give, are removed (and the shards rebuilt if one of
        them was kept)."""
        ledger = cls()
        samples_dir, verdicts_dir, shards_dir = run_dir / "samples", run_dir / "verdicts", run_dir / "shards"
        markers = StageMarkers(run_dir)
        # Kept rows change with the verdicts. A flag, not a blank fingerprint: a blank one was also what a
        # fresh folder recorded, so a later change of reject config left the old shards beside the new rows.
        rebuild_shards = False
        if not markers.is_done("verdicts", reject_inputs):
            shutil.rmtree(verdicts_dir, ignore_errors=True)
            rebuild_shards = True
            markers.mark_done("verdicts", reject_inputs)
        for folder in (samples_dir, verdicts_dir):
            for part in folder.glob(PART_GLOB):
                drop_torn_tail(part)
        if _drop_verdicts(
            verdicts_dir, lambda verdict: scope.stale(verdict) or verdict.reason == JUDGE_ERROR
        ):
            rebuild_shards = True
        kept: dict[str, SampleVerdict] = {}
        for verdict in read_verdicts(verdicts_dir, scope):
            ledger.judged.add(verdict.sample_key)
            if verdict.kept:
                ledger.kept[verdict.problem_id] += 1
                kept[verdict.sample_key] = verdict
        if rebuild_shards or not markers.is_done("shards", shards_inputs):
            shutil.rmtree(shards_dir, ignore_errors=True)
            markers.mark_done("shards", shards_inputs)
        shipped = shipped_keys(shards_dir)
        ledger.unshipped = {key: verdict for key, verdict in kept.items() if key not in shipped}
        ledger.catch_up = {verdict.problem_id for verdict in ledger.unshipped.values()}
        for key, sample in read_keyed_samples(samples_dir):
            ledger.done.add(key)
            if key not in ledger.judged and scope.uses(sample.problem_id, sample.sample_index):
                ledger.catch_up.add(sample.problem_id)
        return ledger


def _drop_verdicts(verdicts_dir: Path, redo: Callable[[SampleVerdict], bool]) -> bool:
    """Rewrite (atomically) the verdict journals that hold verdicts to `redo`, without them; their samples
    are verified again. True if one of them was kept: its row must leave the shards. (One that was not
    kept has no row, and a new verdict that keeps it writes one.)"""
    dropped_kept = False
    for part in sorted(verdicts_dir.glob(PART_GLOB)):
        dropped = [verdict for row in read_journal(part) if redo(verdict := SampleVerdict.from_dict(row))]
        if dropped:
            rows = (row for row in read_journal(part) if not redo(SampleVerdict.from_dict(row)))
            write_jsonl(part, list(rows))
            dropped_kept = dropped_kept or any(verdict.kept for verdict in dropped)
    return dropped_kept


@dataclass
class StreamStats:
    problems_reused: int = 0  # every sample was on disk already
    samples_generated: int = 0
    completion_tokens: int = 0
    generate_seconds: float = 0.0


class Source:
    """Hands the teacher its requests: each problem's missing draws in file order, and in adaptive mode a
    problem's next round once the checker has counted its kept traces. Thread-safe: the teacher polls it
    from its own thread, the checker reports to it from another."""

    def __init__(
        self,
        problems: Iterator[Problem],
        config: RunConfig,
        template: PromptTemplate,
        ledger: Ledger,
        stats: StreamStats,
        progress: Progress,
    ) -> None:
        self._problems: Iterator[Problem] | None = problems
        self._template = template
        self._models = [teacher.model for teacher in config.all_teachers()]
        self._recorded = sampling_record(config.sampling)
        self._ledger = ledger
        self._stats = stats
        self._progress = progress
        self.adaptive = bool(config.adaptive.target_kept)
        self._target, self._budget = config.adaptive.target_kept, config.adaptive.max_samples
        self._step = config.sampling.n
        self._follow_ups: collections.deque[SampleRequest] = collections.deque()
        self._open: dict[str, int] = {}  # adaptive: problem id → draws asked for so far
        self._changed = threading.Condition()
        self._closed = False

    def poll(self, block: bool) -> SampleRequest | None:
        with self._changed:
            while not self._closed:
                if self._follow_ups:
                    return self._follow_ups.popleft()
                while self._problems is not None:
                    problem = next(self._problems, None)
                    if problem is None:
                        self._problems = None
                        break
                    first = min(self._step, self._budget) if self.adaptive else self._step
                    request = self._request(problem, first)
                    if request is not None:
                        return request
                    self._stats.problems_reused += 1
                    self._progress.problem_finished(reused=True)
                if not block or not self._open:
                    return None
                self._changed.wait()
            return None

    def report(self, problem: Problem, kept: int) -> None:
        """Adaptive mode: `problem`'s last request is verified and kept `kept` traces."""
        with self._changed:
            self._ledger.kept[problem.id] += kept
            request = self._request(problem, self._open.pop(problem.id))
            if request is not None:
                self._follow_ups.append(request)
            else:
                self._progress.problem_finished()
            self._changed.notify_all()

    def add_kept(self, problem_id: str, kept: int) -> None:
        with self._changed:
            if kept:
                self._ledger.kept[problem_id] += kept

    def close(self) -> None:
        """Wake and finish every waiting poll (the run is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _made(self, problem: Problem, messages: list[Message], index: int) -> bool:
        """Draw `index` is on disk, from any of the run's teachers."""
        return any(
            sample_key(problem.id, messages, self._template.hash, model, self._recorded, index)
            in self._ledger.done
            for model in self._models
        )

    def _request(self, problem: Problem, draws: int) -> SampleRequest | None:
        """The missing draws among the first `draws`; in adaptive mode, further rounds while the problem has
        fewer than `target_kept` kept traces and budget left. None when the problem is finished."""
        messages = self._template.messages(problem.problem)
        while True:
            missing = tuple(index for index in range(draws) if not self._made(problem, messages, index))
            if missing:
                if self.adaptive:
                    self._open[problem.id] = draws
                return SampleRequest(problem, missing)
            if not self.adaptive or self._ledger.kept[problem.id] >= self._target or draws >= self._budget:
                if self.adaptive:
                    self._ledger.kept.pop(problem.id, None)  # finished: nothing about it stays in memory
                return None
            draws = min(self._budget, draws + self._step)


@dataclass
class _Work:
    problem: Problem
    samples: list[Sample]
    then: str  # "report": tell the source (adaptive); "finished": the problem is done; "": catch-up
    verdict: SampleVerdict | None = None  # set: judged kept earlier, only its row is missing from the shards


class Checker:
    """The verifier beside the engine: a thread that verifies batches of finished samples in the process
    pool, appends their verdicts to the verdict journal and writes kept ones to the shards."""

    BATCH_SAMPLES = 256
    QUEUE_ITEMS = 1024  # the engine waits only if verification falls this far behind

    def __init__(
        self,
        config: RunConfig,
        verdicts: Journal,
        shards: ShardWriter,
        source: Source,
        progress: Progress,
        judge: ModelJudge | None,
    ) -> None:
        self._config = config
        self._judge = judge
        self._verdicts = verdicts
        self._shards = shards
        self._source = source
        self._progress = progress
        self._queue: queue.Queue[_Work | None] = queue.Queue(self.QUEUE_ITEMS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="factory-checker", daemon=True)
        self._thread.start()

    def submit(self, work: _Work) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(work)

    def drain(self) -> None:
        """Wait until everything submitted so far is verified."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Verify everything submitted, then close the shard (also after an error: finished rows are kept)."""
        self._queue.put(None)
        self._thread.join()
        self._shards.close()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        finished = False
        while not finished:
            batch: list[_Work] = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if sum(len(work.samples) for work in batch) >= self.BATCH_SAMPLES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            finished = item is None
            if batch and self._error is None:
                try:
                    self._check(batch)
                except BaseException as error:  # handed to the driver thread, which raises it
                    self._error = error
                    self._source.close()
            for _ in range(len(batch) + finished):
                self._queue.task_done()

    def _check(self, batch: list[_Work]) -> None:
        to_verify = [work for work in batch if work.verdict is None]
        problems = {work.problem.id: work.problem for work in to_verify}
        samples = [sample for work in to_verify for sample in work.samples]
        verdicts = list(verdicts_for(samples, problems, self._config.reject, self._judge))
        self._verdicts.append(verdict.to_dict() for verdict in verdicts)
        new_verdicts = iter(verdicts)  # in the order of `samples`: verdicts_for keeps the input order
        kept_of: Counter[str] = Counter()
        for work in batch:
            for sample in work.samples:
                verdict = work.verdict or next(new_verdicts)
                if verdict.kept:
                    self._shards.add(to_row(sample, verdict, work.problem))
                    kept_of[work.problem.id] += work.verdict is None
        self._progress.checked(len(verdicts), sum(kept_of.values()))
        for work in batch:
            if work.then == "report":
                self._source.report(work.problem, kept_of[work.problem.id])
            elif work.then == "finished":
                self._progress.problem_finished()
            elif work.verdict is None:  # caught up: adaptive rounds go by these kept counts too
                self._source.add_kept(work.problem.id, kept_of.pop(work.problem.id, 0))


class LazyTeacher:
    """The teacher, started on first use: a run with nothing to generate never loads an engine."""

    def __init__(self, start: Callable[[], Teacher]) -> None:
        self._start = start
        self._teacher: Teacher | None = None

    def get(self) -> Teacher:
        if self._teacher is None:
            self._teacher = self._start()
        return self._teacher

    def close(self) -> None:
        teacher, self._teacher = self._teacher, None
        if teacher is not None:
            teacher.close()


# What a teacher's thread hands the writer: a request's samples, its error, or None when it has finished.
_Result = list[Sample] | BaseException | None


def stream(
    config: RunConfig,
    run_dir: Path,
    template: PromptTemplate,
    read_problems: Callable[[], Iterator[Problem]],
    ledger: Ledger,
    scope: Scope,
    teachers: list[LazyTeacher],
    progress: Progress,
    judge: ModelJudge | None = None,
) -> StreamStats:
    """Catch up on what the last invocation left unverified or unshipped, then generate what is missing.
    Each teacher runs in a thread of its own, pulling from the one source; this thread writes the journal."""
    samples_dir, verdicts_dir = run_dir / "samples", run_dir / "verdicts"
    part = next_part(samples_dir, verdicts_dir)
    stats = StreamStats()
    verdicts = Journal(verdicts_dir / f"part-{part:05d}.jsonl")
    shards = ShardWriter(
        run_dir / "shards", f"train-{part:05d}", config.package.rows_per_shard, config.package.compression
    )
    source = Source(read_problems(), config, template, ledger, stats, progress)
    checker = Checker(config, verdicts, shards, source, progress, judge)
    tracked = _Tracked(source)
    results: queue.Queue[_Result] = queue.Queue()
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
    samples_journal: Journal | None = None
    errors: list[BaseException] = []
    try:
        if ledger.catch_up:
            _catch_up(read_problems(), samples_dir, ledger, scope, checker)
            checker.drain()  # adaptive rounds count the kept traces found here
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
            if samples_journal is None:
                samples_journal = Journal(samples_dir / f"part-{part:05d}.jsonl")
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
                checker.submit(_Work(problem, item, "report" if source.adaptive else "finished"))
    finally:
        stop.set()
        source.close()
        for thread in threads:
            thread.join(timeout=30)
        try:
            checker.close()
        finally:
            verdicts.close()
            if samples_journal is not None:
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
        threading.Thread(target=start_pool, args=(config.reject.workers,), daemon=True).start()
        engine = teacher.get()
        progress.teacher_started()
        for samples in engine.stream(_FirstThen(first, tracked), template, config.sampling):
            results.put(samples)
            if stop.is_set():
                break
    except BaseException as error:  # the driver raises it once the other teachers have finished
        results.put(error)
    finally:
        results.put(None)


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


class _FirstThen:
    """A request already taken from the source, then the source."""

    def __init__(self, first: SampleRequest, rest: _Tracked) -> None:
        self._first: SampleRequest | None = first
        self._rest = rest

    def poll(self, block: bool) -> SampleRequest | None:
        first, self._first = self._first, None
        return first if first is not None else self._rest.poll(block)


def _catch_up(
    problems: Iterable[Problem], samples_dir: Path, ledger: Ledger, scope: Scope, checker: Checker
) -> None:
    """Verify samples that have no verdict and write kept rows missing from the shards. Only the problems
    concerned are held, and only during this pass (all of them after a change of reject config)."""
    needed = {problem.id: problem for problem in problems if problem.id in ledger.catch_up}
    for key, sample in read_keyed_samples(samples_dir):
        problem = needed.get(sample.problem_id)
        if problem is None or not scope.uses(sample.problem_id, sample.sample_index):
            continue
        if key not in ledger.judged:
            ledger.judged.add(key)
            checker.submit(_Work(problem, [sample], ""))
        elif (verdict := ledger.unshipped.pop(key, None)) is not None:
            checker.submit(_Work(problem, [sample], "", verdict))
    ledger.catch_up.clear()
