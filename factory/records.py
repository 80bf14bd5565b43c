"""The typed records that stages exchange: problems → samples → verdicts (→ shards).

Each record round-trips through a plain dict (`to_dict` / `from_dict`) so that stages meet on disk as
JSON lines and never share objects in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

Message = dict[str, str]

R = TypeVar("R", bound="_Record")


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[R], row: dict[str, Any]) -> R:
        return cls(**row)


@dataclass(slots=True)
class Problem(_Record):
    id: str
    problem: str
    answer: str
    source: str  # "file:line" the row came from, for error messages and provenance
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Sample(_Record):
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

    def key(self) -> str:
        return sample_key(
            self.problem_id,
            self.messages,
            self.prompt_hash,
            self.teacher_model,
            self.sampling,
            self.sample_index,
        )


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
class SampleVerdict(_Record):
    """The reject stage's decision on one sample."""

    problem_id: str
    sample_index: int
    status: str  # correct | incorrect | cannot_tell
    reason: str
    kept: bool
    extracted: str | None
    gold: str
    verifier: str
    sample_key: str  # the judged sample (`Sample.key`); a re-run judges only samples without a verdict
    teacher: str  # "backend:model" that made the sample, for per-teacher counts
    found_by: str | None = (
        None  # how the answer was found: boxed, marker, last_number... (verdicts before 0.3: None)
    )
    # Set when the model judge (`reject.judge`) ruled, `verifier` then being "judge:<model>": why the rules
    # could not tell (no_answer...), the judge prompt template's hash and the judge's raw reply.
    rule_reason: str | None = None
    judge_prompt_hash: str | None = None
    judge_reply: str | None = None
