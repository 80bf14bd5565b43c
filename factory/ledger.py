"""What a run folder holds when an invocation starts, as keys: the samples made, the samples verified, the
problems curated. Verdicts made under another verify config, curation under another curate config, and
verdicts against a gold that has changed are removed here, so that what follows only adds.

    samples/part-*.jsonl   every teacher sample (the only thing that costs teacher compute)
    verdicts/part-*.jsonl  the verifier's outcome per sample          fingerprint: stages/verdicts.done
    curated/part-*.jsonl   the curate stage's decision per problem    fingerprint: stages/curated.done
    shards/                the kept rows, rebuilt from the above      fingerprint: stages/shards.done
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from factory import terminal
from factory.errors import FactoryError
from factory.judge import JUDGE_ERROR
from factory.records import (
    FieldError,
    Message,
    Problem,
    ProblemCuration,
    ProblemVote,
    Record,
    RecordError,
    Sample,
    SampleVerdict,
    sample_key,
)
from factory.storage import (
    Journal,
    StageMarkers,
    disk_full,
    drop_torn_tail,
    numbered_rows,
    read_journal,
    write_jsonl,
)

PART_GLOB = "part-*.jsonl"
NO_GOLD = ""  # a problem that came without an answer: its gold is its samples' majority answer
# The samples of problems edited since they were drawn: kept (the teacher's work was paid for), never used.
STALE_SAMPLES = "stale_samples"
# Each problem's prompt today, by id (None for a problem not in this run).
Asked = Callable[[str], list[Message] | None]

R = TypeVar("R", bound=Record)


class Golds(Protocol):
    """Each problem's gold answer as a hash, by id: a dict, or `factory.problem_table.GoldHashes` on disk."""

    def get(self, problem_id: str) -> int | None: ...

    def __contains__(self, problem_id: object) -> bool: ...


@dataclass(frozen=True)
class Scope:
    """The samples this config uses (a smaller limit_per_file or n leaves others on disk, unused) and each
    problem's gold answer today (as a hash: a verdict against another gold is stale)."""

    golds: Golds
    max_draws: int

    @classmethod
    def of(cls, problems: Iterable[Problem], max_draws: int) -> Scope:
        """The scope of `problems` as they are today, up to `max_draws` draws each."""
        return cls({problem.id: hash(problem.answer) for problem in problems}, max_draws)

    def uses(self, problem_id: str, index: int) -> bool:
        return problem_id in self.golds and index < self.max_draws

    def stale(self, verdict: SampleVerdict) -> bool:
        return self.stale_gold(verdict.problem_id, verdict.gold, verdict.gold_source)

    def stale_gold(self, problem_id: str, gold: str, source: str) -> bool:
        """A verdict or curation made against `gold` no longer holds: the problem's gold has changed."""
        today = self.golds.get(problem_id)
        if today is None:
            return False
        return today != hash(NO_GOLD if source == "majority" else gold)


