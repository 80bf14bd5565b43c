"""The verifier and the curator beside the engine: a thread that verifies batches of finished samples in the
process pool, appends their verdicts to the verdict journal, and curates each problem once all its draws are
verified, appending the decision to the curation journal.

A problem's samples wait here (in memory) only until its last draw is verified: in fixed-n mode a request
brings all its missing draws at once, so only problems half-made by an earlier, interrupted invocation wait
for their new draws; in adaptive mode a problem waits between rounds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from factory.config import RunConfig
from factory.curate import Curator
from factory.judge import ModelJudge
from factory.ledger import NO_GOLD, Ledger, Scope, read_keyed_samples, read_verdicts
from factory.problem_table import ProblemTable
from factory.progress import Progress
from factory.records import Problem, ProblemCuration, ProblemVote, Sample, SampleVerdict
from factory.reject import Gold, majority_gold, undecided_verdicts, verdicts_for, verify_config
from factory.scheduler import Source
from factory.storage import Journal
from filters import Status, check_answer

NEW, ON_DISK, FINISHED = "new", "on_disk", "finished"


@dataclass
class Work:
    problem: Problem
    samples: list[Sample]
    kind: str  # NEW: made now by a teacher; ON_DISK: made by an earlier invocation; FINISHED: needs no draw
    verdicts: dict[str, SampleVerdict] = field(default_factory=dict)  # ON_DISK: the verdicts found


@dataclass
class _Problem:
    """A problem whose draws are not all verified yet."""

    problem: Problem
    samples: dict[int, Sample] = field(default_factory=dict)
    verdicts: dict[str, SampleVerdict] = field(default_factory=dict)


@dataclass
class Journals:
    verdicts: Journal
    votes: Journal
    curated: Journal

    def close(self) -> None:
        for journal in (self.verdicts, self.votes, self.curated):
            journal.close()


class Checker:
    BATCH_SAMPLES = 256
    QUEUE_ITEMS = 1024  # the engine waits only if verification falls this far behind

    def __init__(
        self,
        config: RunConfig,
        journals: Journals,
        curator: Curator,
        source: Source,
        progress: Progress,
        judge: ModelJudge | None,
        votes: Mapping[str, ProblemVote],
    ) -> None:
        self._config = config
        self._max_draws = config.max_draws()
        self._journals = journals
        self._curator = curator
        self._source = source
        self._progress = progress
        self._judge = judge
        self._votes = dict(votes)
        self._waiting: dict[str, _Problem] = {}
        self._queue: queue.Queue[Work | None] = queue.Queue(self.QUEUE_ITEMS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="factory-checker", daemon=True)
        self._thread.start()

    def submit(self, work: Work) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(work)

    def drain(self) -> None:
        """Wait until everything submitted so far is verified."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Verify and curate everything submitted, then stop (also after an error: finished work is kept)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        finished = False
        while not finished:
            batch: list[Work] = []
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

    def _check(self, batch: list[Work]) -> None:
        for work in batch:
            if work.kind != FINISHED:
                waiting = self._waiting.setdefault(work.problem.id, _Problem(work.problem))
                waiting.samples.update((sample.sample_index, sample) for sample in work.samples)
                waiting.verdicts.update(work.verdicts)
        # A problem without a gold is verified once its samples have voted on one, when it is finished.
        to_verify = [
            sample
            for work in batch
            if work.problem.answer != NO_GOLD and work.kind != FINISHED
            for sample in work.samples
            if sample.key() not in self._waiting[work.problem.id].verdicts
        ]
        new = self._record(verdicts_for(to_verify, self._problems(batch), self._config.reject, self._judge))
        for verdict in new:
            self._waiting[verdict.problem_id].verdicts[verdict.sample_key] = verdict
        votes: list[ProblemVote] = []
        curations: list[ProblemCuration] = []
        try:
            for work in batch:
                waiting = self._waiting.get(work.problem.id)
                if waiting is not None and self._finished(work, waiting):
                    curations.append(self._curate(self._waiting.pop(work.problem.id), votes))
                    if work.kind == NEW and not self._source.adaptive:
                        self._progress.problem_finished()
        finally:  # what was finished before an error is kept, as one problem at a time kept it
            # One fsync per journal and batch, after the batch's verdicts: a sync per problem bounded the
            # run by the disk (tests/bench/bench_driver.py). A vote is written before the curation made
            # with it.
            if votes:
                self._journals.votes.append(vote.to_dict() for vote in votes)
            if curations:
                self._journals.curated.append(curation.to_dict() for curation in curations)
                self._progress.checked(0, sum(len(curation.kept) for curation in curations))

    def _finished(self, work: Work, waiting: _Problem) -> bool:
        if work.kind == FINISHED:
            return True
        if not self._source.adaptive:
            return len(waiting.samples) >= self._max_draws
        passing = sum(
            self._curator.passes(self._curator.trace(sample, verdict, work.problem))
            for sample in work.samples
            if (verdict := waiting.verdicts.get(sample.key())) is not None
        )
        if work.kind == NEW:
            return self._source.report(work.problem, passing)
        self._source.add_passing(work.problem.id, passing)
        return False  # the source tells when it passes the problem: it may want more draws

    def _curate(self, waiting: _Problem, votes: list[ProblemVote]) -> ProblemCuration:
        """The problem's curation, to be written; a vote made for it now is added to `votes`."""
        problem = waiting.problem
        samples = [waiting.samples[index] for index in sorted(waiting.samples)]
        vote = self._vote(problem, samples, votes) if self._config.reject.majority else None
        if problem.answer == NO_GOLD:
            assert vote is not None  # the run refuses problems without a gold unless reject.majority is set
            gold, reason = vote.answer or "", f"no_majority_{vote.reason}"
            # Only samples whose verdict was made against another majority (or none yet) are verified.
            stale = [
                sample
                for sample in samples
                if (verdict := waiting.verdicts.get(sample.key())) is None
                or verdict.gold != gold
                or (vote.answer is None and verdict.reason != reason)
            ]
            if vote.answer is None:
                new = undecided_verdicts(stale, reason)
            else:
                golds = {problem.id: Gold(vote.answer, "majority")}
                new = verdicts_for(stale, {problem.id: problem}, self._config.reject, self._judge, golds)
            waiting.verdicts.update((verdict.sample_key, verdict) for verdict in self._record(new))
        pairs = [(sample, waiting.verdicts[sample.key()]) for sample in samples]
        return self._curator.curate(problem, pairs, len(samples), vote)

    def _vote(self, problem: Problem, samples: list[Sample], votes: list[ProblemVote]) -> ProblemVote:
        """The samples' vote, made once per problem and number of draws (re-curation reuses it); one made
        now is added to `votes`, to be written."""
        known = self._votes.pop(problem.id, None)
        if known is not None and (known.drawn, known.gold) == (len(samples), problem.answer):
            return known
        reject = self._config.reject
        vote = majority_gold(samples, len(samples), reject)
        disagrees = False
        if problem.answer != NO_GOLD and vote.answer is not None:
            same = check_answer(problem.answer, vote.answer, verify_config(reject), workers=reject.workers)
            disagrees = same.status == Status.INCORRECT  # "cannot tell" is not a disagreement
        record = ProblemVote(
            problem.id,
            problem.answer,
            len(samples),
            vote.answer,
            vote.votes,
            round(vote.share, 4),
            vote.reason,
            disagrees,
        )
        votes.append(record)
        return record

    def _record(self, verdicts: Iterable[SampleVerdict]) -> list[SampleVerdict]:
        """Append new verdicts to the verdict journal."""
        made = list(verdicts)
        if made:
            self._journals.verdicts.append(verdict.to_dict() for verdict in made)
            self._progress.checked(len(made), 0)
        return made

    @staticmethod
    def _problems(batch: list[Work]) -> dict[str, Problem]:
        return {work.problem.id: work.problem for work in batch}


def catch_up(problems: ProblemTable, run_dir: Path, ledger: Ledger, scope: Scope, checker: Checker) -> None:
    """Hand the checker the samples on disk of every problem not curated yet, with their verdicts: it
    verifies those without one and curates each problem whose draws are all there."""
    verdicts = {
        verdict.sample_key: verdict
        for verdict in read_verdicts(run_dir / "verdicts", scope)
        if verdict.problem_id in ledger.catch_up
    }
    for key, sample in read_keyed_samples(run_dir / "samples"):
        if sample.problem_id in ledger.catch_up and scope.uses(sample.problem_id, sample.sample_index):
            verdict = verdicts.pop(key, None)
            known = {key: verdict} if verdict is not None else {}
            checker.submit(Work(problems[sample.problem_id], [sample], ON_DISK, known))
    ledger.catch_up.clear()
