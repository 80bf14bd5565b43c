"""The typed records that stages exchange: problems → samples → verdicts (→ shards).

Each record round-trips through a plain dict (`to_dict` / `from_dict`) so that stages meet on disk as
JSON lines and never share objects in memory. Each dict carries the schema it was written under
(`schema_version`), so that a run folder written by another factory is read where its records still fit
and refused with one line where they do not, never half-read.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Self

Message = dict[str, str]

SCHEMA_KEY = "schema_version"
# Raise it when a record changes so that an older factory would misread it, and teach `_upgrade` to read
# the version before. 0: records written before they carried a version.
SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A dict that is not a record this factory can read; the message says why and what to do."""


class FieldError(RecordError):
    """A record with the right fields, one of which holds a value of the wrong type or range: one bad
    answer from a server, or a line edited by hand, rather than a folder of another factory version."""


class Record:
    def to_dict(self) -> dict[str, Any]:
        """The record as one JSON line writes it. Its values are the record's own, not copies:
        `dataclasses.asdict` deep-copied every sample's messages (9.7 of the driver's 26.5 profiled seconds,
        docs/scaling.md "How far one driver goes")."""
        return {SCHEMA_KEY: SCHEMA_VERSION} | self._fields()

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _field_order(type(self))}

    @classmethod
    def from_dict(cls, row: Any) -> Self:
        """The record a `to_dict` of this or an earlier factory made; `RecordError` for anything else."""
        if not isinstance(row, dict):
            raise RecordError(f"not a {cls.__name__} record but a JSON {type(row).__name__}")
        fields = dict(row)
        version = fields.pop(SCHEMA_KEY, 0)
        if not isinstance(version, int) or not 0 <= version <= SCHEMA_VERSION:
            raise RecordError(
                f"a {cls.__name__} record of schema {version!r}, which this factory does not know (it reads "
                f"schemas 0 to {SCHEMA_VERSION}): a newer factory wrote it; upgrade factory to read this folder"
            )
        return cls._build(cls._upgrade(fields, version))

    @classmethod
    def _upgrade(cls, fields: dict[str, Any], version: int) -> dict[str, Any]:
        """`fields` as this version's record has them (fields added since have defaults)."""
        return fields

    @classmethod
    def _build(cls, fields: dict[str, Any]) -> Self:
        _check_fields(cls, fields)
        return cls(**fields)


def _check_fields(record: type[Record], fields: dict[str, Any]) -> None:
    """`fields` are those of `record`: none missing (but those with defaults), none unknown."""
    names, required = _field_names(record)
    missing = [name for name in required if name not in fields]
    unknown = sorted(fields.keys() - names)
    if missing or unknown:
        found = "; ".join(
            [
                *([f"no field {', '.join(map(repr, missing))}"] if missing else []),
                *([f"unknown field {', '.join(map(repr, unknown))}"] if unknown else []),
            ]
        )
        raise RecordError(
            f"a {record.__name__} record this factory cannot read ({found}): the folder was written by "
            "another factory version; use another run_dir (--set run_dir=...)"
        )


@functools.cache
def _field_order(record: type[Record]) -> tuple[str, ...]:
    """The fields a record's line holds: not those it computes itself (`init=False`)."""
    return tuple(f.name for f in dataclasses.fields(record) if f.init)  # type: ignore[arg-type]


