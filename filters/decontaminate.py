"""Decontamination: find the problems and traces that share words with an evaluation set's items.

A corpus that holds a benchmark's problems (or a trace quoting one) inflates the student's score on that
benchmark, so a problem is checked before it is ever sampled and a kept trace before it is packaged. The
test is the one open-r1 took from s1: a text is contaminated when it shares a run of `ngram` (8) words with
an evaluation item, read by `filters.text.words` (lowercased `\\w+` tokens), so spacing, case, punctuation
and LaTeX braces never hide a copy. datatrove uses 12 words; fewer catch more paraphrase and more chance.

The n-gram is matched anywhere in the text, so a trace that solves another problem and quotes an evaluation
problem on the way is caught too. `match` reports the first shared n-gram, reading the text left to right,
and the lowest-numbered item holding it, so a report never depends on dict order.

An item shorter than `ngram` words has no n-gram; it is indexed as one gram of its own length and matched
as a whole run of words anywhere in the text. Only items of 3 words or more: a 2-word item ("Find x.")
would match everything; it matches a text of exactly its words ("find x"), and nothing else.

Fuzzy matching (`fuzzy`, OpenThoughts uses 95) is rapidfuzz's `fuzz.ratio` between the word-normalised
texts, a near-copy with a few words changed that shares no n-gram. It is meant for problems, which have the
length of an item; call `match(trace, fuzzy=False)` for traces: a whole trace's ratio against a short
problem measures their difference in length, not a quote.

The index maps a 64-bit key of each n-gram to the first item holding it. Words are numbered as the eval
sets are read (a word no item has is -1, in no indexed gram), and the key is CPython's `hash` of the tuple
of word numbers: the same in every process, as ints are hashed without the hash seed. A key hit is checked
against the item's own words, so a collision is never reported. Measured on 10,000 random items of 15-80
words (406,396 8-grams), keys alone: 36 MB for this index or one keyed by an 8-byte blake2b digest, 64 MB
keyed by tuples of interned words; the keys of a 300-word text cost 50 µs here, 240 µs with blake2b.
`match` on a 300-word trace that quotes nothing takes about 0.15 ms of CPU, its `words` included.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from filters.text import words

# An item of fewer words only matches a text of exactly its words (see the module docstring).
MIN_ITEM_WORDS = 3

_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_SUFFIXES = "use .jsonl (or .json with one object per line), .parquet or .csv"
_HINT = "fix the file or its entry in curate.decontaminate.sets"
_UNKNOWN_WORD = -1


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One evaluation item. `row` is the 1-based line number in a JSONL file, the 1-based data row (the
    header not counted) in a CSV or Parquet file."""

    set_path: str
    row: int
    text: str


@dataclass(frozen=True, slots=True)
class Match:
    """Why a text is contaminated: the item it shares words with, and how."""

    item: EvalItem
    method: str  # "ngram" | "fuzzy"
    ngram: str | None = None  # the shared words joined by spaces (method ngram)
    score: float | None = None  # rapidfuzz's ratio, 0-100 (method fuzzy)

    def to_dict(self) -> dict[str, Any]:
        """The exclusion's `detail`: which item was matched, and the n-gram or the score."""
        detail: dict[str, Any] = {
            "eval_set": self.item.set_path,
            "eval_row": self.item.row,
            "eval_text": self.item.text[:300],
            "method": self.method,
        }
        if self.method == "ngram":
            detail["ngram"] = self.ngram
        else:
            detail["score"] = None if self.score is None else round(self.score, 2)
        return detail


def read_eval_items(path: str, field: str) -> list[EvalItem]:
    """The items of an evaluation set: the non-empty text in `field` of each row of a JSONL, Parquet or CSV
    file (by suffix). Any flaw in the file is a one-line `FactoryError` naming the file and line."""
    return _read_set(path, field)[0]


def _read_set(path: str, field: str) -> tuple[list[EvalItem], str]:
    """The items and the first 16 hex digits of the sha256 of the file's bytes (the items come from those
    same bytes)."""
    file = Path(path)
    suffix = file.suffix.lower()
    if not file.exists():
        raise FactoryError(f"{path}: evaluation set not found; {_HINT}")
    if suffix not in (*_JSONL_SUFFIXES, ".parquet", ".csv"):
        raise FactoryError(
            f"{path}: cannot tell the evaluation set's format from the suffix {suffix!r}; {_SUFFIXES}"
        )
    try:
        data = file.read_bytes()
    except OSError as error:
        raise FactoryError(f"{path}: cannot read the evaluation set ({error.strerror}); {_HINT}") from None
    if suffix == ".parquet":
        rows = _parquet_values(path, data, field)
    else:
        text = _decode(path, data)
        rows = _csv_values(path, text, field) if suffix == ".csv" else _jsonl_values(path, text, field)
    items = [EvalItem(path, row, _item_text(value, where, field)) for row, where, value in rows]
    if not items:
        raise FactoryError(f"{path}: the evaluation set has no items (no rows); {_HINT}")
    return items, hashlib.sha256(data).hexdigest()[:16]


