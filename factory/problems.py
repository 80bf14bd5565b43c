"""Stage 1: read problems into `Problem` records, from files (JSONL, CSV, Parquet, Arrow; JSONL and CSV also
gzip-compressed), globs of them, folders `datasets` saved (`save_to_disk`), and Hugging Face datasets in the
local datasets cache (`hf:ID[:CONFIG]:SPLIT`, read offline: a run never reaches the network).

A file that cannot be read as a whole (missing, a directory, unreadable, not UTF-8, empty, not Parquet, a
Parquet or Arrow column that would decode to far more than the file holds) stops the run with one line naming it. A
malformed row stops it with one line naming the file, the line (or Parquet row) and the field, unless
`problems.on_error: quarantine`: then the row goes to the run's quarantine file with its reason and the other
rows run. A file none of whose rows can be read stops the run
either way: that is a wrong file or a wrong `problems.fields`, not a few bad rows.

A gold is read as `problems.gold` says (`factory.golds`): GSM8K's and MATH's golds are whole solutions, whose
answer is the problem's gold; the solution goes to the shards beside it.

Text files are UTF-8; a leading BOM, which spreadsheet exports write, is skipped. A wrong encoding is a
mistake of the whole file (its fix is to save it as UTF-8), so it is never quarantined row by row.

Every reader streams: lines one at a time (through gzip too), Parquet and Arrow a record batch at a time, so
memory stays flat however large the dataset.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from factory.config import ProblemsConfig, not_utf8_error
from factory.errors import FactoryError
from factory.golds import GoldTally, gold_reader, reads_every_gold
from factory.records import Problem
from factory.storage import atomic_open

_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
# Parquet and Arrow compress inside the file, by column: a whole-file gzip would have to be undone first.
_GZIP_FORMATS = ("jsonl", "csv")
# `problems.paths` entries that are not a file's path: a dataset in the Hugging Face cache, and a pattern.
HUB_PREFIX = "hf:"
_GLOB = re.compile(r"[*?[]")
# The key of `Problem.meta` under which a problem carries the columns `problems.keep_columns` names, in that
# order, to its shard rows (`factory.package`); its other entries are all the row's extra fields.
KEPT_COLUMNS = "__kept_columns__"
# The key of `Problem.meta` under which a problem keeps its gold as the input wrote it, where the answer read
# from it (`problems.gold`, `factory.golds`) differs: a GSM8K or MATH reference solution.
REFERENCE_SOLUTION = "__reference_solution__"
QUARANTINE_FILE = "quarantine.jsonl"
# A problem row is a few KB, a long trace for `factory verify` some 100 KB. A longer line is a file that is
# not JSONL (a whole document on one line, a binary): it is refused without being read whole, so memory
# stays flat. CSV cells have the csv module's own limit (131,072 characters).
MAX_LINE_CHARS = 1 << 20
# Parquet. A file's footer says what each column of a row group takes compressed and decompressed, but not
# decoded: one value in a column's dictionary may stand for a million rows (a 5.5 KB file decoded to 2.4 GB).
# So before a row group is read, what each column decodes to is counted, from the footer and from the
# dictionary indices (read as such, without decoding a value), and a column past both PARQUET_COLUMN_BYTES and
# PARQUET_EXPANSION times its size in the file is refused. Text compresses 3-10x; a column that expands 100x
# repeats a value row after row.
PARQUET_COLUMN_BYTES = 256 << 20
PARQUET_EXPANSION = 100
# Rows reach Python a batch at a time, so memory stays flat however large the file.
PARQUET_BATCH_ROWS = 1024
# Dictionary indices are counted this many rows at a time: 4 bytes a value.
PARQUET_SCAN_ROWS = 4096
# What a value of each Parquet type takes decoded, at least (text: its offset); a fixed-length one takes
# its length.
_VALUE_BYTES = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}
# Enough of a quarantined row to find and fix it in its file.
QUARANTINED_ROW_CHARS = 2000


class RowError(FactoryError):
    """A mistake in one row of a file, not in the file as a whole: under `problems.on_error: quarantine`
    the row is set aside with its reason and the other rows are read."""

    def __init__(self, where: str, reason: str, row: Any) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        self.row = row  # what the file holds: the line's text, or the row as read


Row = dict[str, Any] | RowError


class Quarantine:
    """The rows `problems.on_error: quarantine` set aside: one JSON line each, with where the row was, why
    it was set aside, and the row (cut to QUARANTINED_ROW_CHARS)."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self.rows = 0
        self._handle = handle

    @classmethod
    @contextmanager
    def rewritten(cls, path: Path) -> Iterator[Quarantine]:
        """A quarantine that replaces `path` whole when the block ends, so a re-run rewrites the file and
        never repeats a line; no file at all when no row was set aside."""
        with atomic_open(path) as handle:
            quarantine = cls(path, handle)
            yield quarantine
        if not quarantine.rows:
            path.unlink(missing_ok=True)

    def add(self, error: RowError) -> None:
        line = {"where": error.where, "reason": error.reason, "row": _cut(error.row)}
        self._handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self.rows += 1