@functools.cache  # a run reads millions of records
def _field_names(record: type[Record]) -> tuple[frozenset[str], tuple[str, ...]]:
    """A record's field names, and those without a default."""
    known = [f for f in dataclasses.fields(record) if f.init]  # type: ignore[arg-type]
    required = (
        f for f in known if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return frozenset(f.name for f in known), tuple(f.name for f in required)


@dataclass(slots=True)
class Problem(Record):
    id: str
    problem: str
    answer: str
    source: str  # "file:line" the row came from, for error messages and provenance
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Sample(Record):
    """One teacher completion for one problem."""

    problem_id: str
    sample_index: int
    messages: list[Message]
    prompt_text: str | None  # the raw prompt, for teachers driven through /v1/completions
    prompt_template: str
    prompt_hash: str
    text: str
    reasoning: str | None  # the chain of thought when the server returns it separately
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    teacher_backend: str
    teacher_model: str
    sampling: dict[str, Any]
    latency_s: float
    # The server counted only the request's tokens (over n > 1 choices): `completion_tokens` is its share.
    completion_tokens_estimated: bool = False
    # The key, once asked for: the scheduler, the verifier and curation each need it, and it costs a JSON
    # dump and a hash (made five times a sample, it was the driver's largest cost after the journals').
    _key: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Whether built from an engine's answer or read from a journal: a value of the wrong type was
        # journaled, then broke the shards on every later run (an object as reasoning, a count over 2^63).
        fault = _sample_fault(self)
        if fault is not None:
            raise FieldError(fault)

    def trace_text(self) -> str:
        """What the student learns to write: the separated reasoning, when the server split it off, first."""
        if self.reasoning:
            return f"<think>\n{self.reasoning}\n</think>\n\n{self.text}"
        return self.text

    def key(self) -> str:
        if self._key is None:
            self._key = sample_key(
                self.problem_id,
                self.messages,
                self.prompt_hash,
                self.teacher_model,
                self.sampling,
                self.sample_index,
            )
        return self._key


# No server counts past 2^53 tokens; JSON readers lose exactness there, and the shards' int64 columns
# overflow at 2^63.
MAX_COUNT = 2**53 - 1
_UP_TO_MAX = "from 0 to 2^53 - 1"


def _sample_fault(sample: Sample) -> str | None:
    """The first of `sample`'s values that no sample may hold, said as "<field> must be ..., got ...".
    Straight-line checks: a run reads every sample on disk at each start, and these take about 3 µs of the
    20 that reading a sample's line takes here."""
    value: Any  # whatever the line held, the annotations notwithstanding
    for name, value in (
        ("problem_id", sample.problem_id),
        ("prompt_template", sample.prompt_template),
        ("prompt_hash", sample.prompt_hash),
        ("text", sample.text),
        ("teacher_backend", sample.teacher_backend),
        ("teacher_model", sample.teacher_model),
    ):
        if type(value) is not str:
            return _must(name, "a string", value)
    for name, value in (
        ("prompt_text", sample.prompt_text),
        ("reasoning", sample.reasoning),
        ("finish_reason", sample.finish_reason),
    ):
        if value is not None and type(value) is not str:
            return _must(name, "a string or null", value)
    if not _is_count(sample.sample_index):
        return _must("sample_index", f"an integer {_UP_TO_MAX}", sample.sample_index)
    for name, value in (
        ("prompt_tokens", sample.prompt_tokens),
        ("completion_tokens", sample.completion_tokens),
    ):
        if value is not None and not _is_count(value):
            return _must(name, f"an integer {_UP_TO_MAX} or null", value)
    if type(sample.messages) is not list:
        return _must("messages", "a list of objects of strings", sample.messages)
    for message in sample.messages:  # keys are strings: JSON has no other kind, nor do our templates
        if type(message) is not dict or any(type(value) is not str for value in message.values()):
            return _must("messages", "a list of objects of strings", sample.messages)
    if type(sample.sampling) is not dict:
        return _must("sampling", "an object", sample.sampling)
    if type(sample.completion_tokens_estimated) is not bool:
        return _must("completion_tokens_estimated", "true or false", sample.completion_tokens_estimated)
    latency = sample.latency_s
    if type(latency) not in (int, float) or not 0 <= latency <= MAX_COUNT:  # NaN compares false
        return _must("latency_s", f"a number of seconds {_UP_TO_MAX}", latency)
    return None


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT  # not isinstance: True is an int


def _must(name: str, kind: str, value: Any) -> str:
    shown = repr(value)
    return f"{name} must be {kind}, got {shown if len(shown) <= 80 else shown[:80] + '…'}"


def sample_key(
    problem_id: str,
    messages: list[Message],
    prompt_hash: str,
    model: str,
    sampling: dict[str, Any],
    index: int,
) -> str:
    """The identity of one sample: what was asked (problem, rendered prompt, template), of whom (model),
    how (sampling parameters other than `n`) and which draw (index). Not the backend: the same model
    offline or over HTTP makes the same sample, so a run can switch and keep what it has. Not `n`: raising
    it asks for more draws and keeps the first ones."""
    request = {k: v for k, v in sampling.items() if k != "n"}
    identity = [problem_id, messages, prompt_hash, model, request, index]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


@dataclass(slots=True)
class SampleVerdict(Record):
    """The verifier's outcome on one sample, and nothing else: whether the sample ships is the curate stage's
    decision, so a change of curation never verifies again."""

    problem_id: str
    sample_index: int
    status: str  # correct | incorrect | cannot_tell
    reason: str
    extracted: str | None
    gold: str  # the given gold answer, or the majority answer of the problem's samples (`gold_source`)
    verifier: str
    sample_key: str  # the verified sample (`Sample.key`); a re-run verifies only samples without a verdict
    teacher: str  # "backend:model" that made the sample, for per-teacher counts
    # How the answer was found: boxed, marker, last_number... (verdicts before 0.3: None).
    found_by: str | None = None
    # Set when the model judge (`reject.judge`) ruled, `verifier` then being "judge:<model>": why the rules
    # could not tell (no_answer...), the judge prompt template's hash and the judge's raw reply.
    rule_reason: str | None = None
    judge_prompt_hash: str | None = None
    judge_reply: str | None = None
    gold_source: str = "given"  # given | majority (the problem came without a gold: `reject.majority`)

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    @classmethod
    def _upgrade(cls, fields: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 0:  # verdicts before the curate stage carried the keep decision; it is curation's now
            fields.pop("kept", None)
        return fields


@dataclass(slots=True)
class Exclusion(Record):
    """One sample the curate stage dropped: which unit dropped it, and why. The trace is kept with it, so the
    exclusions can be read (and a unit's threshold judged) without joining the sample journal."""

    sample_key: str
    sample_index: int
    unit: str  # verifier, truncated, format, repetition..., or a selector's name
    reason: str  # the unit's snake_case reason: wrong_answer, truncated, not_boxed, over_k...
    answer: str | None
    trace: str  # "" for a trace the package stage dropped (budget, dedup...): it is in the sample journal
    teacher: str
    # What the drop points at: the copy kept (dedup), the evaluation item matched (decontaminate)...
    detail: dict[str, Any] | None = None
    status: str = ""  # the verifier's status for the sample (correct, incorrect, cannot_tell)


@dataclass(slots=True)
class ProblemVote(Record):
    """How a problem's samples voted on its answer (`reject.majority`): one line of the vote journal, made
    with the verdicts (it needs the verifier's equivalence), so curation never needs the verifier."""

    problem_id: str
    gold: str  # the problem's gold when it voted ("" for none): a vote against another gold is stale
    drawn: int
    answer: str | None  # the majority answer; None when there is none (`reason` says why)
    votes: int
    share: float
    reason: str  # majority | no_answers | tie | below_share | too_few_votes
    disagrees: bool  # the problem has a gold, and the verifier finds the majority answer different


def _shared(name: Any) -> Any:
    return sys.intern(name) if isinstance(name, str) else name


@dataclass(slots=True)
class KeptTrace(Record):
    """A sample the curate stage keeps, with what its shard row needs from its verdict."""

    sample_key: str
    sample_index: int
    answer: str | None
    found_by: str | None
    status: str
    reason: str
    verifier: str
    teacher: str

    def __post_init__(self) -> None:
        # The same few names are on every kept trace of a corpus, and packaging holds them all: one copy each.
        self.found_by, self.status, self.reason = (
            _shared(self.found_by),
            _shared(self.status),
            _shared(self.reason),
        )
        self.verifier, self.teacher = _shared(self.verifier), _shared(self.teacher)


@dataclass(slots=True)
class ProblemCuration(Record):
    """The curate stage's decision on one problem, once all its draws are verified: one line of the curation
    journal. Written once per problem and curate config; the shards are made from these lines."""

    problem_id: str
    drawn: int
    correct: int  # judged correct by the verifier, before any trace filter
    gold: str
    gold_source: str  # given | majority
    kept: list[KeptTrace]  # best first, as the selectors ordered them
    excluded: list[Exclusion]
    vote_share: float | None = None  # the majority answer's share of the draws (`reject.majority` on)
    majority: str | None = None  # the majority answer, where there is one
    majority_disagrees: bool = False  # a given gold that the teacher's majority contradicts: check the gold

    def to_dict(self) -> dict[str, Any]:
        return Record.to_dict(self) | {  # not super(): slots=True makes a new class, which super() misses
            "kept": [trace._fields() for trace in self.kept],
            "excluded": [exclusion._fields() for exclusion in self.excluded],
        }

    @classmethod
    def _build(cls, fields: dict[str, Any]) -> ProblemCuration:
        # The traces inside are read with the line's version (`to_dict` writes it once, outside).
        _check_fields(cls, fields)
        lists = (fields["kept"], fields["excluded"])
        if not all(
            isinstance(items, list) and all(isinstance(item, dict) for item in items) for items in lists
        ):
            raise RecordError(
                "a ProblemCuration record whose kept or excluded traces are not lists of objects"
            )
        fields["kept"] = [KeptTrace._build(item) for item in fields["kept"]]
        fields["excluded"] = [Exclusion._build(item) for item in fields["excluded"]]
        return cls(**fields)
