"""Stage 4: kept samples → Parquet shards that `datasets` loads and TRL's `SFTTrainer` trains on as they are.

Column choice: `prompt` is TRL's conversational prompt, the list of chat messages the teacher saw (system +
user), and `completion` is the one-message assistant turn holding the trace. TRL then computes the loss on
the completion only. The design's `prompt, trace, answer` are these `prompt`, plus `trace` (the same text
as the completion, as a plain string) and `answer` (the verified final answer). Everything else is
provenance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import random
import re
import sqlite3
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from factory.card import card_sample
from factory.config import PackageConfig, PreferenceConfig
from factory.corpus import DECONTAMINATE_UNIT, dedup_unit_name
from factory.errors import FactoryError
from factory.ledger import read_typed
from factory.problem_table import ProblemTable, sqlite_disk_full
from factory.problems import KEPT_COLUMNS, REFERENCE_SOLUTION
from factory.records import Exclusion, KeptTrace, Problem, ProblemCuration, Record, Sample
from factory.reject import teacher_name
from factory.storage import (
    StageMarkers,
    atomic_open,
    creating,
    disk_full,
    fingerprint,
    write_json,
    write_jsonl,
)
from filters.curation import VERIFIER_UNIT
from filters.dedup import DuplicateFinder
from filters.selectors import fair_quotas

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),
        ("completion", _MESSAGES),
        ("trace", pa.string()),
        ("answer", pa.string()),
        ("gold_answer", pa.string()),
        ("gold_source", pa.string()),  # given | majority: the gold was the teacher's majority answer
        ("vote_share", pa.float64()),  # the majority answer's share of the problem's draws (majority on)
        ("problem", pa.string()),
        ("problem_id", pa.string()),
        ("sample_index", pa.int32()),
        ("reasoning", pa.string()),
        ("teacher_backend", pa.string()),
        ("teacher_model", pa.string()),
        ("sampling_params", pa.string()),  # JSON: one schema however the params evolve
        ("prompt_template", pa.string()),
        ("prompt_hash", pa.string()),
        ("verdict_status", pa.string()),
        ("verdict_reason", pa.string()),
        ("verifier", pa.string()),
        ("answer_found_by", pa.string()),  # boxed, marker, last_number...: how the verifier found the answer
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("sample_key", pa.string()),
        # The gold as the input wrote it, where `gold_answer` was read from it (a GSM8K or MATH solution).
        ("reference_solution", pa.string()),
    ]
)


# `ShardWriter`'s file names: `<config>-<number>[-<version>].parquet`.
SHARD_NAME = re.compile(r"(train|preference|rejected)-\d{5}(-[0-9a-f]+)?\.parquet")


def shard_files(shards_dir: Path) -> list[Path]:
    """The shards in `shards_dir` this factory wrote, in name order; a user's own files there are not."""
    return sorted(path for path in shards_dir.glob("*.parquet") if SHARD_NAME.fullmatch(path.name))


def to_row(sample: Sample, kept: KeptTrace, problem: Problem, curation: ProblemCuration) -> dict[str, Any]:
    """A train row: SCHEMA's columns, then the input columns the problem carries (`problems.keep_columns`)."""
    trace = sample.trace_text()
    return {
        "prompt": sample.messages,
        "completion": [{"role": "assistant", "content": trace}],
        "trace": trace,
        "answer": kept.answer,
        "gold_answer": curation.gold,
        "gold_source": curation.gold_source,
        "vote_share": curation.vote_share,
        "problem": problem.problem,
        "problem_id": sample.problem_id,
        "sample_index": sample.sample_index,
        "reasoning": sample.reasoning,
        "teacher_backend": sample.teacher_backend,
        "teacher_model": sample.teacher_model,
        "sampling_params": json.dumps(sample.sampling, sort_keys=True),
        "prompt_template": sample.prompt_template,
        "prompt_hash": sample.prompt_hash,
        "verdict_status": kept.status,
        "verdict_reason": kept.reason,
        "verifier": kept.verifier,
        "answer_found_by": kept.found_by,
        "finish_reason": sample.finish_reason,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "latency_s": sample.latency_s,
        "sample_key": kept.sample_key,
        "reference_solution": problem.meta.get(REFERENCE_SOLUTION),
        **problem.meta.get(KEPT_COLUMNS, {}),
    }


_DROP_COLUMNS = [
    ("drop_unit", pa.string()),  # the curation unit that dropped the sample: verifier, truncated, budget...
    ("drop_reason", pa.string()),  # its reason: wrong_answer, no_answer, truncated, duplicate...
    ("drop_detail", pa.string()),  # JSON: what the drop points at (the copy kept, the evaluation item...)
]
REJECTED_SCHEMA = pa.schema([*SCHEMA, *_DROP_COLUMNS])


