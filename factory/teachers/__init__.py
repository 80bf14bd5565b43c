"""Teachers: the engines that sample reasoning traces, behind one small interface.

`make_teacher(config)` picks the backend named in `teacher.backend`. Engines import lazily, so
`import factory` never pulls in vllm or torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from factory.config import SamplingConfig, TeacherConfig
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Problem, Sample

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


class FixedRequests:
    """A source over a fixed list of requests (tests, benchmarks)."""

    def __init__(self, requests: Iterable[SampleRequest]) -> None:
        self._requests = iter(requests)

    def poll(self, block: bool) -> SampleRequest | None:
        return next(self._requests, None)


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
    raise FactoryError(f"teacher.backend: unknown backend {config.backend!r}; choose vllm or http")


def sampling_record(sampling: SamplingConfig) -> dict[str, Any]:
    """The sampling parameters as recorded with each sample (vLLM / OpenAI names)."""
    return {
        "n": sampling.n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "stop": list(sampling.stop),
    }