def _cut(row: Any) -> Any:
    text = row if isinstance(row, str) else json.dumps(row, ensure_ascii=False, default=str)
    if len(text) <= QUARANTINED_ROW_CHARS:
        return row
    return f"{text[:QUARANTINED_ROW_CHARS]}… ({len(text):,} characters in all)"


def derive_id(problem: str) -> str:
    """A stable id from the problem text, the same on every machine and run."""
    return "p-" + hashlib.sha256(" ".join(problem.split()).encode()).hexdigest()[:16]


class ReadIds(Protocol):
    """The problems read so far, by id: what tells a repeated id."""

    def add(self, problem: Problem) -> str | None:
        """Take `problem`; or, when an earlier one has its id, take nothing and say where that one was."""
        ...


class _IdsInMemory:
    def __init__(self) -> None:
        self._sources: dict[str, str] = {}

    def add(self, problem: Problem) -> str | None:
        if problem.id in self._sources:
            return self._sources[problem.id]
        self._sources[problem.id] = problem.source
        return None


def read_problems(
    config: ProblemsConfig,
    without_answer: bool = False,
    quarantine: Quarantine | None = None,
    ids: ReadIds | None = None,
) -> Iterator[Problem]:
    """All problems of all configured inputs, in order.

    A malformed row, or one whose id an earlier row has, stops the read; under `on_error: quarantine` it
    goes to `quarantine` instead (without one, it stops the read all the same). A row without an answer is
    malformed unless `without_answer` (its answer is then "": its samples' majority answer becomes its gold).
    `ids` takes each problem read (a `factory.problem_table.ProblemTable` keeps a million on disk); by
    default a dict in memory.
    """
    if not config.paths:
        raise FactoryError("problems.paths lists no file; name at least one JSONL, CSV or Parquet file")
    seen = ids if ids is not None else _IdsInMemory()
    read_gold = gold_reader(config.gold, config.gold_pattern)
    for name, rows in _inputs(config.paths, config.format):
        read = 0
        first_error: RowError | None = None
        for where, row in rows:
            try:
                if isinstance(row, RowError):
                    raise row
                problem = _to_problem(row, where, config, without_answer, read_gold)
                earlier = seen.add(problem)
                if earlier is not None:
                    raise RowError(
                        where, f"id {problem.id!r} already used at {earlier}; ids must be unique", row
                    )
            except RowError as error:
                if config.on_error != "quarantine" or quarantine is None:
                    raise
                quarantine.add(error)
                first_error = first_error or error
                continue
            yield problem
            read += 1
            if read == config.limit_per_file:
                break
        if not read and first_error is not None:
            raise FactoryError(
                f"{name}: no row could be read, so the file is not quarantined row by row "
                f"(the first: {first_error}); fix the file or problems.fields"
            )


def _inputs(paths: list[str], format: str) -> Iterator[tuple[str, Iterator[tuple[str, Row]]]]:
    """(name, its rows) for each input `problems.paths` names, a pattern's files in sorted order. The rows
    are read when asked for, so an input is opened only once the ones before it are read."""
    for entry in paths:
        if entry.startswith(HUB_PREFIX):
            yield entry, _nonempty(entry, "dataset", _hub_rows(entry))
        elif _GLOB.search(entry) and not os.path.exists(entry):
            matches = sorted(glob.glob(entry, recursive=True))
            if not matches:
                raise FactoryError(f"problems.paths: {entry} matches no file; check the pattern")
            for match in matches:
                yield match, read_rows(Path(match), format)
        elif not os.path.exists(entry) and ":" in entry and Path(entry.rsplit(":", 1)[0]).is_dir():
            folder, split = entry.rsplit(":", 1)
            yield entry, _nonempty(entry, "dataset", _saved_rows(Path(folder), split))
        else:
            yield entry, read_rows(Path(entry), format)


