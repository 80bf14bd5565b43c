"""Stage 1: read problems from JSONL, CSV or Parquet files into `Problem` records.

A malformed row stops the run with one line naming the file, the line (or Parquet row) and the field.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from factory.config import ProblemsConfig
from factory.errors import FactoryError
from factory.records import Problem

_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def derive_id(problem: str) -> str:
    """A stable id from the problem text, the same on every machine and run."""
    return "p-" + hashlib.sha256(" ".join(problem.split()).encode()).hexdigest()[:16]


def read_problems(config: ProblemsConfig, without_answer: bool = False) -> Iterator[Problem]:
    """All problems of all configured files, in order. Duplicate ids are an error. So is a row without an
    answer, unless `without_answer` (its answer is then "": its samples' majority answer becomes its gold)."""
    seen: dict[str, str] = {}
    for path_str in config.paths:
        path = Path(path_str)
        for count, problem in enumerate(_read_file(path, config, without_answer), start=1):
            if config.limit_per_file is not None and count > config.limit_per_file:
                break
            if problem.id in seen:
                raise FactoryError(
                    f"{problem.source}: id {problem.id!r} already used at {seen[problem.id]}; ids must be unique"
                )
            seen[problem.id] = problem.source
            yield problem


def read_rows(
    path: Path, format: str = "auto", option: str = "problems.format"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each row of a JSONL, CSV or Parquet file; `where` is "path:line" or "path:row N"."""
    if not path.is_file():
        raise FactoryError(f"{path} does not exist")
    kind = format if format != "auto" else _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FactoryError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; set {option} to jsonl, csv or parquet"
        )
    rows = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}[kind](path)
    for where, row in rows:
        yield f"{path}:{where}", row


def _read_file(path: Path, config: ProblemsConfig, without_answer: bool) -> Iterator[Problem]:
    for where, row in read_rows(path, config.format):
        yield _to_problem(row, where, config, without_answer)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise FactoryError(
                    f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})"
                ) from None
            if not isinstance(row, dict):
                raise FactoryError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield str(number), row


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row:  # more cells than header columns
                raise FactoryError(
                    f"{path}:{reader.line_num}: the row has more cells than the header has columns"
                )
            yield str(reader.line_num), row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=10_000)  # streams: flat memory on big files
        index = 0
        for batch in batches:
            for row in batch.to_pylist():
                yield f"row {index}", row
                index += 1
    except (pa.ArrowException, OSError) as error:
        raise FactoryError(f"{path}: not a readable Parquet file ({error})") from None


def _to_problem(row: dict[str, Any], source: str, config: ProblemsConfig, without_answer: bool) -> Problem:
    fields = config.fields

    def hint(role: str) -> str:
        return f"fix the row or map the {role} with problems.fields.{role}"

    text = text_field(row, fields.problem, source, hint("problem"))
    given = row.get(fields.answer)
    if without_answer and (given is None or (isinstance(given, str) and not given.strip())):
        answer = ""  # the majority answer of its samples will be its gold
    else:
        answer = text_field(row, fields.answer, source, hint("answer") + ", or set reject.majority")
    given_id = row.get(fields.id) if fields.id is not None else None
    if given_id is None or (isinstance(given_id, str) and not given_id.strip()):
        problem_id = derive_id(text)  # the input has no id for this row: derive a stable one
    else:
        problem_id = text_field(row, fields.id, source, hint("id"))
    mapped = {fields.id, fields.problem, fields.answer}
    meta = {key: value for key, value in row.items() if key not in mapped}
    return Problem(id=problem_id, problem=text, answer=answer, source=source, meta=meta)


def require_field(row: dict[str, Any], column: str, source: str, hint: str) -> Any:
    """`row[column]`, or a one-line error naming the columns present and ending in `hint`."""
    if column not in row:
        present = ", ".join(map(str, row)) or "none"
        raise FactoryError(f"{source}: field {column!r} is missing (columns present: {present}); {hint}")
    return row[column]


def text_field(row: dict[str, Any], column: str, source: str, hint: str) -> str:
    """The non-empty text (or number, as text) in `row[column]`; otherwise a one-line error ending in `hint`."""
    value = require_field(row, column, source, hint)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FactoryError(f"{source}: field {column!r} must be text or a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise FactoryError(f"{source}: field {column!r} is empty")
    return text