def read_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every complete line of every journal in `folder`, oldest part first."""
    for part in sorted(folder.glob(PART_GLOB)):
        yield from read_journal(part)


def read_typed(folder: Path, record: type[R], aside: SetAside | None = None) -> Iterator[R]:
    """Every record in the journals of `folder`, oldest part first (see `_rows_of`). With `aside`, the
    sample lines it takes are moved to `folder/QUARANTINE` once all are read, as `SetAside.move` says."""
    for part in sorted(folder.glob(PART_GLOB)):
        for _, typed in _rows_of(part, record, aside):
            yield typed
    if aside:
        aside.move(folder)


def _rows_of(
    part: Path, record: type[R], aside: SetAside | None = None
) -> Iterator[tuple[dict[str, Any], R]]:
    """(line, record) for each complete line of the journal `part`; a line that is no `record` this
    factory reads (another factory version wrote it) stops with one line naming the file and line. So does
    a line with a value no record may hold (`FieldError`), unless `aside` takes it: it is then passed over."""
    for number, row in numbered_rows(part):
        try:
            typed = record.from_dict(row)
        except RecordError as error:
            if aside is None or not isinstance(error, FieldError):
                raise FactoryError(f"{part}:{number}: {error}") from None
            aside.add(part, number, str(error), row)
            continue
        yield row, typed


# Beside the journals of a folder: lines set aside (`SetAside`), never read as records.
QUARANTINE = "quarantine.jsonl"


class SetAside:
    """Sample lines holding a value no sample may (an object as the reasoning, a count over 2^53): an older
    factory journaled such answers, and every later run died on them, since a sample on disk is never asked
    again. `read_typed` passes them over; `move` takes them out of the journals, so that their draws are
    made again. `samples` (key → problem id) is what was made from them (verdicts, curations), for the
    reader to drop."""

    def __init__(self) -> None:
        self.samples: dict[str, str] = {}
        self._lines: list[tuple[Path, int, str, Any]] = []  # (journal, line number, reason, row)

    def __bool__(self) -> bool:
        return bool(self._lines)

    def add(self, part: Path, number: int, reason: str, row: dict[str, Any]) -> None:
        self._lines.append((part, number, reason, row))
        problem = row["problem_id"]  # a FieldError comes after every field was found
        try:
            key = sample_key(
                problem,
                row["messages"],
                row["prompt_hash"],
                row["teacher_model"],
                row["sampling"],
                row["sample_index"],
            )
        except (AttributeError, TypeError):  # values no sample was ever made with: nothing was made from it
            return
        if isinstance(problem, str):
            self.samples[key] = problem

    def move(self, folder: Path) -> None:
        """Append the lines, with where each was and why, to `folder/QUARANTINE`, then rewrite their journals
        without them, and say so in one line. In that order: a crash in between leaves a line in both
        places, and the next read moves it again."""
        quarantine = folder / QUARANTINE
        with disk_full(quarantine), quarantine.open("a", encoding="utf-8") as handle:
            for part, number, reason, row in self._lines:
                line = {"where": f"{part}:{number}", "reason": reason, "row": row}
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        for part in dict.fromkeys(part for part, *_ in self._lines):
            moved = {number for at, number, *_ in self._lines if at == part}
            write_jsonl(part, (row for number, row in numbered_rows(part) if number not in moved))
        count = len(self._lines)
        part, number, reason, _ = self._lines[0]
        terminal.echo(
            f"set aside {count} sample {'line' if count == 1 else 'lines'} with a value no sample may hold "
            f"({'first: ' if count > 1 else ''}{part.name}:{number}: {reason}) in {quarantine}; "
            f"{'its draw is' if count == 1 else 'their draws are'} made again"
        )


def read_keyed_samples(samples_dir: Path) -> Iterator[tuple[str, Sample]]:
    """(key, sample) for every complete sample on disk, each key once: callers need not hash it again."""
    seen = KeySet()
    for sample in read_typed(samples_dir, Sample):
        key = sample.key()
        if key not in seen:
            seen.add(key)
            yield key, sample


def read_verdicts(verdicts_dir: Path, scope: Scope) -> Iterator[SampleVerdict]:
    """The verdicts of the samples in scope, oldest first. A sample verified twice (a majority gold that
    changed with new draws) has both; the later one holds."""
    for verdict in read_typed(verdicts_dir, SampleVerdict):
        if scope.uses(verdict.problem_id, verdict.sample_index):
            yield verdict


def read_curated(curated_dir: Path, problem_ids: Container[str] | None = None) -> Iterator[ProblemCuration]:
    """The curation of each problem (of those in `problem_ids`, when given), once."""
    seen = IdSet()
    for curation in read_typed(curated_dir, ProblemCuration):
        wanted = problem_ids is None or curation.problem_id in problem_ids
        if wanted and curation.problem_id not in seen:
            seen.add(curation.problem_id)
            yield curation


def read_votes(run_dir: Path, problem_ids: Container[str]) -> dict[str, ProblemVote]:
    """The last vote of each of the problems `problem_ids` (`reject.majority`)."""
    return {
        vote.problem_id: vote
        for vote in read_typed(run_dir / "votes", ProblemVote)
        if vote.problem_id in problem_ids
    }


def next_part(*folders: Path) -> int:
    """This invocation's journal number: one past the highest in any of the folders."""
    numbers = [int(path.stem.split("-")[1]) for folder in folders for path in folder.glob(PART_GLOB)]
    return 1 + max(numbers, default=-1)