def to_rejected_row(
    sample: Sample, exclusion: Exclusion, problem: Problem, curation: ProblemCuration
) -> dict[str, Any]:
    """A dropped sample as a row of the `rejected` config: the train row's columns (the answer is what the
    verifier extracted) and why it was dropped."""
    verdict = KeptTrace(
        sample_key=exclusion.sample_key,
        sample_index=exclusion.sample_index,
        answer=exclusion.answer,
        found_by=None,
        status=exclusion.status or None,  # type: ignore[arg-type]  # unknown in journals before it was kept
        reason=exclusion.reason if exclusion.unit == VERIFIER_UNIT else None,  # type: ignore[arg-type]
        verifier=None,  # type: ignore[arg-type]
        teacher=exclusion.teacher,
    )
    return {
        **to_row(sample, verdict, problem, curation),
        "drop_unit": exclusion.unit,
        "drop_reason": exclusion.reason,
        "drop_detail": json.dumps(exclusion.detail, sort_keys=True) if exclusion.detail else None,
    }


PREFERENCE_SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),  # TRL's conversational preference format: DPOTrainer reads it as it is
        ("chosen", _MESSAGES),
        ("rejected", _MESSAGES),
        ("problem_id", pa.string()),
        ("policy", pa.string()),  # random | shortest_longest | common_wrong
        ("chosen_answer", pa.string()),
        ("rejected_answer", pa.string()),
        ("chosen_sample_key", pa.string()),
        ("rejected_sample_key", pa.string()),
    ]
)


def to_pair(samples: dict[str, Sample], pair: PreferencePair, policy: str) -> dict[str, Any]:
    chosen, rejected = samples[pair.chosen.sample_key], samples[pair.rejected_key]
    return {
        "prompt": chosen.messages,
        "chosen": [{"role": "assistant", "content": chosen.trace_text()}],
        "rejected": [{"role": "assistant", "content": rejected.trace_text()}],
        "problem_id": pair.problem_id,
        "policy": policy,
        "chosen_answer": pair.chosen.answer,
        "rejected_answer": pair.rejected_answer,
        "chosen_sample_key": pair.chosen.sample_key,
        "rejected_sample_key": pair.rejected_key,
    }


