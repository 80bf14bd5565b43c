"""Stage 4: kept samples → Parquet shards that `datasets` loads and TRL's `SFTTrainer` trains on as they are.

Column choice: `prompt` is TRL's conversational prompt, the list of chat messages the teacher saw (system +
user), and `completion` is the one-message assistant turn holding the trace. TRL then computes the loss on
the completion only. The design's `prompt, trace, answer` are these `prompt`, plus `trace` (the same text
as the completion, as a plain string) and `answer` (the verified final answer). Everything else is
provenance.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from factory.records import Problem, Sample, SampleVerdict

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

SCHEMA = pa.schema(
    [
        ("prompt", _MESSAGES),
        ("completion", _MESSAGES),
        ("trace", pa.string()),
        ("answer", pa.string()),
        ("gold_answer", pa.string()),
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


def trace_text(sample: Sample) -> str:
    """What the student learns to write: the separated reasoning, when the server split it off, comes first."""
    if sample.reasoning:
        return f"<think>\n{sample.reasoning}\n</think>\n\n{sample.text}"
    return sample.text


def to_row(sample: Sample, verdict: SampleVerdict, problem: Problem) -> dict[str, Any]:
    trace = trace_text(sample)
    return {
        "prompt": sample.messages,
        "completion": [{"role": "assistant", "content": trace}],
        "trace": trace,
        "answer": verdict.extracted,
        "gold_answer": verdict.gold,
        "problem": problem.problem,
        "problem_id": sample.problem_id,
        "sample_index": sample.sample_index,
        "reasoning": sample.reasoning,
        "teacher_backend": sample.teacher_backend,
        "teacher_model": sample.teacher_model,
        "sampling_params": json.dumps(sample.sampling, sort_keys=True),
        "prompt_template": sample.prompt_template,
        "prompt_hash": sample.prompt_hash,
        "verdict_status": verdict.status,
        "verdict_reason": verdict.reason,
        "verifier": verdict.verifier,
        "answer_found_by": verdict.found_by,
        "finish_reason": sample.finish_reason,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "latency_s": sample.latency_s,
        "sample_key": verdict.sample_key,
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


def shipped_keys(shards_dir: Path) -> set[str]:
    """The sample keys already in finished shards; leftovers of a killed writer are removed."""
    for leftover in shards_dir.glob(".*.parquet.tmp"):
        leftover.unlink()
    keys: set[str] = set()
    for path in shards_dir.glob("*.parquet"):
        keys.update(pq.read_table(path, columns=["sample_key"]).column(0).to_pylist())
    return keys