def read_rows(path: Path, format: str = "auto", option: str = "problems.format") -> Iterator[tuple[str, Row]]:
    """(where, row) for each row of a JSONL, CSV, Parquet or Arrow file (JSONL and CSV also gzip-compressed,
    `.jsonl.gz`), or of a folder `datasets` saved; `where` is "path:line" or "path:row N". A row that cannot
    be read comes as its `RowError`, for the caller to raise or set aside; a file that cannot be read, or
    holds no row, raises a `FactoryError`."""
    if path.is_dir():
        yield from _nonempty(str(path), "dataset", _saved_rows(path, None))
        return
    if not path.is_file():
        raise FactoryError(f"{path} does not exist")
    gzipped = _gzipped(path)
    inner = Path(path.stem) if gzipped else path  # `p.jsonl.gz` holds a JSONL file
    kind = format if format != "auto" else _FORMATS.get(inner.suffix.lower())
    if kind is None:
        suffix = "".join(path.suffixes[-2:]) if gzipped else path.suffix
        raise FactoryError(
            f"{path}: cannot tell the format from the suffix {suffix!r}; set {option} to jsonl, csv or "
            "parquet, or to arrow for an Arrow file"
        )
    if gzipped and kind not in _GZIP_FORMATS:
        raise FactoryError(f"{path}: a gzip-compressed {kind} file is not read; decompress it (gunzip) first")
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows, "arrow": _arrow_file_rows}
    yield from _nonempty(str(path), "file", readers[kind](path))


def _nonempty(name: str, what: str, rows: Iterator[tuple[str, Row]]) -> Iterator[tuple[str, Row]]:
    empty = True
    for where, row in rows:
        empty = False
        yield where, row
    if empty:
        raise FactoryError(f"{name}: the {what} holds no rows; check that it is the {what} you meant")


def _gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


@contextmanager
def _text(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """`path` open as UTF-8 text (a BOM skipped), decompressed as it is read when it ends in `.gz`; a byte
    that is not UTF-8, or a damaged gzip stream, becomes a one-line error."""
    gzipped = _gzipped(path)
    try:
        if gzipped:  # closed as the block below ends
            handle: IO[str] = gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)  # noqa: SIM115
        else:
            handle = path.open(encoding="utf-8-sig", newline=newline)
    except OSError as error:
        raise FactoryError(f"{path}: cannot read ({error.strerror}); check its permissions") from None
    try:
        with handle:
            yield handle
    except UnicodeDecodeError:
        raise (_gzip_not_utf8(path) if gzipped else not_utf8_error(path)) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        # A truncated download ends in EOFError ("Compressed file ended before the end-of-stream marker").
        raise FactoryError(f"{path}: not a readable gzip file ({error}); compress it again") from None


def _gzip_not_utf8(path: Path) -> FactoryError:
    """`not_utf8_error` for a gzip-compressed file: the line is counted in the decompressed text."""
    with gzip.open(path, "rb") as handle:
        return not_utf8_error(path, handle)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Row]]:
    with _text(path) as lines:
        number = 0
        while line := lines.readline(MAX_LINE_CHARS + 1):
            number += 1
            where = f"{path}:{number}"
            if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                size = len(line) + _skip_line(lines)
                reason = (
                    f"the line holds {size:,} characters, more than a row may ({MAX_LINE_CHARS:,}); "
                    "is the file JSONL, one object per line?"
                )
                yield where, RowError(where, reason, line)
            elif line.strip():
                yield where, _json_row(where, line)