class ShardWriter:
    """Rows go into the open shard as they arrive, converted to Arrow a batch at a time and written a row
    group at a time (`row_group_bytes`); a shard is closed before it would pass `max_shard_bytes`: Hugging
    Face's conventions (files under 500 MB, row groups near 100 MB), so the Hub's viewer and `datasets`
    stream them. Sizes are counted before compression, so the files come out smaller than the limits.

    A shard is written under a hidden temporary name and renamed into place once full or when the writer
    closes, so a reader never sees a torn Parquet file (a writer stopped by an error removes its temporary
    file as the `with` block ends; a killed one leaves it, and the next packaging removes it). No shard is
    written without rows: `datasets` fails on a Parquet file of 0 rows.

    `version` ends each file name (`train-00000-<version>.parquet`): `datasets` caches a folder loaded
    through its card by the folder's name and the card's file list, not by the files' contents, so a
    folder packaged again under the same names would load its old rows from the cache."""

    BATCH = 256  # rows converted to Arrow at a time: the size of a row is known once converted

    def __init__(
        self,
        shards_dir: Path,
        prefix: str,
        schema: pa.Schema,
        max_shard_bytes: int,
        row_group_bytes: int,
        compression: str,
        version: str = "",
    ) -> None:
        self._dir = shards_dir
        self._prefix = prefix
        self._version = f"-{version}" if version else ""
        self._schema = schema
        self._max_shard_bytes = max_shard_bytes
        self._row_group_bytes = row_group_bytes
        self._compression = None if compression == "none" else compression
        self._rows: list[dict[str, Any]] = []
        self._group: list[pa.Table] = []  # converted, not yet written
        self._group_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self.paths: list[Path] = []
        self.rows = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self.close()
        finally:
            self._drop_unfinished()

    def _drop_unfinished(self) -> None:
        """The shard in progress when writing stopped (a full disk, Ctrl-C), gone with its space; after a
        `close`, nothing."""
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.close()
            self._writer = None
        with contextlib.suppress(NotADirectoryError):  # a file where the folder goes: `creating` said so
            self._temporary().unlink(missing_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.rows += 1
        if len(self._rows) >= self.BATCH:
            self._convert()

    def close(self) -> None:
        self._convert()
        self._write_group()
        self._finish_shard()

    def _convert(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema)
        self._rows = []
        # A batch bigger than what is left of a row group or a shard is split row by row.
        for row in range(table.num_rows) if table.nbytes > self._row_group_bytes else [None]:
            part = table if row is None else table.slice(row, 1)
            if self._shard_bytes + self._group_bytes + part.nbytes > self._max_shard_bytes:
                self._write_group()
                self._finish_shard()
            self._group.append(part)
            self._group_bytes += part.nbytes
            if self._group_bytes >= self._row_group_bytes:
                self._write_group()

    def _write_group(self) -> None:
        if not self._group:
            return
        table = pa.concat_tables(self._group)
        with disk_full(self._path()):
            if self._writer is None:
                with creating(self._path()):
                    self._dir.mkdir(parents=True, exist_ok=True)
                    self._writer = pq.ParquetWriter(
                        self._temporary(), self._schema, compression=self._compression
                    )
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._shard_bytes += self._group_bytes
        self._group, self._group_bytes = [], 0

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        path = self._path()
        with disk_full(path):
            self._writer.close()
        self._writer = None
        os.replace(self._temporary(), path)
        self.paths.append(path)
        self._shard_bytes = 0

    def _path(self) -> Path:
        return self._dir / f"{self._prefix}-{len(self.paths):05d}{self._version}.parquet"

    def _temporary(self) -> Path:
        return self._dir / f".{self._prefix}-{len(self.paths):05d}.parquet.tmp"


@dataclass
class Tally:
    """Counts over every problem's curation and the packaging: what the summary prints, the manifest and the
    dataset card record. Saved beside the shards, so a re-run that packages nothing new reports the same."""

    problems_solved: int = 0  # with at least one kept trace
    samples: int = 0
    correct: int = 0
    kept: int = 0
    dropped: dict[str, Counter[str]] = field(default_factory=dict)  # unit → reason → samples
    gold_sources: Counter[str] = field(default_factory=Counter)  # given | majority → problems
    no_majority: int = 0  # problems without a gold whose samples reached no majority
    majority_disagrees: int = 0  # problems whose given gold the teacher's majority contradicts
    # teacher → samples, kept, prompt_tokens, completion_tokens, tokens_estimated, tokens_missing
    teachers: dict[str, Counter[str]] = field(default_factory=dict)
    contamination: Counter[str] = field(default_factory=Counter)  # evaluation set → traces dropped
    round_trip: dict[str, Any] | None = None  # the student check's report (`package.student`)
    preference_pairs: int = 0
    rejected_rows: int = 0
    sample_row: dict[str, Any] | None = None  # the first train row, as the dataset card shows it

    def drop(self, unit: str, reason: str, teacher: str) -> None:
        self.dropped.setdefault(unit, Counter())[reason] += 1
        self.teachers.setdefault(teacher, Counter())["samples"] += 1

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it rebuilds a Counter from (key, value) pairs, counting the pairs.
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        tally = cls(**data)
        tally.dropped = {unit: Counter(reasons) for unit, reasons in tally.dropped.items()}
        tally.gold_sources = Counter(tally.gold_sources)
        tally.teachers = {name: Counter(counts) for name, counts in tally.teachers.items()}
        tally.contamination = Counter(tally.contamination)
        return tally


def _plain(value: Any) -> Any:
    return {key: _plain(item) for key, item in value.items()} if isinstance(value, dict) else value


BUDGET_UNIT = "budget"
TALLY_FILE = "package_tally.json"


@dataclass(slots=True)
class _Candidate:
    """A kept trace that no corpus unit nor the budget dropped, for the preference pairs."""

    trace: KeptTrace
    rank: int  # its place in its problem's kept list (best first)
    length: int  # its characters (what `shortest_longest` compares)


@dataclass
class CorpusUnits:
    """What judges the kept traces against the whole corpus at packaging (see `factory.corpus`)."""

    decontaminator: Any = None  # a filters.decontaminate.Decontaminator checking traces, or None
    dedup: list[tuple[str, Any]] = field(default_factory=list)
    round_trip: Callable[[], Any] | None = None  # loads a factory.roundtrip.RoundTrip when packaging runs
    round_trip_policy: str = "warn"


# Packaging's tables, beside the problems in the run's SQLite file (`factory.problem_table`): a row per
# problem curated and per kept or rejected trace, so that a run of a million problems holds none of them in
# memory (docs/scaling.md, "How far one driver goes"). Records are stored as the JSON lines their `to_dict`
# makes.
_TABLES = """
DROP TABLE IF EXISTS curated;
DROP TABLE IF EXISTS kept;
DROP TABLE IF EXISTS rejected;
CREATE TABLE curated (
    position INTEGER PRIMARY KEY,  -- the problem's, in the problems table
    drawn INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    gold TEXT NOT NULL,
    gold_source TEXT NOT NULL,
    vote_share REAL,
    majority TEXT,
    majority_disagrees INTEGER NOT NULL,
    kept INTEGER NOT NULL DEFAULT 0  -- its traces packaged, once the corpus units and the budget have run
);
CREATE TABLE kept (
    key TEXT PRIMARY KEY,
    problem INTEGER NOT NULL,  -- the problem's position
    rank INTEGER NOT NULL,  -- the trace's place in its problem's kept list (best first)
    teacher TEXT NOT NULL,
    trace TEXT NOT NULL,  -- the KeptTrace
    position INTEGER,  -- the trace's place among all kept traces, in problem order
    dropped TEXT,  -- the Exclusion by which a corpus unit or the budget drops it
    length INTEGER,  -- its characters, once the corpus units have read it
    written INTEGER NOT NULL DEFAULT 0  -- its row is in a shard (a sample twice on disk is written once)
);
CREATE TABLE rejected (
    key TEXT PRIMARY KEY,
    problem INTEGER NOT NULL,
    exclusion TEXT NOT NULL,  -- the Exclusion, without its trace (the row takes it from the sample)
    written INTEGER NOT NULL DEFAULT 0
);
"""
_CURATION = "c.drawn, c.correct, c.gold, c.gold_source, c.vote_share, c.majority, c.majority_disagrees"


def package(
    run_dir: Path,
    problems: ProblemTable,
    config: PackageConfig,
    budget: int | None,
    corpus: CorpusUnits,
    inputs: str,
) -> Tally:
    """Shards (`train`, and `preference` / `rejected` when asked for), `excluded.jsonl` and
    `problem_stats.jsonl` from the curation journal and the samples of `problems`; the tally of it all.
    `inputs` fingerprints what decides them besides the journal (curate, corpus-unit and package configs).
    Written again only when one of these changed since the last time, each file atomically, so a killed
    packaging is simply redone by the next invocation."""
    curated_dir = run_dir / "curated"
    parts = [(path.name, path.stat().st_size) for path in sorted(curated_dir.glob("part-*.jsonl"))]
    # The problems as rows carry them, in input order: the order decides which duplicate stays and where
    # the budget's extra rows go.
    inputs = fingerprint(inputs, dataclasses.asdict(config), budget, parts, problems.content_hash())
    markers = StageMarkers(run_dir)
    tally_path = run_dir / "stages" / TALLY_FILE
    # The files made are part of the marker: one removed or renamed since (by hand) is made again.
    if markers.is_done("shards", fingerprint(inputs, _outputs(run_dir))) and tally_path.exists():
        return Tally.from_dict(json.loads(tally_path.read_text()))
    for leftover in [*run_dir.glob(".*.tmp"), *run_dir.glob("shards/.*.tmp")]:  # a killed invocation's
        leftover.unlink()
    database = problems.database  # the stream has ended: this thread is the only one using it
    tally = Tally()
    wrong: dict[str, list[Exclusion]] = {}  # problem → its wrong traces (for preference pairs)
    pairs_wrong = config.preference is not None and config.preference.policy != "shortest_longest"
    traces = hashlib.sha256()  # what the rows are made of, so the files' names change when they do
    with atomic_open(run_dir / "excluded.jsonl") as exclusions, sqlite_disk_full(problems.path):
        database.executescript(_TABLES)
        database.execute("BEGIN")
        for curation in read_typed(curated_dir, ProblemCuration):
            position = problems.position(curation.problem_id)
            if position is None or not _add_curation(database, position, curation):
                continue  # out of this run's scope, or curated again: a problem's first line holds
            _count_problem(tally, curation)
            for exclusion in curation.excluded:
                _exclude(tally, exclusions, curation.problem_id, exclusion)
                if config.rejected:
                    _reject(database, position, dataclasses.replace(exclusion, trace=""))
                if pairs_wrong and exclusion.unit == VERIFIER_UNIT and exclusion.reason == "wrong_answer":
                    wrong.setdefault(curation.problem_id, []).append(dataclasses.replace(exclusion, trace=""))
            database.executemany(
                "INSERT OR REPLACE INTO kept (key, problem, rank, teacher, trace) VALUES (?, ?, ?, ?, ?)",
                (
                    (trace.sample_key, position, rank, trace.teacher, _json(trace))
                    for rank, trace in enumerate(curation.kept)
                ),
            )
        database.execute("CREATE INDEX kept_by_problem ON kept (problem, rank)")
        # Not `UPDATE … FROM` (SQLite 3.33): Python's SQLite on older distributions is 3.26 or 3.31.
        for statement in (  # one by one: `executescript` would commit the transaction first
            "CREATE TEMP TABLE numbered (key TEXT PRIMARY KEY, position INTEGER)",
            "INSERT INTO numbered SELECT key, row_number() OVER (ORDER BY problem, rank) - 1 FROM kept",
            "UPDATE kept SET position = (SELECT position FROM numbered WHERE numbered.key = kept.key)",
            "DROP TABLE numbered",
        ):
            database.execute(statement)
        database.execute("CREATE UNIQUE INDEX kept_by_position ON kept (position)")
        (count,) = database.execute("SELECT count(*) FROM kept").fetchone()
        _screen(run_dir, database, count, corpus, tally, need_lengths=config.preference is not None)
        if budget is not None:
            _over_budget(database, budget)
        for key, problem_id, problem, teacher, trace, dropped, header in _in_order(database):
            if dropped is None:
                tally.teachers.setdefault(teacher, Counter()).update(("samples", "kept"))
                tally.kept += 1
                traces.update(f"{trace}\0{header}\n".encode())
            else:
                drop = Exclusion.from_dict(json.loads(dropped))
                _exclude(tally, exclusions, problem_id, drop)
                if config.rejected and drop.unit != DECONTAMINATE_UNIT:
                    _reject(database, problem, drop)
        database.execute(
            "UPDATE curated SET kept = (SELECT count(*) FROM kept"
            " WHERE kept.problem = curated.position AND kept.dropped IS NULL)"
        )
        database.execute("COMMIT")
    (tally.problems_solved,) = database.execute("SELECT count(*) FROM curated WHERE kept > 0").fetchone()
    pairs = (
        _preference_pairs(_survivors(database), wrong, config.preference)
        if config.preference is not None
        else []
    )
    rejections = hashlib.sha256()
    for key, exclusion in database.execute("SELECT key, exclusion FROM rejected ORDER BY key"):
        rejections.update(f"{key}\0{exclusion}\n".encode())
    from_problems = _from_problems(problems)
    version = fingerprint(
        dataclasses.asdict(config),
        traces.hexdigest(),
        [(pair.chosen.sample_key, pair.rejected_key) for pair in pairs],
        rejections.hexdigest(),
        *([from_problems.digest] if from_problems.any else []),  # none: the names shards always had
    )[:8]
    _write_shards(run_dir, problems, pairs, config, tally, version, from_problems)
    write_jsonl(run_dir / "problem_stats.jsonl", _problem_stats(database))
    write_json(tally_path, tally.to_dict())
    markers.mark_done("shards", fingerprint(inputs, _outputs(run_dir)))
    return tally


def _json(record: Record) -> str:
    # Not sorted: an exclusion read back is written to excluded.jsonl with its detail's keys as made.
    return json.dumps(record.to_dict(), ensure_ascii=False)


def _add_curation(database: sqlite3.Connection, position: int, curation: ProblemCuration) -> bool:
    """Record a problem's curation; False when it has one already."""
    return bool(
        database.execute(
            "INSERT OR IGNORE INTO curated (position, drawn, correct, gold, gold_source, vote_share, majority,"
            " majority_disagrees) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                position,
                curation.drawn,
                curation.correct,
                curation.gold,
                curation.gold_source,
                curation.vote_share,
                curation.majority,
                curation.majority_disagrees,
            ),
        ).rowcount
    )