class _NumberSet:
    """A set of 128-bit numbers in 16 bytes each: sorted arrays (two 64-bit halves), and a Python set of the
    latest additions until there are enough of them to merge. A million sample keys grew the RSS by 26 MiB
    here, against 108 MiB as ints in a set and 124 MiB as the hex strings in a set (measured once).

    One thread adds while others ask (adaptive runs: the writer adds keys, the teachers' polls and the
    checker ask): a merge publishes its arrays in one assignment before it empties the recent set, and a
    question reads the arrays once, so it never sees a key in neither."""

    _MERGE_EVERY = 1 << 16

    def __init__(self, items: Iterable[str] = ()) -> None:
        self._recent: set[int] = set()
        self._removed: set[int] = set()  # of the merged ones (rare: a curation found stale)
        self._merged: tuple[Any, Any] | None = None  # (high, low) numpy arrays, sorted by (high, low)
        self.update(items)

    @staticmethod
    def _number(item: str) -> int:
        raise NotImplementedError

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and self._has(self._number(item))

    def _has(self, number: int) -> bool:
        if number in self._recent:
            return True
        merged = self._merged
        if merged is None or number in self._removed:
            return False
        high, low = merged
        wanted_high, wanted_low = number >> 64, number & _LOW_BITS
        at = int(high.searchsorted(high.dtype.type(wanted_high)))
        while at < len(high) and int(high[at]) == wanted_high:  # int(): exact on any numpy
            if int(low[at]) == wanted_low:
                return True
            at += 1
        return False

    def __len__(self) -> int:
        merged = 0 if self._merged is None else len(self._merged[0]) - len(self._removed)
        return merged + len(self._recent)

    def add(self, item: str) -> None:
        number = self._number(item)
        if number in self._removed:
            self._removed.discard(number)
        elif not self._has(number):
            self._recent.add(number)
            if len(self._recent) >= self._MERGE_EVERY:
                self._merge()

    def update(self, items: Iterable[str]) -> None:
        for item in items:
            self.add(item)

    def discard(self, item: str) -> None:
        number = self._number(item)
        if number in self._recent:
            self._recent.discard(number)
        elif self._has(number):
            self._removed.add(number)

    def _merge(self) -> None:
        import numpy as np  # here: `import factory` stays light

        numbers = sorted(self._recent)
        high = np.fromiter((number >> 64 for number in numbers), np.uint64, len(numbers))
        low = np.fromiter((number & _LOW_BITS for number in numbers), np.uint64, len(numbers))
        if self._merged is not None:
            high, low = np.concatenate([self._merged[0], high]), np.concatenate([self._merged[1], low])
            order = np.lexsort((low, high))
            high, low = high[order], low[order]
        self._merged = (high, low)
        self._recent = set()


_LOW_BITS = (1 << 64) - 1


class KeySet(_NumberSet):
    """Sample keys (`Sample.key`, 32 hex digits: a 128-bit number), asked and filled as written."""

    @staticmethod
    def _number(item: str) -> int:
        return int(item, 16)


class IdSet(_NumberSet):
    """Problem ids, each held as a 128-bit hash of it: a collision is as unlikely as two samples' keys."""

    @staticmethod
    def _number(item: str) -> int:
        return int.from_bytes(hashlib.blake2b(item.encode(), digest_size=16).digest(), "big")


@dataclass
class Ledger:
    """What is on disk when an invocation starts, as keys."""

    done: KeySet = field(default_factory=KeySet)  # samples made
    judged: KeySet = field(default_factory=KeySet)  # samples with a verdict under this verify config
    curated: IdSet = field(default_factory=IdSet)  # problems curated under this curate config
    catch_up: set[str] = field(default_factory=set)  # problems with samples on disk, not curated yet
    passing: Counter[str] = field(default_factory=Counter)  # adaptive: problem id → traces that pass so far
    changed: set[str] = field(default_factory=set)  # problems edited since their samples were drawn

    @classmethod
    def read(
        cls, run_dir: Path, verify_inputs: str, curate_inputs: str, scope: Scope, asked: Asked
    ) -> Ledger:
        """Read the run folder, first removing what the configs no longer make: verdicts of another verify
        config (and all curation with them), curation of another curate config, verdicts against a gold
        that has changed or that the model judge could not give (and the curation of their problems).
        Samples asked with another prompt than `asked` gives their problem today (its text was edited) are
        set aside in `STALE_SAMPLES/`, with their verdicts, votes and curation: the problem is drawn again."""
        ledger = cls()
        samples_dir, verdicts_dir, curated_dir = (
            run_dir / name for name in ("samples", "verdicts", "curated")
        )
        markers = StageMarkers(run_dir)
        if not markers.is_done("verdicts", verify_inputs):
            for folder in (verdicts_dir, run_dir / "votes", curated_dir):
                _remove_journals(folder)
            markers.mark_done("verdicts", verify_inputs)
        if not markers.is_done("curated", curate_inputs):
            _remove_journals(curated_dir)
            markers.mark_done("curated", curate_inputs)
        for folder in (samples_dir, verdicts_dir, run_dir / "votes", curated_dir):
            for part in folder.glob(PART_GLOB):
                drop_torn_tail(part)
        redo = _drop_lines(
            verdicts_dir,
            SampleVerdict,
            lambda verdict: scope.stale(verdict) or verdict.reason == JUDGE_ERROR,
        )
        if redo:  # a vote's agreement with the gold, and the curation, go with the verdicts
            _drop_lines(run_dir / "votes", ProblemVote, lambda vote: vote.problem_id in redo)
            _drop_lines(curated_dir, ProblemCuration, lambda curation: curation.problem_id in redo)
        stale: set[str] = set()
        for curation in read_curated(curated_dir, scope.golds):
            made_against_another_gold = scope.stale_gold(
                curation.problem_id, curation.gold, curation.gold_source
            )
            (stale if made_against_another_gold else ledger.curated).add(curation.problem_id)
        ledger.judged = KeySet(verdict.sample_key for verdict in read_verdicts(verdicts_dir, scope))
        prompt = _LastPrompt(asked)
        outdated: dict[str, str] = {}  # sample key → its problem, for samples of an edited problem
        aside = SetAside()  # lines no sample may hold, which an older factory journaled
        for sample in read_typed(samples_dir, Sample, aside):
            key = sample.key()
            if key in ledger.done or key in outdated:
                continue  # each key once (`read_keyed_samples`), without a second set of a million keys
            today = prompt.of(sample.problem_id)
            if today is not None and sample.messages != today:
                outdated[key] = sample.problem_id
                continue
            ledger.done.add(key)
            if not scope.uses(sample.problem_id, sample.sample_index):
                continue
            if key not in ledger.judged and sample.problem_id in ledger.curated:
                stale.add(sample.problem_id)  # curated without this sample's verdict: not to be trusted
                ledger.curated.discard(sample.problem_id)
            if sample.problem_id not in ledger.curated:
                ledger.catch_up.add(sample.problem_id)
        if stale:  # each problem has one curation line: the next is written when it is curated again
            _drop_lines(curated_dir, ProblemCuration, lambda curation: curation.problem_id in stale)
        if outdated or aside:
            _set_aside(run_dir, outdated | aside.samples)
            # Read again: the problems' current samples, if any, are caught up now their curation is gone.
            again = cls.read(run_dir, verify_inputs, curate_inputs, scope, asked)
            again.changed = set(outdated.values())
            return again
        return ledger