def _skip_line(lines: IO[str]) -> int:
    """Read past the rest of an over-long line, a piece at a time; the number of characters skipped."""
    skipped = 0
    while piece := lines.readline(MAX_LINE_CHARS):
        skipped += len(piece)
        if piece.endswith("\n"):
            break
    return skipped


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: JSON keeps the last of two, silently."""
    row = dict(pairs)
    if len(row) < len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(next(key for key in keys if keys.count(key) > 1))
    return row


def _json_row(where: str, line: str) -> Row:
    # A line that opens a document spread over many lines: a pretty-printed .json file, not JSONL.
    spread = " (the file looks like one JSON document over many lines; write one object per line: JSONL)"
    try:
        row = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        hint = spread if line.strip() in ("[", "{") else ""
        return RowError(where, f"not valid JSON ({error.msg} at column {error.pos + 1}){hint}", line)
    except _RepeatedKey as error:
        return RowError(where, f"key {error.args[0]!r} appears twice in the object; keep one", line)
    except RecursionError:
        return RowError(where, "not a row: JSON nested too deeply to read", line)
    if not isinstance(row, dict):
        hint = "; a JSON array? write one object per line: JSONL" if isinstance(row, list) else ""
        return RowError(where, f"expected a JSON object, got {type(row).__name__}{hint}", line)
    return row


def _csv_rows(path: Path) -> Iterator[tuple[str, Row]]:
    with _text(path, newline="") as handle:
        record: list[str] = []  # the lines of the row being read, kept for the quarantine

        def lines() -> Iterator[str]:
            for line in handle:
                record.append(line)
                yield line

        # strict: a quote out of place is an error, not a cell silently merged with the next ones.
        reader = csv.reader(lines(), strict=True)
        try:
            header = next(reader, [])
        except csv.Error as error:
            raise FactoryError(f"{path}:1: the header is not valid CSV ({error})") from None
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise FactoryError(f"{path}:1: column {repeated[0]!r} appears twice in the header; rename one")
        while True:
            where = f"{path}:{reader.line_num + 1}"  # the line the row starts on
            record.clear()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield where, RowError(where, f"not valid CSV ({error}); {_QUOTES}", "".join(record))
                continue
            if not cells:
                continue  # a blank line
            if len(cells) != len(header):
                more = "more" if len(cells) > len(header) else "fewer"
                reason = (
                    f"the row has {more} cells ({len(cells)}) than the header has columns ({len(header)})"
                )
                yield where, RowError(where, f"{reason}; {_QUOTES}", "".join(record))
                continue
            yield where, dict(zip(header, cells, strict=True))


_QUOTES = 'check its quotes: a cell holding a comma is quoted, a quote inside one is written twice ("")'


def _parquet_rows(path: Path) -> Iterator[tuple[str, Row]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        leaf_paths = [parquet.schema.column(leaf).path for leaf in range(metadata.num_columns)]
        # The same file with its dictionary-encoded text read as indices into the dictionary: what a column
        # decodes to is counted on it without decoding a value.
        indexed = pq.ParquetFile(
            path,
            metadata=metadata,
            read_dictionary=sorted(
                {
                    leaf_paths[leaf]
                    for group in range(metadata.num_row_groups)
                    for leaf in range(metadata.num_columns)
                    if _has_dictionary(metadata.row_group(group).column(leaf))
                }
            ),
        )
        columns = _parquet_columns(parquet.schema_arrow)
        index = 0
        for group in range(metadata.num_row_groups):
            for name, leaves in columns:
                _check_decoded_size(path, indexed, group, name, leaves)
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group]):
                yield from _python_rows(str(path), batch, index)
                index += batch.num_rows
    except (pa.ArrowException, OSError) as error:
        raise FactoryError(f"{path}: not a readable Parquet file ({error})") from None


def _parquet_columns(schema: Any) -> list[tuple[str, range]]:
    """Each top-level column of an Arrow schema read from Parquet, with the indices of its leaf columns in the
    file (a struct has one per field, a list those of its items): the footer counts sizes by leaf."""
    columns: list[tuple[str, range]] = []
    start = 0
    for field in schema:
        end = start + _leaf_count(field.type)
        columns.append((field.name, range(start, end)))
        start = end
    return columns


def _leaf_count(arrow_type: Any) -> int:
    import pyarrow as pa

    if isinstance(arrow_type, pa.BaseExtensionType):
        arrow_type = arrow_type.storage_type
    return sum(_leaf_count(arrow_type.field(index).type) for index in range(arrow_type.num_fields)) or 1


def _has_dictionary(chunk: Any) -> bool:
    """Whether a column chunk holds text through a dictionary, where one value may stand for many rows."""
    return bool(chunk.physical_type == "BYTE_ARRAY" and chunk.has_dictionary_page)


def _check_decoded_size(path: Path, indexed: Any, group: int, name: str, leaves: range) -> None:
    """Refuse column `name` of row group `group` before a value of it is decoded, when it would decode to more
    than a column may (PARQUET_COLUMN_BYTES)."""
    chunks = [indexed.metadata.row_group(group).column(leaf) for leaf in leaves]
    stored = sum(chunk.total_compressed_size for chunk in chunks)
    allowed = max(PARQUET_COLUMN_BYTES, PARQUET_EXPANSION * stored)
    decoded = 0
    for leaf, chunk in zip(leaves, chunks, strict=True):
        fixed = chunk.physical_type == "FIXED_LEN_BYTE_ARRAY"
        width = indexed.schema.column(leaf).length if fixed else _VALUE_BYTES[chunk.physical_type]
        decoded += max(chunk.total_uncompressed_size, chunk.num_values * width)
    for leaf, chunk in zip(leaves, chunks, strict=True):
        # A value read through the dictionary is one of its entries, no larger than the whole chunk: the
        # values are counted only where that could pass the limit (a short id or label column cannot).
        room = allowed - decoded
        if room >= 0 and _has_dictionary(chunk) and chunk.num_values * chunk.total_uncompressed_size > room:
            decoded += _dictionary_bytes(indexed, group, indexed.schema.column(leaf).path, room)
    if decoded > allowed:
        raise FactoryError(
            f"{path}: column {name!r} of row group {group} decodes to more than {allowed:,} bytes, from "
            f"{stored:,} in the file (a column may take {PARQUET_EXPANSION}x its size in the file, or "
            f"{PARQUET_COLUMN_BYTES:,} bytes); a value repeated row after row? Write the file without the "
            "column, or in smaller row groups"
        )


def _dictionary_bytes(indexed: Any, group: int, leaf: str, room: int) -> int:
    """What the values of leaf column `leaf` of row group `group` that are stored through its dictionary
    take once decoded, counted on their indices (the count stops past `room`). A writer whose dictionary
    fills up goes on with plain values, which the footer counts, and never goes back: the count ends where
    the dictionary grows past its first page."""
    import pyarrow.compute as pc

    total = 0
    first_page = 0
    for batch in indexed.iter_batches(batch_size=PARQUET_SCAN_ROWS, row_groups=[group], columns=[leaf]):
        entries = 0
        for array in _dictionary_arrays(batch.column(0)):
            lengths = pc.binary_length(array.dictionary)
            total += pc.sum(pc.take(lengths, array.indices)).as_py() or 0
            entries += len(array.dictionary)
        if total > room or first_page and entries > first_page:
            break
        first_page = first_page or entries
    return total


def _dictionary_arrays(array: Any) -> Iterator[Any]:
    """The dictionary-encoded arrays in `array`, however deep in lists and structs."""
    import pyarrow as pa

    if isinstance(array, pa.DictionaryArray):
        yield array
    elif isinstance(array, pa.StructArray):
        for child in array.flatten():
            yield from _dictionary_arrays(child)
    elif array.type.num_fields:  # a list or a map
        yield from _dictionary_arrays(array.values)


def _arrow_file_rows(path: Path) -> Iterator[tuple[str, Row]]:
    yield from _record_batch_rows(str(path), _arrow_batches(path))


def _arrow_batches(path: Path) -> Iterator[Any]:
    """The record batches of an Arrow IPC file, in the stream format `datasets` writes or the file format,
    one at a time. Read, not memory-mapped: the pages of a map stay in the process's memory once touched (a
    300 MB dataset read through one peaked at 370 MiB), a batch read is freed once its rows are made."""
    import pyarrow as pa

    try:
        with pa.OSFile(str(path)) as source:
            if source.read(6) == b"ARROW1":  # the file format's magic; a stream starts with its schema
                reader = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index)
            else:
                source.seek(0)
                yield from pa.ipc.open_stream(source)
    except (pa.ArrowException, OSError) as error:
        raise FactoryError(f"{path}: not a readable Arrow file ({error})") from None


def _record_batch_rows(name: str, batches: Iterable[Any]) -> Iterator[tuple[str, Row]]:
    """The rows of Arrow record batches, numbered from 0 over all of them ("name:row N"), each batch checked
    by `_check_batch` before a value of it is decoded, and reaching Python PARQUET_BATCH_ROWS at a time."""
    index = 0
    for batch in batches:
        _check_batch(name, batch, index)
        for start in range(0, batch.num_rows, PARQUET_BATCH_ROWS):
            part = batch.slice(start, PARQUET_BATCH_ROWS)
            yield from _python_rows(name, part, index)
            index += part.num_rows


def _check_batch(name: str, batch: Any, first: int) -> None:
    """Refuse a column of a record batch (its first row is row `first`) that would decode to more than a
    column may, as Parquet's row groups are refused (`_check_decoded_size`): an Arrow dictionary, too, may
    stand one value for a million rows. As read, a batch takes what it takes in the file (Arrow is decoded
    already, but for its dictionaries), so that is what a column's decoded size is measured against."""
    for column_name, column in zip(batch.schema.names, batch.columns, strict=True):
        stored = column.nbytes
        allowed = max(PARQUET_COLUMN_BYTES, PARQUET_EXPANSION * stored)
        decoded = stored + sum(_taken_bytes(array) for array in _dictionary_arrays(column))
        if decoded > allowed:
            raise FactoryError(
                f"{name}: column {column_name!r} of the record batch from row {first} decodes to more than "
                f"{allowed:,} bytes, from {stored:,} in the file (a column may take {PARQUET_EXPANSION}x its "
                f"size in the file, or {PARQUET_COLUMN_BYTES:,} bytes); a value repeated row after row? Write "
                "the file without dictionary encoding"
            )