def _reject(database: sqlite3.Connection, problem: int, exclusion: Exclusion) -> None:
    database.execute(
        "INSERT OR REPLACE INTO rejected (key, problem, exclusion) VALUES (?, ?, ?)",
        (exclusion.sample_key, problem, _json(exclusion)),
    )


def _in_order(database: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """(key, problem id, problem position, teacher, trace, dropped, curation) for every kept trace, in
    problem order; `curation` is what its row takes from the problem's curation."""
    after = -1
    while True:
        rows = database.execute(
            f"""SELECT k.position, k.key, p.id, k.problem, k.teacher, k.trace, k.dropped,
                json_array({_CURATION})
            FROM kept k JOIN problems p ON p.position = k.problem JOIN curated c ON c.position = k.problem
            WHERE k.position > ? ORDER BY k.position LIMIT 1000""",
            (after,),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield row[1:]
        after = rows[-1][0]


def _header(problem_id: str, row: Sequence[Any]) -> ProblemCuration:
    """A problem's curation without its traces, from its `curated` row (`_CURATION`'s columns)."""
    drawn, correct, gold, gold_source, vote_share, majority, disagrees = row
    return ProblemCuration(
        problem_id, drawn, correct, gold, gold_source, [], [], vote_share, majority, bool(disagrees)
    )


def _count_tokens(counts: Counter[str], sample: Sample) -> None:
    """A teacher's tokens, for its cost: those the server counted, and how many samples' counts were
    estimated (usage per request, shared out) or missing."""
    counts["prompt_tokens"] += sample.prompt_tokens or 0
    counts["completion_tokens"] += sample.completion_tokens or 0
    counts["tokens_estimated"] += sample.completion_tokens_estimated
    counts["tokens_missing"] += sample.completion_tokens is None


def _count_problem(tally: Tally, curation: ProblemCuration) -> None:
    tally.samples += curation.drawn
    tally.correct += curation.correct
    tally.gold_sources[curation.gold_source] += 1
    tally.majority_disagrees += curation.majority_disagrees
    tally.no_majority += curation.gold_source == "majority" and curation.majority is None


def _problem_stats(database: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Per problem in input order: samples drawn, correct, kept (after the corpus units and the budget),
    pass rate, gold source and vote; a problem never curated has drawn nothing."""
    rows = database.execute(
        f"""SELECT p.id, {_CURATION}, c.kept FROM problems p LEFT JOIN curated c ON c.position = p.position
        ORDER BY p.position"""
    )
    for problem_id, drawn, correct, _, gold_source, vote_share, majority, disagrees, kept in rows:
        if drawn is None:
            yield {"problem_id": problem_id, "samples": 0, "kept": 0}
            continue
        yield {
            "problem_id": problem_id,
            "samples": drawn,
            "correct": correct,
            "kept": kept,
            "pass_rate": round(correct / drawn, 4) if drawn else None,
            "gold_source": gold_source,
            "majority": majority,
            "vote_share": vote_share,
            "majority_disagrees": bool(disagrees),
        }


def _exclude(tally: Tally, handle: IO[str], problem_id: str, exclusion: Exclusion) -> None:
    tally.drop(exclusion.unit, exclusion.reason, exclusion.teacher)
    write_exclusion(handle, problem_id, exclusion)


def _screen(
    run_dir: Path,
    database: sqlite3.Connection,
    count: int,
    corpus: CorpusUnits,
    tally: Tally,
    need_lengths: bool,
) -> None:
    """The corpus-wide units over the `count` kept traces, each trace in turn: decontamination, the
    student's round-trip check, then dedup across all of them (the copy earliest in problem order stays)."""
    finder = DuplicateFinder(corpus.dedup, count, "traces")
    round_trip = corpus.round_trip() if corpus.round_trip is not None else None
    if corpus.decontaminator is None and round_trip is None and not finder.active and not need_lengths:
        return
    report = round_trip.report(corpus.round_trip_policy) if round_trip is not None else None
    for sample in read_typed(run_dir / "samples", Sample):
        key = sample.key()
        found = database.execute("SELECT position, trace, length FROM kept WHERE key = ?", (key,)).fetchone()
        if found is None or found[2] is not None:
            continue  # not kept, or read already (a sample twice on disk)
        position, trace_json, _ = found
        text = sample.trace_text()
        # characters: teachers without token counts compare with the others
        database.execute("UPDATE kept SET length = ? WHERE key = ?", (len(text), key))
        if corpus.decontaminator is not None:
            match = corpus.decontaminator.match(text, fuzzy=False)
            if match is not None:
                trace = KeptTrace.from_dict(json.loads(trace_json))
                _drop(database, _package_drop(trace, DECONTAMINATE_UNIT, "contaminated", match.to_dict()))
                tally.contamination[match.item.set_path] += 1
                continue
        if round_trip is not None:
            check = round_trip.check(sample.messages, [{"role": "assistant", "content": text}])
            report.add(check)
            if check.reason is not None and corpus.round_trip_policy == "drop":
                trace = KeptTrace.from_dict(json.loads(trace_json))
                _drop(database, _package_drop(trace, ROUND_TRIP_UNIT, check.reason, {"tokens": check.tokens}))
                continue
        if finder.active:
            finder.add(position, text)
    if report is not None:
        tally.round_trip = report.to_dict()
        if corpus.round_trip_policy == "fail" and (message := report.message()):
            raise FactoryError(f"package.student: {message}")
    for position, duplicate in sorted(finder.duplicates().items()):
        (kept_json, kept_problem) = database.execute(
            "SELECT k.trace, p.id FROM kept k JOIN problems p ON p.position = k.problem WHERE k.position = ?",
            (duplicate.kept,),
        ).fetchone()
        kept = KeptTrace.from_dict(json.loads(kept_json))
        (trace_json,) = database.execute("SELECT trace FROM kept WHERE position = ?", (position,)).fetchone()
        detail = {
            "kept_sample_key": kept.sample_key,
            "kept_problem_id": kept_problem,
            "kept_sample_index": kept.sample_index,
        }
        trace = KeptTrace.from_dict(json.loads(trace_json))
        _drop(database, _package_drop(trace, dedup_unit_name(duplicate.unit), duplicate.reason, detail))


def _drop(database: sqlite3.Connection, exclusion: Exclusion) -> None:
    database.execute("UPDATE kept SET dropped = ? WHERE key = ?", (_json(exclusion), exclusion.sample_key))


def _over_budget(database: sqlite3.Connection, budget: int) -> None:
    """Drop the traces past each problem's share of `budget` (`fair_quotas`, over the problems in input
    order, each with the traces the corpus units left it)."""
    counts = array("q")
    positions = array("q")
    for position, survivors in database.execute(
        """SELECT p.position, count(k.key) FROM problems p
        LEFT JOIN kept k ON k.problem = p.position AND k.dropped IS NULL
        GROUP BY p.position ORDER BY p.position"""
    ):
        positions.append(position)
        counts.append(survivors)
    quotas = fair_quotas(list(counts), budget)
    for position, survivors, quota in zip(positions, counts, quotas, strict=True):
        if quota >= survivors:
            continue
        for (trace_json,) in database.execute(
            "SELECT trace FROM kept WHERE problem = ? AND dropped IS NULL ORDER BY rank LIMIT -1 OFFSET ?",
            (position, quota),
        ).fetchall():
            trace = KeptTrace.from_dict(json.loads(trace_json))
            _drop(database, _package_drop(trace, BUDGET_UNIT, "over_budget", None))


ROUND_TRIP_UNIT = "round_trip"


def _package_drop(trace: KeptTrace, unit: str, reason: str, detail: dict[str, Any] | None) -> Exclusion:
    return Exclusion(
        trace.sample_key,
        trace.sample_index,
        unit,
        reason,
        trace.answer,
        "",
        trace.teacher,
        detail,
        trace.status,
    )


@dataclass(frozen=True, slots=True)
class PreferencePair:
    problem_id: str
    chosen: KeptTrace
    rejected_key: str
    rejected_answer: str | None


def _survivors(database: sqlite3.Connection) -> Iterator[tuple[str, list[_Candidate]]]:
    """(problem id, its traces the corpus units left, best first) for each problem with one, in input order:
    the budget's drops are among them (a preference pair's chosen trace is one the curation kept)."""
    rows = database.execute(
        """SELECT p.id, k.rank, k.length, k.trace FROM kept k JOIN problems p ON p.position = k.problem
        WHERE k.dropped IS NULL OR json_extract(k.dropped, '$.unit') = ? ORDER BY k.position""",
        (BUDGET_UNIT,),
    )
    for problem_id, group in itertools.groupby(rows, key=lambda row: row[0]):
        yield (
            problem_id,
            [
                _Candidate(KeptTrace.from_dict(json.loads(trace)), rank, length or 0)
                for _, rank, length, trace in group
            ],
        )


def _preference_pairs(
    survivors: Iterable[tuple[str, list[_Candidate]]],
    wrong: dict[str, list[Exclusion]],
    config: PreferenceConfig,
) -> list[PreferencePair]:
    """At most one pair per problem, in problem order.
    The chosen trace is one the curation kept (before the budget); the rejected one a wrong trace of the same
    problem, or (`shortest_longest`) the longest kept one."""
    pairs = []
    for pid, kept in survivors:
        mistakes = wrong.get(pid, [])
        if config.policy == "shortest_longest":
            if len(kept) < 2:
                continue
            chosen = min(kept, key=lambda c: (c.length, c.rank))
            rejected = max(kept, key=lambda c: (c.length, -c.rank))
            if chosen is not rejected:
                pairs.append(
                    PreferencePair(pid, chosen.trace, rejected.trace.sample_key, rejected.trace.answer)
                )
            continue
        if not mistakes:
            continue
        if config.policy == "random":
            rng = random.Random(f"{config.seed}:{pid}")  # the same pair on every machine and re-run
            mistake = rng.choice(mistakes)
            pairs.append(PreferencePair(pid, rng.choice(kept).trace, mistake.sample_key, mistake.answer))
        else:  # common_wrong: the best kept trace against the wrong answer the teacher gives most often
            answers = Counter(_answer_text(mistake.answer) for mistake in mistakes)
            common = max(answers.values())
            mistake = next(m for m in mistakes if answers[_answer_text(m.answer)] == common)
            pairs.append(PreferencePair(pid, kept[0].trace, mistake.sample_key, mistake.answer))
    return pairs


def _answer_text(answer: str | None) -> str:
    return " ".join((answer or "").split())


@dataclass(frozen=True)
class _FromProblems:
    """What rows take from their problems besides the text: the input columns kept, typed from their values,
    and whether any problem keeps a reference solution; and a hash of both: a row changes with them, so the
    shards' file names must (see `ShardWriter` on `version`)."""

    fields: list[pa.Field]
    references: bool
    digest: str

    @property
    def any(self) -> bool:
        return bool(self.fields) or self.references


def _from_problems(problems: ProblemTable) -> _FromProblems:
    """The columns `problems.keep_columns` carries (every problem carries the same ones, or none), each of
    the Arrow type that holds all its values: ints and floats make a float column, a null takes any type;
    and the problems' reference solutions. A column named as one of the shards' own, or holding values no
    one type holds, is refused."""
    first = next(iter(problems), None)
    names = list(first.meta[KEPT_COLUMNS]) if first is not None and KEPT_COLUMNS in first.meta else []
    for name in names:
        if name in REJECTED_SCHEMA.names:
            raise FactoryError(
                f"problems.keep_columns: {name!r} is a column the shards have already; a column of that name "
                "cannot be kept (rename it in the input)"
            )
    types = {name: pa.null() for name in names}
    kept_digest, references_digest = hashlib.sha256(), hashlib.sha256()
    references = False
    read = iter(problems)
    while chunk := list(itertools.islice(read, _TYPED_AT_ONCE)):
        kept = [problem.meta[KEPT_COLUMNS] for problem in chunk] if names else []
        for name in names:
            try:
                found = pa.schema([(name, pa.array([values[name] for values in kept]).type)])
                known = pa.schema([(name, types[name])])
                types[name] = pa.unify_schemas([known, found], promote_options="permissive").field(name).type
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                reason = " ".join(str(error).split())
                raise FactoryError(
                    f"problems.keep_columns: column {name!r} holds values that no one type holds ({reason}); "
                    "write the column with one type"
                ) from None
        if names:
            kept_digest.update(json.dumps(kept, sort_keys=True, default=str).encode())
        solutions = [problem.meta.get(REFERENCE_SOLUTION) for problem in chunk]
        references = references or any(solution is not None for solution in solutions)
        references_digest.update(json.dumps(solutions).encode())
    digest = kept_digest.hexdigest() if names else ""
    if references:
        digest += references_digest.hexdigest()
    return _FromProblems([pa.field(name, types[name]) for name in names], references, digest)


_TYPED_AT_ONCE = 1000  # problems whose kept values are typed at a time


def _write_shards(
    run_dir: Path,
    problems: ProblemTable,
    pairs: list[PreferencePair],
    config: PackageConfig,
    tally: Tally,
    version: str,
    from_problems: _FromProblems,
) -> None:
    """One pass over the samples writes the rows of each config; a preference pair waits for both texts.
    `from_problems` says what rows take from their problems (`_from_problems`)."""
    shards_dir = run_dir / "shards"
    before = set(shard_files(shards_dir))
    database = problems.database

    def writer(prefix: str, schema: pa.Schema) -> ShardWriter:
        return ShardWriter(
            shards_dir,
            prefix,
            schema,
            config.max_shard_bytes,
            config.row_group_bytes,
            config.compression,
            version,
        )

    def first_unwritten(table: str, key: str) -> tuple[Any, ...] | None:
        """The row of `table` for the sample `key`, with its problem's text and curation, the first time."""
        found = database.execute(
            f"""SELECT t.rowid, t.{"trace" if table == "kept" else "exclusion"}, p.id, p.problem, {_CURATION}
            FROM {table} t JOIN problems p ON p.position = t.problem JOIN curated c ON c.position = t.problem
            WHERE t.key = ? AND t.written = 0{" AND t.dropped IS NULL" if table == "kept" else ""}""",
            (key,),
        ).fetchone()
        if found is not None:
            database.execute(f"UPDATE {table} SET written = 1 WHERE rowid = ?", (found[0],))
        return found

    def problem_of(problem_id: str, text: str) -> Problem:
        # Read only when rows take something from it: a look-up and an unpickling for every row.
        return problems[problem_id] if from_problems.any else Problem(problem_id, text, "", "")

    in_pairs = {key for pair in pairs for key in (pair.chosen.sample_key, pair.rejected_key)}
    texts: dict[str, Sample] = {}
    with contextlib.ExitStack() as writers, sqlite_disk_full(problems.path):
        columns = from_problems.fields
        train = writers.enter_context(writer("train", pa.schema([*SCHEMA, *columns])))
        rejected_schema = pa.schema([*SCHEMA, *columns, *_DROP_COLUMNS])
        rejects = writers.enter_context(writer("rejected", rejected_schema)) if config.rejected else None
        database.execute("BEGIN")
        for sample in read_typed(run_dir / "samples", Sample):
            key = sample.key()
            if problems.position(sample.problem_id) is not None:
                _count_tokens(tally.teachers.setdefault(teacher_name(sample), Counter()), sample)
            if (found := first_unwritten("kept", key)) is not None:
                _, trace, problem_id, text, *curation = found
                problem = problem_of(problem_id, text)
                kept = KeptTrace.from_dict(json.loads(trace))
                row = to_row(sample, kept, problem, _header(problem_id, curation))
                if tally.sample_row is None:
                    tally.sample_row = card_sample(row)
                train.add(row)
            elif rejects is not None and (found := first_unwritten("rejected", key)) is not None:
                _, exclusion, problem_id, text, *curation = found
                problem = problem_of(problem_id, text)
                rejects.add(
                    to_rejected_row(
                        sample,
                        Exclusion.from_dict(json.loads(exclusion)),
                        problem,
                        _header(problem_id, curation),
                    )
                )
            if key in in_pairs:
                texts[key] = sample
        database.execute("COMMIT")
    if rejects is not None:
        tally.rejected_rows = rejects.rows
    written_paths = set(train.paths)
    if config.preference is not None:
        with writer("preference", PREFERENCE_SCHEMA) as preference:
            for pair in pairs:
                if pair.chosen.sample_key in texts and pair.rejected_key in texts:
                    preference.add(to_pair(texts, pair, config.preference.policy))
        tally.preference_pairs = preference.rows
        written_paths.update(preference.paths)
    if rejects is not None:
        written_paths.update(rejects.paths)
    # The old files go once the new ones are in place: a packaging killed before this leaves the last
    # card's files loadable (the card is rewritten after packaging).
    for old in before - written_paths:
        old.unlink()


def _outputs(run_dir: Path) -> list[tuple[str, int]]:
    paths = [
        *shard_files(run_dir / "shards"),
        run_dir / "excluded.jsonl",
        run_dir / "problem_stats.jsonl",
        run_dir / "stages" / TALLY_FILE,
    ]
    return [(path.name, path.stat().st_size) for path in paths if path.exists()]


def write_exclusion(handle: IO[str], problem_id: str, exclusion: Exclusion) -> None:
    handle.write(json.dumps({"problem_id": problem_id, **exclusion.to_dict()}, ensure_ascii=False) + "\n")
