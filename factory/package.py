"""Stage 4: kept samples → Parquet shards that `datasets` loads and TRL's `SFTTrainer` trains on as they are.

Column choice: `prompt` is TRL's conversational prompt, the list of chat messages the teacher saw (system +
user), and `completion` is the one-message assistant turn holding the trace. TRL then computes the loss on
the completion only. The design's `prompt, trace, answer` are these `prompt`, plus `trace` (the same text
as the completion, as a plain string) and `answer` (the verified final answer). Everything else is
provenance.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
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
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
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
        "finish_reason": sample.finish_reason,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "latency_s": sample.latency_s,
    }


def write_shards(
    samples: Iterable[Sample],
    kept: Mapping[tuple[str, int], SampleVerdict],
    problems: Mapping[str, Problem],
    shards_dir: Path,
    rows_per_shard: int,
    compression: str,
) -> list[Path]:
    """Write the kept samples as `train-NNNNN.parquet`; the folder is swapped in whole when all are written."""
    shards_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{shards_dir.name}-", dir=shards_dir.parent))
    try:
        names: list[str] = []
        buffer: list[dict[str, Any]] = []

        def flush() -> None:
            name = f"train-{len(names):05d}.parquet"
            table = pa.Table.from_pylist(buffer, schema=SCHEMA)
            pq.write_table(table, staging / name, compression=None if compression == "none" else compression)
            names.append(name)
            buffer.clear()

        for sample in samples:
            verdict = kept.get((sample.problem_id, sample.sample_index))
            if verdict is None:
                continue
            buffer.append(to_row(sample, verdict, problems[sample.problem_id]))
            if len(buffer) >= rows_per_shard:
                flush()
        if buffer:  # no empty shard when nothing was kept: `datasets` fails on a Parquet file of 0 rows
            flush()
        if shards_dir.exists():
            shutil.rmtree(shards_dir)
        staging.rename(shards_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [shards_dir / name for name in names]