def _decode(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a BOM, as spreadsheet tools write one, is fine
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FactoryError(f"{path}:{line}: not UTF-8 text (byte {error.start}); {_HINT}") from None


# Each reader yields (row, where, value): the item's row number, "path:line" for errors, the field's value.
_Rows = Iterator[tuple[int, str, Any]]


def _jsonl_values(path: str, text: str, field: str) -> _Rows:
    # Split on "\n" only: JSON allows a raw U+2028 inside a string, which str.splitlines would cut.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise FactoryError(
                f"{where}: not valid JSON ({error.msg} at column {error.colno}); an evaluation set holds one "
                "JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise FactoryError(f"{where}: expected a JSON object per line, got {type(row).__name__}")
        if field not in row:
            present = ", ".join(map(str, row)) or "none"
            raise FactoryError(f"{where}: field {field!r} is missing (fields present: {present}); {_HINT}")
        yield number, where, row[field]


def _csv_values(path: str, text: str, field: str) -> _Rows:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames
    if columns is None:
        return  # an empty file: no items
    if field not in columns:
        raise FactoryError(f"{path}:1: no column {field!r} (columns: {', '.join(columns)}); {_HINT}")
    for number, row in enumerate(reader, start=1):
        where = f"{path}:{reader.line_num}"
        if None in row:
            raise FactoryError(f"{where}: the row has more cells than the header has columns; {_HINT}")
        value = row[field]
        yield number, where, "" if value is None else value  # None: the row has fewer cells than the header


def _parquet_values(path: str, data: bytes, field: str) -> _Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(pa.BufferReader(data))
        columns = table.schema_arrow.names
        if field not in columns:
            raise FactoryError(f"{path}: no column {field!r} (columns: {', '.join(columns)}); {_HINT}")
        values = table.read(columns=[field]).column(field).to_pylist()
    except (pa.ArrowException, OSError) as error:
        raise FactoryError(f"{path}: not a readable Parquet file ({error}); {_HINT}") from None
    for number, value in enumerate(values, start=1):
        yield number, f"{path}: row {number}", value


def _item_text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise FactoryError(f"{where}: field {field!r} must be text, got {kind}; {_HINT}")
    if not words(value):
        raise FactoryError(f"{where}: field {field!r} is empty (no words); {_HINT}")
    return value


@dataclass(frozen=True, slots=True)
class _EvalSet:
    path: str
    field: str
    items: int
    sha256: str


class Decontaminator:
    """Finds the evaluation item a text shares an `ngram`-word run with, or (with `fuzzy`) the item whose
    rapidfuzz ratio to it reaches `fuzzy`. `sets` are (path, field) pairs.

    >>> aime = Decontaminator([("eval/aime.jsonl", "problem")])  # doctest: +SKIP
    >>> aime.match("So: find the number of ordered pairs (a, b) of ...", fuzzy=False)  # doctest: +SKIP
    Match(item=EvalItem(set_path='eval/aime.jsonl', row=3, text='Find the number of...'), method='ngram', ...)
    """

    def __init__(self, sets: Sequence[tuple[str, str]], ngram: int = 8, fuzzy: float | None = None) -> None:
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        if fuzzy is not None and not 0 < fuzzy <= 100:
            raise ValueError(f"fuzzy must be in (0, 100], got {fuzzy}")
        self.ngram = ngram
        self.fuzzy = fuzzy
        self._fuzz: Any = _rapidfuzz() if fuzzy is not None else None  # fail at start, not mid-run
        self.items: list[EvalItem] = []
        self._sets: list[_EvalSet] = []
        for path, field in sets:
            items, digest = _read_set(path, field)
            self.items.extend(items)
            self._sets.append(_EvalSet(path, field, len(items), digest))
        self._vocabulary: dict[str, int] = {}
        self._item_ids: list[tuple[int, ...]] = []
        self._index: dict[int, int] = {}  # gram key -> the first item holding it
        self._short_starts: dict[int, set[int]] = {}  # first word -> lengths of the short items it starts
        self._tiny: dict[tuple[int, ...], int] = {}  # the words of an item under MIN_ITEM_WORDS -> the item
        for number, item in enumerate(self.items):
            ids = tuple(self._vocabulary.setdefault(word, len(self._vocabulary)) for word in words(item.text))
            self._item_ids.append(ids)
            if len(ids) >= ngram:
                for start in range(len(ids) - ngram + 1):
                    self._index.setdefault(hash(ids[start : start + ngram]), number)
            elif len(ids) >= MIN_ITEM_WORDS:
                self._index.setdefault(hash(ids), number)
                self._short_starts.setdefault(ids[0], set()).add(len(ids))
            else:
                self._tiny.setdefault(ids, number)
        # Fuzzy candidates sorted by length: a ratio of at least t needs a length within a band (`_closest`).
        normalised = [" ".join(words(item.text)) for item in self.items] if fuzzy is not None else []
        self._by_length = sorted(range(len(normalised)), key=lambda number: (len(normalised[number]), number))
        self._fuzzy_texts = [normalised[number] for number in self._by_length]
        self._fuzzy_lengths = [len(text) for text in self._fuzzy_texts]

    def match(self, text: str, *, fuzzy: bool = True) -> Match | None:
        """The first evaluation item `text` shares an n-gram with; failing that (when the decontaminator has
        a `fuzzy` threshold and `fuzzy` is True) the item of the best ratio reaching it; else None.
        Pass `fuzzy=False` for traces (see the module docstring)."""
        tokens = words(text)
        found = self._first_shared(tokens)
        if found is not None:
            start, number, length = found
            return Match(self.items[number], "ngram", ngram=" ".join(tokens[start : start + length]))
        if fuzzy and self._fuzz is not None and tokens:
            closest = self._closest(" ".join(tokens))
            if closest is not None:
                number, score = closest
                return Match(self.items[number], "fuzzy", score=score)
        return None

    def _closest(self, query: str) -> tuple[int, float] | None:
        """(item, ratio) of the best ratio reaching the threshold, the lowest item on ties.

        ratio = 100 * (1 - indel distance / (a + b)) for lengths a and b, and the distance is at least
        |a - b|, so a ratio of t needs b within [a * t / (200 - t), a * (200 - t) / t]: only the items of
        such a length are scored (at t = 95, lengths within -10% / +11%)."""
        process, ratio = self._fuzz
        threshold, length = self.fuzzy, len(query)
        low = bisect_left(self._fuzzy_lengths, length * threshold / (200 - threshold) - 1)
        high = bisect_right(self._fuzzy_lengths, length * (200 - threshold) / threshold + 1)
        if low >= high:
            return None
        scored = process.extract(
            query,
            self._fuzzy_texts[low:high],
            scorer=ratio,
            processor=None,
            score_cutoff=threshold,
            limit=None,
        )
        if not scored:
            return None
        score, number = max((score, -self._by_length[low + at]) for _, score, at in scored)
        return -number, float(score)

    def _first_shared(self, tokens: list[str]) -> tuple[int, int, int] | None:
        """(start, item, length) of the leftmost shared gram; of the grams starting there, the lowest item."""
        vocabulary, index, ngram = self._vocabulary, self._index, self.ngram
        ids = tuple([vocabulary.get(word, _UNKNOWN_WORD) for word in tokens])
        if len(ids) < MIN_ITEM_WORDS:
            number = self._tiny.get(ids)
            return None if number is None else (0, number, len(ids))
        found: list[tuple[int, int, int]] = []
        # A clean text (nearly all of them) is settled by one set operation in C over all its keys.
        keys = [hash(ids[start : start + ngram]) for start in range(len(ids) - ngram + 1)]
        if not index.keys().isdisjoint(keys):
            for start, key in enumerate(keys):
                number = index.get(key)
                if number is not None and self._holds(number, ids[start : start + ngram]):
                    found.append((start, number, ngram))
                    break
        short_starts = self._short_starts
        if short_starts:
            end = found[0][0] if found else len(ids)  # a short gram further right cannot come first
            for start in [at for at, word in enumerate(ids[: end + 1]) if word in short_starts]:
                for length in short_starts[ids[start]]:
                    gram = ids[start : start + length]
                    number = index.get(hash(gram)) if len(gram) == length else None
                    if number is not None and self._holds(number, gram):
                        found.append((start, number, length))
                if found and found[-1][0] == start:
                    break
        return min(found) if found else None

    def _holds(self, number: int, gram: tuple[int, ...]) -> bool:
        """Whether item `number` really holds `gram` (a key hit could be a hash collision)."""
        ids = self._item_ids[number]
        if len(gram) < self.ngram:
            return ids == gram
        return any(ids[at : at + len(gram)] == gram for at in range(len(ids) - len(gram) + 1))

    def sets_summary(self) -> list[dict[str, Any]]:
        """Per evaluation set, for the dataset card: path, field, items, and `sha256` (the first 16 hex
        digits of the file's) so a card says which version of a benchmark the corpus was checked against."""
        return [
            {"path": entry.path, "field": entry.field, "items": entry.items, "sha256": entry.sha256}
            for entry in self._sets
        ]


def _rapidfuzz() -> tuple[Any, Any]:
    try:
        from rapidfuzz import fuzz, process
    except ImportError:
        raise FactoryError("fuzzy decontamination needs rapidfuzz: pip install 'factory[curate]'") from None
    return process, fuzz.ratio
