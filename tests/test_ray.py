"""The Ray teacher's logic on a real local Ray cluster, with scripted replicas in place of engines (seconds,
not minutes): requests spread over replicas, a replica killed mid-run (its requests asked again of the
others, it starts again, nothing lost or made twice), every replica lost, a replica that cannot start, and a
run moved from another backend keeping its samples. tests/test_engine_ray.py runs real vLLM replicas."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import scripted_teacher  # noqa: E402
from ray_harness import Killing, local_cluster  # noqa: E402
from scripted_teacher import TEACHER_MODEL, ScriptedReplica, ScriptedTeacher  # noqa: E402

from factory.config import RunConfig, build  # noqa: E402
from factory.errors import FactoryError  # noqa: E402
from factory.ledger import read_typed  # noqa: E402
from factory.records import Problem, Sample  # noqa: E402
from factory.job import run  # noqa: E402
from factory.teachers.ray_pool import RayTeacher  # noqa: E402

pytestmark = pytest.mark.ray

PROBLEMS = [Problem(f"p{n}", f"What is {n} + {n}?", str(2 * n), source=f"t:{n}") for n in range(24)]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    # The workers unpickle the scripted replica by value: tests/ is not on their path.
    ray.cloudpickle.register_pickle_by_value(scripted_teacher)
    yield from local_cluster()


def ray_config(tmp_path: Path, n: int = 2, problems: list[Problem] = PROBLEMS, **ray_settings) -> RunConfig:
    path = tmp_path / "problems.jsonl"
    path.write_text(
        "".join(json.dumps({"id": p.id, "problem": p.problem, "answer": p.answer}) + "\n" for p in problems)
    )
    return build(
        RunConfig,
        {
            "run_dir": str(tmp_path / "run"),
            "problems": {"paths": [str(path)]},
            "teacher": {
                "backend": "ray",
                "model": TEACHER_MODEL,
                "window": 4,
                "engine_args": ray_settings.pop("engine_args", {"step_s": 0.01}),
                "ray": {"replicas": 2, "num_cpus": 0.1, **ray_settings},
            },
            "sampling": {"n": n},
        },
    )


def start(config: RunConfig, lines: list[str], after: int | None = None, kill: tuple[int, ...] = (0,)):
    def teacher():
        made = RayTeacher(config.teacher, config.sampling, lines.append, replica=ScriptedReplica)
        return made if after is None else Killing(made, after, kill)

    return teacher


def samples_of(config: RunConfig) -> list[Sample]:
    return list(read_typed(Path(config.run_dir) / "samples", Sample))


def assert_each_draw_once(config: RunConfig) -> list[Sample]:
    samples = samples_of(config)
    made = Counter((sample.problem_id, sample.sample_index) for sample in samples)
    assert set(made) == {(p.id, index) for p in PROBLEMS for index in range(config.sampling.n)}
    assert max(made.values()) == 1, [draw for draw, times in made.items() if times > 1]
    return samples


def test_a_run_spreads_its_requests_over_the_replicas(tmp_path):
    config = ray_config(tmp_path)
    lines: list[str] = []
    summary = run(config, lines.append, start_teacher=start(config, lines))
    samples = assert_each_draw_once(config)
    assert summary.generated_now == 48 and not summary.faults
    assert {sample.teacher_backend for sample in samples} == {"ray"}
    # n > 1 in one request: both draws of a request come back, each with its own index and finish reason
    assert {sample.finish_reason for sample in samples} == {"stop"}
    replicas = Counter(sample.text.split()[1] for sample in samples)
    assert len(replicas) == 2 and min(replicas.values()) >= 12, replicas  # each replica took its share
    assert any("ray: 2 replica(s) ready" in line for line in lines)


def test_a_replica_killed_mid_run_loses_nothing_and_makes_nothing_twice(tmp_path):
    config = ray_config(tmp_path, engine_args={"step_s": 0.05})
    lines: list[str] = []
    summary = run(config, lines.append, start_teacher=start(config, lines, after=2))
    assert_each_draw_once(config)
    assert summary.faults["replica_lost"] == 1
    assert summary.faults["replica_restarted"] == 1
    assert summary.faults["requests_asked_again"] >= 1  # it held requests when it was killed
    lost = [line for line in lines if "replica 0 was lost" in line]
    assert len(lost) == 1 and "killed by `ray.kill`" in lost[0] and "starting it again (1 of 3)" in lost[0], (
        lines
    )
    assert summary.problems_dropped == {} and summary.failed_problems == 0


def test_without_restarts_the_run_goes_on_with_the_replicas_left(tmp_path):
    config = ray_config(tmp_path, max_restarts=0, engine_args={"step_s": 0.05})
    lines: list[str] = []
    summary = run(config, lines.append, start_teacher=start(config, lines, after=2))
    assert_each_draw_once(config)
    assert summary.faults["replica_lost"] == 1 and "replica_restarted" not in summary.faults
    assert any("going on without it" in line for line in lines), lines


def test_every_replica_lost_stops_the_run_and_the_same_command_goes_on(tmp_path):
    config = ray_config(tmp_path, max_restarts=0, engine_args={"step_s": 0.05})
    lines: list[str] = []
    with pytest.raises(FactoryError, match=r"every Ray replica was lost .*run the same command again"):
        run(config, lines.append, start_teacher=start(config, lines, after=2, kill=(0, 1)))
    saved = len(samples_of(config))
    assert 2 <= saved < 48
    summary = run(config, lines.append, start_teacher=start(config, lines))
    assert summary.generated_now == 48 - saved
    assert_each_draw_once(config)


def test_a_replica_that_cannot_start_stops_the_run_in_one_line(tmp_path):
    config = ray_config(tmp_path, engine_args={"fail_to_start": True})
    with pytest.raises(FactoryError) as raised:
        RayTeacher(config.teacher, config.sampling, lambda line: None, replica=ScriptedReplica)
    assert str(raised.value).startswith("teacher: Ray replica 0 could not start: ValueError: this replica")
    assert "\n" not in str(raised.value)


def test_a_run_moved_from_another_backend_keeps_its_samples(tmp_path):
    first = ray_config(tmp_path, n=1)
    script = {p.id: [("\\boxed{" + p.answer + "}", "stop")] * 3 for p in PROBLEMS}
    scripted = ScriptedTeacher(script)
    run(first, lambda line: None, start_teacher=lambda: scripted)
    assert scripted.made == 24
    config = ray_config(tmp_path, n=2)
    summary = run(config, lambda line: None, start_teacher=start(config, []))
    assert summary.generated_now == 24  # only the second draws: the first ones are the scripted backend's
    samples = assert_each_draw_once(config)
    assert {(s.sample_index, s.teacher_backend) for s in samples} == {(0, "scripted"), (1, "ray")}


def test_too_few_resources_is_one_line_not_a_hang(tmp_path):
    config = ray_config(tmp_path, replicas=1, num_gpus=1, start_timeout_s=2)
    with pytest.raises(
        FactoryError, match=r"did not start within 2 s; each asks for 1 GPU .* the cluster has 0 GPU"
    ):
        RayTeacher(config.teacher, config.sampling, lambda line: None, replica=ScriptedReplica)
