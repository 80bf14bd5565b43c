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
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.config import PackageConfig
from factory.ledger import read_curated, read_keyed_samples
from factory.records import Exclusion, KeptTrace, Problem, ProblemCuration, Sample
from factory.storage import StageMarkers, atomic_open, fingerprint, write_jsonl
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
    ]
)


def to_row(sample: Sample, kept: KeptTrace, problem: Problem, curation: ProblemCuration) -> dict[str, Any]:
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
    }


class ShardWriter:
    """Kept rows go into the open shard as they arrive, a row group at a time. The shard is written under a
    hidden temporary name and renamed into place once it holds `rows_per_shard` rows or the writer closes
    (also on an error or Ctrl-C), so a reader never sees a torn Parquet file. After a `kill -9` the open
    shard's rows are missing from `shards/`; the next run writes them again (it compares `sample_key`s).

    No shard is written without rows: `datasets` fails on a Parquet file of 0 rows."""

    ROW_GROUP = 1000

    def __init__(self, shards_dir: Path, prefix: str, rows_per_shard: int, compression: str) -> None:
        self._dir = shards_dir
        self._prefix = prefix
        self._rows_per_shard = rows_per_shard
        self._compression = None if compression == "none" else compression
        self._buffer: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0
        self.paths: list[Path] = []

    def add(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        if (
            len(self._buffer) >= self.ROW_GROUP
            or self._rows_in_shard + len(self._buffer) >= self._rows_per_shard
        ):
            self._flush()

    def close(self) -> None:
        self._flush()
        self._finish_shard()

    def _flush(self) -> None:
        while self._buffer:
            room = self._rows_per_shard - self._rows_in_shard
            rows, self._buffer = self._buffer[:room], self._buffer[room:]
            if self._writer is None:
                self._dir.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self._temporary(), SCHEMA, compression=self._compression)
            self._writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
            self._rows_in_shard += len(rows)
            if self._rows_in_shard >= self._rows_per_shard:
                self._finish_shard()

    def _finish_shard(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        path = self._dir / f"{self._prefix}-{len(self.paths):05d}.parquet"
        os.replace(self._temporary(), path)
        self.paths.append(path)
        self._rows_in_shard = 0

    def _temporary(self) -> Path:
        return self._dir / f".{self._prefix}-{len(self.paths):05d}.parquet.tmp"


@dataclass
class Tally:
    """Counts over every problem's curation: what the summary prints and the manifest records."""

    problems_solved: int = 0  # with at least one kept trace
    samples: int = 0
    correct: int = 0
    kept: int = 0
    dropped: dict[str, Counter[str]] = field(default_factory=dict)  # unit → reason → samples
    gold_sources: Counter[str] = field(default_factory=Counter)  # given | majority → problems
    no_majority: int = 0  # problems without a gold whose samples reached no majority
    majority_disagrees: int = 0  # problems whose given gold the teacher's majority contradicts
    teachers: dict[str, Counter[str]] = field(default_factory=dict)  # teacher → samples, kept

    def drop(self, unit: str, reason: str, teacher: str) -> None:
        self.dropped.setdefault(unit, Counter())[reason] += 1
        self.teachers.setdefault(teacher, Counter())["samples"] += 1


BUDGET_UNIT = "budget"


def package(
    run_dir: Path,
    problems: Sequence[Problem],
    scope_ids: Iterable[str],
    config: PackageConfig,
    budget: int | None,
    curate_inputs: str,
) -> Tally:
    """Shards, `excluded.jsonl` and `problem_stats.jsonl` from the curation journal and the samples; the
    tally of it all. Written again only when the curation (or the package config) changed since the last
    time, each file atomically, so a killed packaging is simply redone by the next invocation."""
    curated_dir, shards_dir = run_dir / "curated", run_dir / "shards"
    in_scope = set(scope_ids)
    parts = [(path.name, path.stat().st_size) for path in sorted(curated_dir.glob("part-*.jsonl"))]
    inputs = fingerprint(curate_inputs, dataclasses.asdict(config), budget, parts, sorted(in_scope))
    markers = StageMarkers(run_dir)
    # The files made are part of the marker: one removed or renamed since (by hand) is made again.
    rebuild = not markers.is_done("shards", fingerprint(inputs, _outputs(run_dir)))

    order = [problem.id for problem in problems if problem.id in in_scope]
    quota: dict[str, int] = {}
    if budget is not None:  # a first pass: each problem's quota depends on every problem's kept count
        counts = {c.problem_id: len(c.kept) for c in read_curated(curated_dir, in_scope)}
        quota = dict(zip(order, fair_quotas([counts.get(pid, 0) for pid in order], budget), strict=True))
    if rebuild:
        for leftover in run_dir.glob(".*.tmp"):  # files a killed invocation was writing
            leftover.unlink()
    tally = Tally()
    kept: dict[str, tuple[KeptTrace, ProblemCuration]] = {}
    stats: dict[str, dict[str, Any]] = {}
    with atomic_open(run_dir / "excluded.jsonl") if rebuild else contextlib.nullcontext() as exclusions:
        for curation in read_curated(curated_dir, in_scope):
            tally.samples += curation.drawn
            tally.correct += curation.correct
            tally.gold_sources[curation.gold_source] += 1
            tally.majority_disagrees += curation.majority_disagrees
            tally.no_majority += curation.gold_source == "majority" and curation.majority is None
            shipped = curation.kept[: quota.get(curation.problem_id, len(curation.kept))]
            over_budget = [
                Exclusion(t.sample_key, t.sample_index, BUDGET_UNIT, "over_budget", t.answer, "", t.teacher)
                for t in curation.kept[len(shipped) :]
            ]
            for exclusion in curation.excluded + over_budget:
                tally.drop(exclusion.unit, exclusion.reason, exclusion.teacher)
                if exclusions is not None:
                    write_exclusion(exclusions, curation.problem_id, exclusion)
            header = dataclasses.replace(curation, kept=[], excluded=[])
            for trace in shipped:
                tally.teachers.setdefault(trace.teacher, Counter()).update(("samples", "kept"))
                if rebuild:
                    kept[trace.sample_key] = (trace, header)
            tally.kept += len(shipped)
            tally.problems_solved += bool(shipped)
            stats[curation.problem_id] = {
                "samples": curation.drawn,
                "correct": curation.correct,
                "kept": len(shipped),
                "pass_rate": round(curation.correct / curation.drawn, 4) if curation.drawn else None,
                "gold_source": curation.gold_source,
                "majority": curation.majority,
                "vote_share": curation.vote_share,
                "majority_disagrees": curation.majority_disagrees,
            }
    if not rebuild:
        return tally
    shutil.rmtree(shards_dir, ignore_errors=True)
    by_id = {problem.id: problem for problem in problems}
    writer = ShardWriter(shards_dir, "train", config.rows_per_shard, config.compression)
    for key, sample in read_keyed_samples(run_dir / "samples"):
        if (found := kept.get(key)) is not None:
            writer.add(to_row(sample, found[0], by_id[sample.problem_id], found[1]))
    writer.close()
    write_jsonl(
        run_dir / "problem_stats.jsonl",
        ({"problem_id": pid, **stats.get(pid, {"samples": 0, "kept": 0})} for pid in order),
    )
    markers.mark_done("shards", fingerprint(inputs, _outputs(run_dir)))
    return tally


def _outputs(run_dir: Path) -> list[tuple[str, int]]:
    paths = [
        *sorted((run_dir / "shards").glob("*.parquet")),
        run_dir / "excluded.jsonl",
        run_dir / "problem_stats.jsonl",
    ]
    return [(path.name, path.stat().st_size) for path in paths if path.exists()]


def write_exclusion(handle: IO[str], problem_id: str, exclusion: Exclusion) -> None:
    handle.write(json.dumps({"problem_id": problem_id, **exclusion.to_dict()}, ensure_ascii=False) + "\n")
