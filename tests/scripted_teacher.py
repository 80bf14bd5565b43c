"""A scripted teacher for runs whose logic, not generation, is under test (resume, verdicts, shards, the
judge): it answers each request at once from a script, problem id → one `(text, finish_reason)` per sample
index, so a run is deterministic and takes well under a second."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from factory.config import RunConfig, SamplingConfig, build
from factory.prompts import load_template
from factory.records import Problem, Sample
from factory.teachers import SampleContext, sampling_record

TEMPLATE = load_template("boxed_cot")
SAMPLING = SamplingConfig(n=3)  # a run config that sets only `sampling.n: 3` samples with these settings
TEACHER_MODEL = "scripted-teacher"

Script = dict[str, list[tuple[str, str]]]


def make_sample(
    problem: Problem,
    index: int,
    text: str,
    finish_reason: str = "stop",
    sampling: SamplingConfig = SAMPLING,
    model: str = TEACHER_MODEL,
) -> Sample:
    """A sample as a teacher of `model` asked with `sampling` would make it, so a run finds its key on disk."""
    asked = SampleContext(
        problem.id,
        TEMPLATE.messages(problem.problem),
        template=TEMPLATE,
        backend=ScriptedTeacher.backend,
        model=model,
        sampling=sampling_record(sampling),
    )
    return asked.sample(
        index,
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=20,
        completion_tokens=len(text.split()),
        latency_s=0.1,
    )


class ScriptedTeacher:
    """Answers every request from `script`, counting the samples it was asked for."""

    backend = "scripted"
    model = TEACHER_MODEL

    def __init__(self, script: Script) -> None:
        self.script = script
        self.made = 0

    def stream(self, source, template, sampling):
        while (request := source.poll(block=True)) is not None:
            answers = self.script[request.problem.id]
            self.made += len(request.indices)
            yield [make_sample(request.problem, index, *answers[index]) for index in request.indices]

    def close(self) -> None:
        pass


def run_config(
    tmp_path: Path, problems: Iterable[Problem], reject: dict[str, Any], **sections: Any
) -> RunConfig:
    """A run of `problems` by the scripted teacher in `tmp_path/run`, with the `reject` section and any
    other sections (`curate`, `adaptive`...) given. A problem with answer "" is written without one."""
    path = tmp_path / "problems.jsonl"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps({"id": p.id, "problem": p.problem, **({"answer": p.answer} if p.answer else {})})
            + "\n"
            for p in problems
        )
    )
    return build(
        RunConfig,
        {
            "run_dir": str(tmp_path / "run"),
            "problems": {"paths": [str(path)]},
            "teacher": {"model": TEACHER_MODEL},
            "sampling": {"n": SAMPLING.n},
            "reject": reject,
            **sections,
        },
    )


class ScriptedReplica:
    """A Ray replica's body without an engine (factory.teachers.ray_pool.EngineReplica's interface): each
    call completes its oldest request after `teacher.engine_args.step_s` seconds, answering every draw with
    a line that names this replica's process, so a test sees which replica made what."""

    def __init__(self, config: Any, seed: int | None) -> None:
        import os

        if config.engine_args.get("fail_to_start"):
            raise ValueError("this replica cannot start")
        self._step_s = config.engine_args.get("step_s", 0.01)
        self._pid = os.getpid()
        self._held: list[Any] = []

    def ready(self) -> list[Any]:
        return []

    def step(self, requests: list[Any]) -> list[Any]:
        import time

        from factory.teachers.vllm_offline import Completion

        self._held += requests
        if not self._held:
            return []
        time.sleep(self._step_s)
        request_id, _, fields = self._held.pop(0)
        draws = tuple(
            (f"replica {self._pid} says \\boxed{{{index}}}", "stop", 5) for index in range(fields["n"])
        )
        return [Completion(request_id, 20, draws)]

    def abort(self) -> None:
        self._held = []
