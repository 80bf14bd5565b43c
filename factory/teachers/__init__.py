"""Teachers: the engines that sample reasoning traces, behind one small interface.

`make_teacher(config)` picks the backend named in `teacher.backend`. Engines import lazily, so
`import factory` never pulls in vllm or torch. What the teachers share lives here: `sampling_fields`, the one
mapping from sampling settings to request fields, and `SampleContext`, the one place a `Sample` is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from factory.config import SamplingConfig, TeacherConfig
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Message, Problem, Sample

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """The draws still missing for one problem: `indices` are the sample indices to make (len = n asked)."""

    problem: Problem
    indices: tuple[int, ...]


class RequestSource(Protocol):
    """Where a teacher takes its next request from, whenever it has room for one."""

    def poll(self, block: bool) -> SampleRequest | None:
        """The next request. None means none now (`block=False`) or none ever again (`block=True`: wait
        until there is one or the source is finished)."""
        ...

    def failed(self, request: SampleRequest, error: str) -> None:
        """`request` failed for good (its retries are spent): its problem gets no more requests in this
        invocation."""
        ...


class FixedRequests:
    """A source over a fixed list of requests (tests, benchmarks); `failures` lists those that failed."""

    def __init__(self, requests: Iterable[SampleRequest]) -> None:
        self._requests = iter(requests)
        self.failures: list[tuple[SampleRequest, str]] = []

    def poll(self, block: bool) -> SampleRequest | None:
        return next(self._requests, None)

    def failed(self, request: SampleRequest, error: str) -> None:
        self.failures.append((request, error))


class Teacher(Protocol):
    backend: str
    model: str

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        """Keep the engine full with requests from `source` and yield each request's samples (one per index,
        `sample_index` set to it) as soon as that request completes, in any order. Ends when the source is
        finished and nothing is in flight. `sampling.n` is the run's n; a request asks for `len(indices)`."""
        ...

    def close(self) -> None: ...


def make_teacher(config: TeacherConfig, sampling: SamplingConfig, log: Log) -> Teacher:
    if config.backend == "vllm":
        from factory.teachers.vllm_offline import VLLMTeacher

        return VLLMTeacher(config, sampling, log)
    if config.backend == "http":
        from factory.teachers.http import HTTPTeacher

        return HTTPTeacher(config, log)
    if config.backend == "ray":
        from factory.teachers.ray_pool import RayTeacher

        return RayTeacher(config, sampling, log)
    raise FactoryError(f"teacher.backend: unknown backend {config.backend!r}; choose vllm, http or ray")


def sampling_fields(sampling: SamplingConfig, n: int, *, omit_unset: bool = False) -> dict[str, Any]:
    """The sampling settings as request fields, under the names vLLM's `SamplingParams` and the OpenAI API
    share, asking for `n` draws. `omit_unset` leaves out `seed` when None and `stop` when empty, as a
    request sends them.

    >>> sampling_fields(SamplingConfig(n=4, seed=1), 2, omit_unset=True)
    {'n': 2, 'temperature': 0.7, 'top_p': 0.95, 'max_tokens': 512, 'seed': 1}
    """
    fields = {
        "n": n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "stop": list(sampling.stop),
    }
    if omit_unset:
        return {name: value for name, value in fields.items() if value is not None and value != []}
    return fields


def sampling_record(sampling: SamplingConfig) -> dict[str, Any]:
    """The sampling parameters as recorded with each sample (vLLM / OpenAI names). Part of every sample's
    key (`n` aside): a change here regenerates every run folder."""
    return sampling_fields(sampling, sampling.n)


@dataclass(frozen=True, slots=True)
class SampleContext:
    """What was asked for one problem: the prompt, of which teacher, with which sampling. Built once per
    request; `sample` turns each completion the engine returns into a `Sample`."""

    problem_id: str
    messages: list[Message]
    template: PromptTemplate
    backend: str
    model: str
    sampling: dict[str, Any]  # `sampling_record(...)`
    prompt_text: str | None = None  # the raw prompt, when sent to /v1/completions

    def sample(
        self,
        index: int,
        *,
        text: str,
        finish_reason: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        latency_s: float,
        reasoning: str | None = None,
        completion_tokens_estimated: bool = False,
    ) -> Sample:
        """The `Sample` for draw `index` (its sample index, not its position in the response)."""
        return Sample(
            problem_id=self.problem_id,
            sample_index=index,
            messages=self.messages,
            prompt_text=self.prompt_text,
            prompt_template=self.template.name,
            prompt_hash=self.template.hash,
            text=text,
            reasoning=reasoning,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            completion_tokens_estimated=completion_tokens_estimated,
            teacher_backend=self.backend,
            teacher_model=self.model,
            sampling=self.sampling,
            latency_s=latency_s,
        )