class _LastPrompt:
    """`asked`, remembering the last problem's answer: a journal holds a problem's draws side by side."""

    def __init__(self, asked: Asked) -> None:
        self._asked = asked
        self._last: tuple[str, list[Message] | None] | None = None

    def of(self, problem_id: str) -> list[Message] | None:
        if self._last is None or self._last[0] != problem_id:
            self._last = (problem_id, self._asked(problem_id))
        return self._last[1]


def _remove_journals(folder: Path) -> None:
    """The journals in `folder`, and nothing else a user may have put there."""
    for part in folder.glob(PART_GLOB):
        part.unlink()


def _set_aside(run_dir: Path, outdated: dict[str, str]) -> None:
    """Move the samples `outdated` (key → problem) out of the journals into `STALE_SAMPLES`, and drop their
    verdicts and their problems' votes and curations. Appended there (and synced) before the journals are
    rewritten: a crash in between leaves a sample in both places, and the next invocation moves it again."""
    samples_dir, aside_dir = run_dir / "samples", run_dir / STALE_SAMPLES
    aside = Journal(aside_dir / f"part-{next_part(aside_dir):05d}.jsonl")
    try:
        for part in sorted(samples_dir.glob(PART_GLOB)):
            rows = [row for row, sample in _rows_of(part, Sample) if sample.key() in outdated]
            if rows:
                aside.append(rows)
    finally:
        aside.close()
    _drop_lines(samples_dir, Sample, lambda sample: sample.key() in outdated)
    _drop_lines(run_dir / "verdicts", SampleVerdict, lambda verdict: verdict.sample_key in outdated)
    problems = set(outdated.values())
    _drop_lines(run_dir / "votes", ProblemVote, lambda vote: vote.problem_id in problems)
    _drop_lines(run_dir / "curated", ProblemCuration, lambda curation: curation.problem_id in problems)


def _drop_lines(folder: Path, record: type[R], redo: Callable[[R], bool]) -> set[str]:
    """Rewrite (atomically) the journals in `folder` that hold records to `redo`, without them, each line
    kept as it was written; the problem ids of the records dropped."""
    problems: set[str] = set()
    for part in sorted(folder.glob(PART_GLOB)):
        dropped = {
            typed.problem_id  # type: ignore[attr-defined]  # every journal's records are of one problem
            for _, typed in _rows_of(part, record)
            if redo(typed)
        }
        if dropped:
            write_jsonl(part, (row for row, typed in _rows_of(part, record) if not redo(typed)))
            problems |= dropped
    return problems