def _taken_bytes(array: Any) -> int:
    """What the values of the dictionary array `array` take once decoded, counted on its indices."""
    import pyarrow as pa
    import pyarrow.compute as pc

    entries = array.dictionary
    text = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_string, pa.types.is_large_string)
    if any(test(entries.type) for test in text):
        return int(pc.sum(pc.take(pc.binary_length(entries), array.indices)).as_py() or 0)
    return len(array) * (entries.nbytes // max(len(entries), 1))  # entries of one size, near enough


def _saved_rows(folder: Path, split: str | None) -> Iterator[tuple[str, Row]]:
    """The rows of a folder `datasets` wrote with `save_to_disk`: a `Dataset` (its `state.json` lists its
    Arrow files), or `split` of a `DatasetDict` (its `dataset_dict.json` lists the splits, each a `Dataset`
    folder of that name)."""
    name = str(folder)
    splits_file = folder / "dataset_dict.json"
    if splits_file.is_file():
        splits = _saved_json(splits_file, "splits", str)
        if split is None:
            raise FactoryError(
                f"{folder} holds the splits {', '.join(splits)} (a DatasetDict); name one after a colon: "
                f"{folder}:{splits[0] if splits else 'train'}"
            )
        if split not in splits:
            raise FactoryError(f"{folder}: no split {split!r}; it holds {', '.join(splits)}")
        folder, name = folder / split, f"{folder}:{split}"
    elif split is not None:
        raise FactoryError(
            f"{folder}:{split}: {folder} holds one dataset, not splits (it has no dataset_dict.json); name "
            "the folder without a split"
        )
    state = folder / "state.json"
    if not state.is_file():
        raise FactoryError(
            f"{folder} is a directory; name a JSONL, CSV or Parquet file, or a folder `datasets` saved with "
            "save_to_disk (one holds a state.json or a dataset_dict.json)"
        )
    files = [folder / str(entry.get("filename")) for entry in _saved_json(state, "_data_files", dict)]
    yield from _record_batch_rows(name, (batch for path in files for batch in _arrow_batches(path)))


def _saved_json(path: Path, key: str, item: type) -> list[Any]:
    """The list (of `item`s) under `key` in a JSON file `save_to_disk` wrote."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise FactoryError(
            f"{path}: not a file `datasets` writes ({error}); save the dataset again"
        ) from None
    if not isinstance(value, list) or not all(isinstance(entry, item) for entry in value):
        raise FactoryError(f"{path}: no list {key!r} in it, as `datasets` writes one; save the dataset again")
    return value


def _hub_rows(entry: str) -> Iterator[tuple[str, Row]]:
    """The rows of a Hugging Face dataset as the local datasets cache holds it, `hf:ID[:CONFIG]:SPLIT`."""
    if "[" in entry:  # `datasets`' slices, train[:100]
        raise FactoryError(
            f"problems.paths: {entry}: a split is read whole, not sliced; set problems.limit_per_file to read "
            "its first rows"
        )
    parts = entry[len(HUB_PREFIX) :].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise FactoryError(
            f"problems.paths: {entry}: write a Hugging Face dataset as hf:ID:SPLIT or hf:ID:CONFIG:SPLIT, "
            "e.g. hf:openai/gsm8k:main:train"
        )
    dataset = _cached_dataset(entry, parts[0], parts[1] if len(parts) == 3 else None, parts[-1])
    # `datasets` found the split's files in its cache; they are read as any Arrow file is, checked and a batch
    # at a time, rather than through the dataset's memory maps.
    files = [Path(file["filename"]) for file in dataset.cache_files]
    yield from _record_batch_rows(entry, (batch for path in files for batch in _arrow_batches(path)))


def _cached_dataset(entry: str, dataset_id: str, config: str | None, split: str) -> Any:
    """`load_dataset(dataset_id, config, split=split)` from the local datasets cache only: a run must not
    reach the network (and must not wait on one that is not there)."""
    try:
        import datasets
        import huggingface_hub.constants
        from datasets.utils import logging as datasets_logging
    except ImportError:
        raise FactoryError(
            f"{entry}: reading a Hugging Face dataset needs `datasets`: pip install datasets"
        ) from None
    cache_dir = os.environ.get("HF_DATASETS_CACHE") or None  # read now: `datasets` read it at its import
    arguments = ", ".join(repr(value) for value in (dataset_id, config) if value is not None)
    how = (
        f'cache it on a machine with network: python -c "from datasets import load_dataset; '
        f'load_dataset({arguments}, split={split!r})", then copy the cache (HF_DATASETS_CACHE, or '
        "~/.cache/huggingface/datasets) here"
    )
    # `datasets` reads HF_DATASETS_OFFLINE (and the hub HF_HUB_OFFLINE) once, at its import: set after an
    # import, the variables would do nothing, so the flags themselves are set for the call.
    offline = [(datasets.config, "HF_HUB_OFFLINE"), (huggingface_hub.constants, "HF_HUB_OFFLINE")]
    saved = [getattr(module, flag) for module, flag in offline]
    verbosity = datasets_logging.get_verbosity()
    for module, flag in offline:
        setattr(module, flag, True)
    datasets_logging.set_verbosity_error()  # not "Using the latest cached version...": offline is the point
    try:
        return datasets.load_dataset(dataset_id, config, split=split, cache_dir=cache_dir)
    except ConnectionError:  # what an offline `datasets` says of a dataset it has no copy of
        where = cache_dir or datasets.config.HF_DATASETS_CACHE
        raise FactoryError(f"{entry}: not in the datasets cache ({where}); {how}") from None
    except (ValueError, OSError, KeyError) as error:  # a config or split not cached, a damaged cache
        reason = " ".join(str(error).split())
        raise FactoryError(f"{entry}: cannot be read from the datasets cache ({reason}); {how}") from None
    finally:
        for (module, flag), value in zip(offline, saved, strict=True):
            setattr(module, flag, value)
        datasets_logging.set_verbosity(verbosity)


def _python_rows(source: str, batch: Any, first: int) -> Iterator[tuple[str, Row]]:
    """The rows of a record batch, whose first is row `first` of `source`, as JSON-like values (see
    `_python_values`); a row with a value that cannot be read comes as its `RowError`."""
    names = batch.schema.names
    columns: list[list[Any]] = []
    faults: dict[int, str] = {}
    for name, column in zip(names, batch.columns, strict=True):
        values, column_faults = _python_values(column)
        columns.append(values)
        for offset, fault in column_faults.items():
            faults.setdefault(offset, f"field {name!r} {fault}")
    for offset, cells in enumerate(zip(*columns)):  # not strict: its check doubles the time of a row
        where = f"{source}:row {first + offset}"
        row = dict(zip(names, cells))
        yield where, RowError(where, faults[offset], row) if offset in faults else row


def _python_values(column: Any) -> tuple[list[Any], dict[int, str]]:
    """The values of a column as a JSONL row would hold them: bytes as UTF-8 text, decimals and times as
    text (an id, a gold, or anything a later stage writes as JSON); and why each value that cannot be read
    cannot, by its offset."""
    import pyarrow as pa

    faults: dict[int, str] = {}
    try:
        values = column.to_pylist()
    except (ValueError, OverflowError):  # a date past year 9999, beyond Python's datetime: find which
        values = []
        for offset in range(len(column)):
            try:
                values.append(column[offset].as_py())
            except (ValueError, OverflowError):
                values.append(None)
                faults[offset] = "holds a date or time out of the years 1 to 9999, which Python cannot read"
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        for offset, value in enumerate(values):
            try:
                values[offset] = value if value is None else value.decode()
            except UnicodeDecodeError as error:
                faults[offset] = (
                    f"holds bytes that are not UTF-8 text (byte {error.start + 1} is "
                    f"0x{value[error.start]:02x}); write text columns as UTF-8 strings"
                )
    elif pa.types.is_decimal(kind) or pa.types.is_duration(kind):
        values = [value if value is None else str(value) for value in values]
    elif pa.types.is_temporal(kind):
        values = [value if value is None else value.isoformat() for value in values]
    return values, faults


def _to_problem(
    row: dict[str, Any],
    source: str,
    config: ProblemsConfig,
    without_answer: bool,
    read_gold: Callable[[str], str | None],
) -> Problem:
    fields = config.fields

    def hint(role: str) -> str:
        return f"fix the row or map the {role} with problems.fields.{role}"

    text = text_field(row, fields.problem, source, hint("problem"))
    if without_answer and _missing(row.get(fields.answer)):
        answer = ""  # the majority answer of its samples will be its gold
    else:
        answer = text_field(row, fields.answer, source, hint("answer") + ", or set reject.majority")
    given_id = row.get(fields.id) if fields.id is not None else None
    if _missing(given_id):
        problem_id = derive_id(text)  # the input has no id for this row: derive a stable one
    else:
        problem_id = text_field(row, fields.id, source, hint("id"))
    mapped = {fields.id, fields.problem, fields.answer}
    meta = {key: value for key, value in row.items() if key not in mapped}  # extra fields are kept here
    if config.keep_columns:
        keep = "drop it from problems.keep_columns, or add it to the row"
        meta[KEPT_COLUMNS] = {name: require_field(row, name, source, keep) for name in config.keep_columns}
    gold = read_gold(answer) if answer else None
    if gold is not None and gold != answer:
        meta[REFERENCE_SOLUTION] = answer
        answer = gold
    return Problem(id=problem_id, problem=text, answer=answer, source=source, meta=meta)


def unread_golds(problems: Iterable[Problem], config: ProblemsConfig) -> GoldTally:
    """The golds of `problems` that `problems.gold` could not read (and so are verified as given)."""
    tally = GoldTally(config.gold)
    if reads_every_gold(config.gold):  # no pass over the problems
        return tally
    read_gold = gold_reader(config.gold, config.gold_pattern)
    for problem in problems:
        given = problem.meta.get(REFERENCE_SOLUTION, problem.answer)
        if problem.answer and read_gold(given) is None:
            tally.add_unread(problem.id)
    return tally


def _missing(value: Any) -> bool:
    """No value: null, blank text, or NaN (how pandas writes a missing cell, as a float or as text)."""
    return value is None or _is_nan(value) or (isinstance(value, str) and not value.strip())


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower().lstrip("+-") == "nan"


def require_field(row: dict[str, Any], column: str, source: str, hint: str) -> Any:
    """`row[column]`, or a one-line error naming the columns present and ending in `hint`."""
    if column not in row:
        present = ", ".join(map(str, row)) or "none"
        raise RowError(source, f"field {column!r} is missing (columns present: {present}); {hint}", row)
    return row[column]


def text_field(row: dict[str, Any], column: str, source: str, hint: str) -> str:
    """The non-empty text (or finite number, as text) in `row[column]`; otherwise a one-line error ending
    in `hint`. NaN, as a number or as text, is refused: it is how pandas writes a missing value."""
    value = require_field(row, column, source, hint)

    def refuse(problem: str) -> RowError:
        return RowError(source, f"field {column!r} {problem}; {hint}", row)

    if value is None:
        raise refuse("is null")
    if _is_nan(value):
        raise refuse("is NaN, how pandas writes a missing value")
    if isinstance(value, float) and math.isinf(value):
        raise refuse("is infinite (a number too large for a float: write it as text)")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise refuse(f"must be text or a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise refuse("is empty")
    return text
