"""The documented Python API: `factory.run` and `factory.verify` do what the commands do, without a shell."""

from __future__ import annotations

import json

import pytest
from scripted_teacher import ScriptedTeacher, run_config

import factory
import factory.job
from factory.errors import FactoryError
from factory.records import Problem

PROBLEMS = [Problem(id="p1", problem="What is 3 + 4?", answer="7", source="t:1")]
SCRIPT = {"p1": [(r"3 + 4 = 7, so \boxed{7}.", "stop"), (r"So \boxed{8}.", "stop"), ("3 + 4 is 7.", "stop")]}


def test_run_takes_a_config_file_with_overrides_or_a_config(tmp_path, monkeypatch):
    monkeypatch.setattr(factory.job, "make_teacher", lambda *args: ScriptedTeacher(SCRIPT))
    config = run_config(tmp_path, PROBLEMS, {}, curate={"filters": ["truncated"]})
    lines: list[str] = []
    summary = factory.run(config, log=lines.append)
    assert (summary.samples, summary.correct, summary.kept, summary.failed_problems) == (3, 1, 1, 0)
    assert lines[0] == f"1 problems from {tmp_path / 'problems.jsonl'}"

    path = tmp_path / "run.yaml"
    path.write_text(
        f"run_dir: {tmp_path / 'run'}\nproblems: {{paths: [{tmp_path / 'problems.jsonl'}]}}\n"
        "teacher: {model: scripted-teacher}\nsampling: {n: 3}\ncurate: {filters: [truncated]}\n"
    )
    again = factory.run(path, overrides=["reject.extraction=lenient"], log=lambda line: None)
    assert (again.generated_now, again.kept) == (0, 2)  # the same folder, re-verified: nothing drawn
    with pytest.raises(FactoryError, match=r"sampling\.n must be >= 1, got 0"):
        factory.run(path, overrides=["sampling.n=0"])


def test_verify_writes_verdicts_and_returns_their_counts(tmp_path):
    rows = [
        {"id": "a", "answer": "7", "response": r"So \boxed{7}."},
        {"id": "b", "answer": "7", "response": r"So \boxed{8}."},
    ]
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = factory.verify(path, workers=1)
    assert (summary.rows, summary.by_status["correct"], summary.by_status["incorrect"]) == (2, 1, 1)
    verdicts = [json.loads(line) for line in (tmp_path / "answers.verdicts.jsonl").read_text().splitlines()]
    assert [verdict["status"] for verdict in verdicts] == ["correct", "incorrect"]
