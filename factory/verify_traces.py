"""`factory verify`: the reject stage's verifier on traces made elsewhere (an API batch job, another tool).

Reads JSONL, CSV or Parquet rows with a gold answer and a response, writes one verdict per row as JSON lines
and a summary beside them. A gold is read as `--gold-extraction` says (`factory.golds`: by default a closing
`####` line, else the last `\boxed{}`, else the text as it is), so whole reference solutions verify as they
are.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.golds import (
    FLAG_SETTING,
    GOLD_MODES,
    UNPARSEABLE_GOLD,
    GoldTally,
    gold_reader,
    pattern_error,
    unparseable_hint,
)
from factory.problems import RowError, read_rows, require_field, text_field
from factory.storage import write_json, write_jsonl
from filters import Status, VerifyConfig, verify_many

# Rows verified together: enough to keep every worker busy, few enough to keep memory flat.
CHUNK_ROWS = 256


# Above this share of rows without an answer, the summary says how to point the verifier at it.
NO_ANSWER_HINT_SHARE = 0.5


@dataclasses.dataclass
class VerifySummary:
    rows: int = 0
    extraction: str = "lenient"
    by_status: Counter[str] = dataclasses.field(default_factory=Counter)
    by_reason: Counter[str] = dataclasses.field(default_factory=Counter)
    found_by: Counter[str] = dataclasses.field(default_factory=Counter)
    golds: GoldTally = dataclasses.field(default_factory=GoldTally)
    verdicts_path: str = ""  # the verdicts file written

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{status} {self.by_status[status]}" for status in Status)
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.by_reason.items()))
        found = ", ".join(f"{how} {count}" for how, count in self.found_by.most_common())
        correct = self.by_status[Status.CORRECT] / self.rows if self.rows else 0.0
        lines = [
            f"rows       {self.rows}",
            *self.golds.lines(self.rows, FLAG_SETTING),
            f"verdicts   {statuses}",
            f"reasons    {reasons or 'none'}",
            f"found by   {found or 'none'} ({self.extraction} extraction)",
            f"correct    {correct:.1%}",
            *unparseable_hint(
                self.by_reason[UNPARSEABLE_GOLD], self.rows, "golds", self.golds.mode, FLAG_SETTING
            ),
        ]
        no_answer = self.by_reason["no_answer"]
        if self.rows and no_answer / self.rows > NO_ANSWER_HINT_SHARE:
            extraction = (
                "or read closing values too with --extraction lenient"
                if self.extraction == "strict"
                else "(--extraction lenient, in use, found no closing value either)"
            )
            lines.append(
                f"hint       {no_answer} of {self.rows} rows have no answer the verifier can find: name the "
                f"answer line with --pattern (e.g. --pattern '^Final:\\s*(.+)$') {extraction}"
            )
        return lines


def verify_file(
    path: Path,
    out: Path,
    *,
    gold_field: str,
    response_field: str,
    id_field: str | None,
    config: VerifyConfig,
    workers: int | None = None,
    format: str = "auto",
    gold_extraction: str = "auto",
    gold_pattern: str | None = None,
) -> VerifySummary:
    """Verdicts for the rows of `path`, written to `out`, and their summary beside it. `gold_extraction` is
    one of `factory.golds.GOLD_MODES`; `pattern` reads `gold_pattern`'s one group."""
    summary_path = out.with_name(out.stem + ".summary.json")
    for written in (out, summary_path):
        if _same_file(path, written):
            raise FactoryError(f"the output {written} is the input file {path}; name another file with -o")
    read_gold = _gold_reader(gold_extraction, gold_pattern)
    summary = VerifySummary(
        extraction=config.extraction, golds=GoldTally(gold_extraction), verdicts_path=str(out)
    )

    def checked_rows() -> Iterator[tuple[str, dict[str, Any], str, str, str]]:
        """(where, row, the gold as given, the gold as read, the response) for each row."""
        for where, row in read_rows(path, format, option="--format"):
            if isinstance(row, RowError):
                raise row
            given = text_field(row, gold_field, where, "name the gold column with --gold-field")
            gold = read_gold(given)
            if gold is None:
                label = row.get(id_field) if id_field else None
                summary.golds.add_unread(where if label is None else str(label))
            # Unlike the gold, an empty response is data (the model said nothing), not a malformed row.
            response = require_field(
                row, response_field, where, "name the response column with --response-field"
            )
            if response is not None and not isinstance(response, str):
                raise RowError(
                    where, f"field {response_field!r} must be text, got {type(response).__name__}", row
                )
            yield where, row, given, gold or given, response or ""

    def verdicts() -> Iterator[dict[str, Any]]:
        rows = checked_rows()
        while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
            results = verify_many(
                [(gold, response) for _, _, _, gold, response in chunk], config, workers=workers
            )
            for (where, row, given, gold, _), verdict in zip(chunk, results, strict=True):
                summary.rows += 1
                summary.by_status[verdict.status] += 1
                summary.by_reason[verdict.reason] += 1
                if verdict.found_by:
                    summary.found_by[verdict.found_by] += 1
                yield {
                    "source": where,
                    "id": row.get(id_field) if id_field else None,
                    "status": str(verdict.status),
                    "reason": verdict.reason,
                    "answer": verdict.answer,
                    "gold": gold,
                    "reference_solution": given if given != gold else None,
                    "gold_form": verdict.gold_form,
                    "answer_form": verdict.answer_form,
                    "verifier": verdict.verifier,
                    "found_by": verdict.found_by,
                }

    write_jsonl(out, verdicts())
    write_json(
        summary_path,
        {
            "input": str(path),
            "rows": summary.rows,
            "by_status": summary.by_status,
            "by_reason": summary.by_reason,
            "found_by": summary.found_by,
            "extraction": summary.extraction,
            "golds": dataclasses.asdict(summary.golds),
        },
    )
    return summary


def _gold_reader(mode: str, pattern: str | None) -> Callable[[str], str | None]:
    """`factory.golds.gold_reader`, once the flags are checked: a mistake is one line naming the flag."""
    if mode not in GOLD_MODES:
        raise FactoryError(f"--gold-extraction must be one of {', '.join(GOLD_MODES)}; got {mode!r}")
    if mode == "pattern" and pattern is None:
        raise FactoryError(
            "--gold-extraction pattern needs --gold-pattern, a regex whose one group is the answer"
        )
    if mode != "pattern" and pattern is not None:
        raise FactoryError(f"--gold-pattern is read only with --gold-extraction pattern, not {mode}")
    wrong = pattern_error(pattern) if pattern is not None else None
    if wrong is not None:
        raise FactoryError(f"--gold-pattern {wrong}")
    return gold_reader(mode, pattern)


def _same_file(source: Path, written: Path) -> bool:
    """Whether writing `written` replaces `source`: one path once links are followed, or one file under
    two names (a hard link)."""
    if source.resolve() == written.resolve():
        return True
    try:
        return os.path.samefile(source, written)
    except OSError:  # one of them does not exist (yet)
        return False
