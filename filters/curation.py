"""What curation units see and answer: the keep/drop units that run after the verifier.

Two kinds, each a small frozen dataclass whose fields are its parameters (so a config section builds it and
an error names the field):

- a **trace filter** looks at one verified trace and answers `None` (keep) or a short snake_case reason;
- a **problem selector** looks at one problem's traces still kept (after the verifier and the trace filters)
  and answers which of them to keep, in order of preference, with a reason for each one it drops.

Units never count: the curate stage counts drops by unit and reason and writes each drop, with its reason,
to the exclusion journal (datatrove's `BaseFilter` and exclusion writer).

>>> from filters.trace_filters import TruncatedFilter
>>> TruncatedFilter().drop_reason(Trace(problem_id="p", index=0, problem="1+1?", text="2", finish_reason="length"))
'truncated'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Trace:
    """One verified sample as curation units see it."""

    problem_id: str
    index: int  # the sample index (draw number) within its problem
    problem: str  # the problem text
    text: str  # the trace as the student learns it (separated reasoning inside <think>...</think> first)
    finish_reason: str | None = "stop"  # "length": the engine cut it off at max_tokens
    correct: bool = True  # the verifier's status is `correct`
    verdict_reason: str = "matched"  # the verifier's reason (wrong_answer, no_answer... when not correct)
    answer: str | None = None  # the final answer the verifier extracted
    found_by: str | None = None  # how: boxed, pattern, marker, choice, answer_tag, bare, last_math, ...
    completion_tokens: int | None = None  # as counted by the teacher's engine
    asked_format: str | None = None  # what the prompt template asked for: "boxed", "answer_line" or None
    sample_key: str = ""


@dataclass(frozen=True, slots=True)
class Draws:
    """A problem's draws once all are verified: selectors that judge the problem (a pass-rate band) use it."""

    drawn: int  # samples drawn for the problem
    correct: int  # of them, judged correct by the verifier (before any trace filter)


@dataclass(frozen=True, slots=True)
class Selection:
    """A selector's answer: the traces it keeps, best first, and each trace it drops with its reason."""

    kept: list[Trace]
    dropped: list[tuple[Trace, str]] = field(default_factory=list)


class TraceFilter(Protocol):
    def drop_reason(self, trace: Trace) -> str | None:
        """None to keep the trace, or why it is dropped (snake_case, e.g. `truncated`)."""
        ...


class ProblemSelector(Protocol):
    def select(self, traces: Sequence[Trace], draws: Draws) -> Selection:
        """Which of one problem's kept traces (in preference order so far) to keep; the others with a reason."""
        ...

    def enough(self, passing: int) -> bool:
        """With `passing` traces already kept before selection, no further draw can change what this keeps
        (adaptive sampling then stops drawing for the problem)."""
        ...


@dataclass(frozen=True, slots=True)
class Curated:
    """One problem's curation: the traces kept (best first) and every drop as (trace, unit name, reason)."""

    kept: list[Trace]
    dropped: list[tuple[Trace, str, str]]


VERIFIER_UNIT = "verifier"


def first_drop(trace: Trace, trace_filters: Sequence[tuple[str, TraceFilter]]) -> tuple[str, str] | None:
    """(unit, reason) of the first unit that drops `trace`, the verifier's verdict first; None to keep it."""
    if not trace.correct:
        return VERIFIER_UNIT, trace.verdict_reason
    for name, unit in trace_filters:
        reason = unit.drop_reason(trace)
        if reason is not None:
            return name, reason
    return None


def curate_problem(
    traces: Sequence[Trace],
    draws: Draws,
    trace_filters: Sequence[tuple[str, TraceFilter]],
    selectors: Sequence[tuple[str, ProblemSelector]],
) -> Curated:
    """Run one problem's traces (in sample-index order) through the verifier's verdict, then each trace
    filter, then each selector, in order; the first unit that drops a trace gives its reason."""
    kept: list[Trace] = []
    dropped: list[tuple[Trace, str, str]] = []
    for trace in traces:
        drop = first_drop(trace, trace_filters)
        if drop is None:
            kept.append(trace)
        else:
            dropped.append((trace, *drop))
    for name, selector in selectors:
        selection = selector.select(kept, draws)
        kept = selection.kept
        dropped.extend((trace, name, reason) for trace, reason in selection.dropped)
    return Curated(kept, dropped)
