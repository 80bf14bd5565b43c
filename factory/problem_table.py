"""The run's problems, in input order, on disk: a run of a million problems holds none of them in memory.

Held in memory, each problem cost its record, its id in a dict of golds, and packaging's dicts of its
statistics and kept traces: a run of 100,000 problems peaked at 467 MiB, so a million would not fit
(docs/scaling.md, "How far one driver goes"). Here they live in an SQLite file beside the run
(`.problems-<pid>.sqlite`, removed when the run ends; one a killed invocation left is removed by the next),
indexed by id, with SQLite's page cache as the only memory. Packaging keeps its per-trace tables in the
same file (`factory.package`).

One connection, used by one thread at a time: the teachers' threads take problems through the scheduler,
under its lock; the rest is the driver's thread, before and after the stream. The lock here makes any other
use safe too.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from factory.config import ProblemsConfig
from factory.errors import FactoryError
from factory.problems import Quarantine, read_problems
from factory.records import Problem

_PREFIX = ".problems-"
# Rows fetched at a time when streaming: few enough to stay small, enough that a query costs little.
_CHUNK = 1000
# SQLite's page cache, the table's only memory; the rest of the file stays in the OS's file cache. 8 MiB
# rather than 32: a run of 300,000 problems peaked 24 MiB lower, and ran no slower.
_CACHE_KIB = 8 * 1024


class ProblemTable:
    """Problems by position (input order) and by id. `position` is a problem's rank in the input; problems
    screened out leave gaps, so positions order problems but do not count them."""

    def __init__(self, run_dir: Path) -> None:
        for leftover in run_dir.glob(f"{_PREFIX}*.sqlite*"):  # a killed invocation's; the run folder is ours
            leftover.unlink()
        self.path = run_dir / f"{_PREFIX}{os.getpid()}.sqlite"
        self._lock = threading.RLock()
        # A scratch file: nothing in it must survive a crash, so no journal and no syncs; one process uses
        # it, so its lock is taken once (a run folder on a network filesystem pays for each lock).
        self.database = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with sqlite_disk_full(self.path):
            self.database.executescript(
                f"""
            PRAGMA locking_mode = EXCLUSIVE;
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -{_CACHE_KIB};
            PRAGMA temp_store = FILE;
            CREATE TABLE problems (
                position INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                problem TEXT NOT NULL,
                answer TEXT NOT NULL,
                source TEXT NOT NULL,
                meta BLOB
            );
            """
            )
        self.read = 0  # problems read, before screening
        self._count = 0

    @classmethod
    def read_from(
        cls, run_dir: Path, config: ProblemsConfig, without_answer: bool, quarantine: Quarantine
    ) -> Self:
        """The problems of `config`'s files, read once (see `read_problems`)."""
        table = cls(run_dir)
        try:
            with sqlite_disk_full(table.path):
                table.database.execute("BEGIN")  # one transaction: a million inserts take seconds
                for _ in read_problems(config, without_answer, quarantine, ids=table):
                    pass  # the table took each problem as it was read
                table.database.execute("COMMIT")
        except BaseException:
            table.close()
            raise
        return table

    def add(self, problem: Problem) -> str | None:
        """Take `problem` (`factory.problems.ReadIds`); the source of the earlier problem with its id, if any."""
        meta = pickle.dumps(problem.meta) if problem.meta else None  # pickled: Parquet's values stay as read
        with self._lock, sqlite_disk_full(self.path):
            try:
                self.database.execute(
                    "INSERT INTO problems (id, problem, answer, source, meta) VALUES (?, ?, ?, ?, ?)",
                    (problem.id, problem.problem, problem.answer, problem.source, meta),
                )
            except sqlite3.IntegrityError:
                (earlier,) = self.database.execute(
                    "SELECT source FROM problems WHERE id = ?", (problem.id,)
                ).fetchone()
                return str(earlier)
        self.read += 1
        self._count += 1
        return None

    def leave_out(self, positions: Iterable[int]) -> None:
        """Screen out the problems at `positions` (their places in `numbered()`)."""
        with self._lock, sqlite_disk_full(self.path):
            self.database.execute("BEGIN")
            removed = self.database.executemany(
                "DELETE FROM problems WHERE position = ?", ((position,) for position in positions)
            ).rowcount
            self.database.execute("COMMIT")
        self._count -= removed

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Problem]:
        for _, problem in self.numbered():
            yield problem

    def numbered(self) -> Iterator[tuple[int, Problem]]:
        """(position, problem) in input order, a chunk of rows at a time."""
        after = 0
        while True:
            with self._lock:
                rows = self.database.execute(
                    "SELECT position, id, problem, answer, source, meta FROM problems"
                    " WHERE position > ? ORDER BY position LIMIT ?",
                    (after, _CHUNK),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row[0], _problem(row[1:])
            after = rows[-1][0]

    def at(self, position: int) -> Problem:
        with self._lock:
            row = self.database.execute(
                "SELECT id, problem, answer, source, meta FROM problems WHERE position = ?", (position,)
            ).fetchone()
        if row is None:
            raise KeyError(position)
        return _problem(row)

    def get(self, problem_id: str) -> Problem | None:
        with self._lock:
            row = self.database.execute(
                "SELECT id, problem, answer, source, meta FROM problems WHERE id = ?", (problem_id,)
            ).fetchone()
        return _problem(row) if row is not None else None

    def __getitem__(self, problem_id: str) -> Problem:
        problem = self.get(problem_id)
        if problem is None:
            raise KeyError(problem_id)
        return problem

    def __contains__(self, problem_id: object) -> bool:
        return self.position(problem_id) is not None

    def position(self, problem_id: object) -> int | None:
        with self._lock:
            row = self.database.execute(
                "SELECT position FROM problems WHERE id = ?", (problem_id,)
            ).fetchone()
        return row[0] if row is not None else None

    def text(self, problem_id: str) -> str | None:
        with self._lock:
            row = self.database.execute("SELECT problem FROM problems WHERE id = ?", (problem_id,)).fetchone()
        return row[0] if row is not None else None

    def answer(self, problem_id: str) -> str | None:
        with self._lock:
            row = self.database.execute("SELECT answer FROM problems WHERE id = ?", (problem_id,)).fetchone()
        return row[0] if row is not None else None

    def without_answer(self) -> int:
        with self._lock:
            return int(self.database.execute("SELECT count(*) FROM problems WHERE answer = ''").fetchone()[0])

    def content_hash(self) -> str:
        """A hash of the problems in input order, with all that rows carry of them: packaging's order depends
        on the ids, and a row holds its problem's text, gold and columns, which an edit changes."""
        digest = hashlib.sha256()
        after = 0
        while True:
            with self._lock:
                rows = self.database.execute(
                    "SELECT position, id, problem, answer, meta FROM problems"
                    " WHERE position > ? ORDER BY position LIMIT ?",
                    (after, _CHUNK * 10),
                ).fetchall()
            if not rows:
                return digest.hexdigest()[:16]
            for _, problem_id, text, answer, meta in rows:
                for part in (problem_id, text, answer):
                    digest.update(part.encode() + b"\0")
                digest.update((meta or b"") + b"\0")
            after = rows[-1][0]

    def ids(self) -> Iterator[tuple[int, str]]:
        """(position, id) in input order."""
        after = 0
        while True:
            with self._lock:
                rows = self.database.execute(
                    "SELECT position, id FROM problems WHERE position > ? ORDER BY position LIMIT ?",
                    (after, _CHUNK * 10),
                ).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def golds(self) -> GoldHashes:
        return GoldHashes(self)

    def close(self) -> None:
        with self._lock:
            self.database.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class GoldHashes:
    """Each problem's gold answer as a hash, by id (`factory.ledger.Scope.golds`)."""

    def __init__(self, table: ProblemTable) -> None:
        self._table = table

    def get(self, problem_id: str) -> int | None:
        answer = self._table.answer(problem_id)
        return hash(answer) if answer is not None else None

    def __contains__(self, problem_id: object) -> bool:
        return problem_id in self._table


@contextmanager
def sqlite_disk_full(path: Path) -> Iterator[None]:
    """A write to the SQLite file `path` refused for want of space becomes one line, as `disk_full` does."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "full" not in str(error):
            raise
        raise FactoryError(
            f"no space left on device writing {path}; free space and run the same command again"
        ) from None


def _problem(row: tuple[Any, ...]) -> Problem:
    problem_id, text, answer, source, meta = row
    return Problem(problem_id, text, answer, source, pickle.loads(meta) if meta is not None else {})
