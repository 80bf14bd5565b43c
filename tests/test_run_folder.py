"""Whose folder a run writes in, and what its exit status says: a run claims only a run folder, deletes only
files it made, takes a corrected config where its first try saved nothing, and exits 3 (not 0) when
problems failed after their retries, with the summary, card and manifest saying what is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripted_teacher import ScriptedTeacher, run_config

from factory.errors import FactoryError
from factory.records import Problem
from factory.job import run

FACTORY = str(Path(sys.executable).with_name("factory"))
PROBLEMS = [
    Problem(id="p1", problem="What is 3 + 4?", answer="7", source="t:1"),
    Problem(id="p2", problem="What is half of 10?", answer="5", source="t:2"),
]
SCRIPT = {
    "p1": [(r"3 + 4 = 7, so \boxed{7}.", "stop")] * 3,
    "p2": [(r"Half of 10 is \boxed{5}.", "stop")] * 3,
}


# Only today's trace filter: these one-line traces are what the other filters are there to drop.
ONE_FILTER = {"filters": ["truncated"]}


def factory(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FACTORY, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_http_config(folder: Path, run_dir: str = "run") -> Path:
    """Two problems and a teacher at a port nothing listens on: every request fails, quickly."""
    (folder / "problems.jsonl").write_text(
        "".join(json.dumps({"id": p.id, "problem": p.problem, "answer": p.answer}) + "\n" for p in PROBLEMS)
    )
    config = folder / "config.yaml"
    config.write_text(
        f"run_dir: {run_dir}\nproblems: {{paths: [problems.jsonl]}}\nsampling: {{n: 2}}\n"
        "teacher: {backend: http, base_url: 'http://127.0.0.1:9/v1', model: m, max_retries: 0}\n"
    )
    return config


def lost(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    return [name for name, data in before.items() if after.get(name) != data]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# --- a run folder is claimed only when it is one -------------------------------------------------------


def test_a_folder_that_is_not_a_run_folder_is_refused_and_left_as_it_was(tmp_path, reliability_tally):
    write_http_config(tmp_path)
    project = tmp_path / "project"
    (project / "verdicts").mkdir(parents=True)
    (project / "README.md").write_text("my notes\n")
    (project / "config.yaml").write_text("mine: true\n")
    (project / "verdicts" / "keep.txt").write_text("mine too\n")
    before = snapshot(project)

    result = factory("run", "config.yaml", "--set", f"run_dir={project}", cwd=tmp_path)
    reliability_tally("user files deleted or changed", len(lost(before, snapshot(project))), len(before))

    assert result.returncode == 1
    assert result.stderr == (
        f"error: run_dir {project} is not empty and is not a run folder (no generation.yaml; it holds "
        "README.md, config.yaml, verdicts); give a new or empty folder (--set run_dir=...)\n"
    )
    assert result.stdout == ""
    assert snapshot(project) == before
    assert sorted(path.name for path in project.iterdir()) == ["README.md", "config.yaml", "verdicts"]


def test_the_current_folder_as_run_dir_is_refused(tmp_path, reliability_tally):
    config = write_http_config(tmp_path)
    before = snapshot(tmp_path)
    result = factory("run", str(config), "--set", "run_dir=.", cwd=tmp_path)
    reliability_tally("user files deleted or changed", len(lost(before, snapshot(tmp_path))), len(before))
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: run_dir . is not empty and is not a run folder (no generation.yaml"
    )
    assert snapshot(tmp_path) == before


def test_files_a_user_put_in_a_run_folder_outlive_a_rebuild(tmp_path, reliability_tally):
    config = run_config(tmp_path, PROBLEMS, {}, curate=ONE_FILTER)
    run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    run_dir = tmp_path / "run"
    mine = [
        run_dir / "verdicts" / "notes.txt",
        run_dir / "curated" / "notes.txt",
        run_dir / "shards" / "my.parquet",
    ]
    for path in mine:
        path.write_text("mine\n")
    # Another verify config: the verdicts and curation are made again, and so are the shards.
    changed = run_config(tmp_path, PROBLEMS, {"extraction": "lenient"}, curate=ONE_FILTER)
    summary = run(changed, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    assert summary.kept == 6
    reliability_tally(
        "user files deleted or changed",
        sum(not p.exists() or p.read_text() != "mine\n" for p in mine),
        len(mine),
    )
    assert all(path.read_text() == "mine\n" for path in mine)
    assert summary.shards == [str(path) for path in sorted((run_dir / "shards").glob("train-*.parquet"))]


def test_a_first_try_that_saved_nothing_takes_the_corrected_config(tmp_path):
    wrong = run_config(tmp_path, PROBLEMS, {}, curate=ONE_FILTER)
    wrong.problems.fields.problem = "question"  # no such column
    with pytest.raises(FactoryError, match="question"):
        run(wrong, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    right = run_config(tmp_path, PROBLEMS, {}, curate=ONE_FILTER)
    summary = run(right, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    assert (summary.generated_now, summary.kept) == (6, 6)


# --- exit codes say whether the corpus is complete -----------------------------------------------------


def test_a_run_whose_requests_all_failed_exits_3_and_says_what_is_missing(tmp_path, reliability_tally):
    write_http_config(tmp_path)
    result = factory("run", "config.yaml", cwd=tmp_path)
    reliability_tally("incomplete corpora exiting 0", int(result.returncode == 0), 1)
    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == (
        "incomplete: 2 of 2 problems failed after their retries and are missing from the shards; "
        "run the same command again to ask for them"
    )
    assert "failed     2 problems after their retries" in result.stdout
    manifest = json.loads((tmp_path / "run" / "shards" / "manifest.json").read_text())
    assert manifest["counts"]["failed_problems"] == 2
    card = (tmp_path / "run" / "shards" / "README.md").read_text()
    assert "**Incomplete:** 2 of 2 problems are missing" in card
    # `factory run … && factory sft …` stops at the run.
    chained = subprocess.run(
        f"{FACTORY} run config.yaml && echo trained", shell=True, cwd=tmp_path, capture_output=True, text=True
    )
    reliability_tally("incomplete corpora exiting 0", int(chained.returncode == 0), 1)
    assert chained.returncode == 3 and "trained" not in chained.stdout


class FailingOne(ScriptedTeacher):
    """The scripted teacher, whose request for `p2` fails after its retries."""

    def stream(self, source, template, sampling):
        while (request := source.poll(block=True)) is not None:
            if request.problem.id == "p2":
                source.failed(request, "http 503 after 3 tries")
                continue
            yield from ScriptedTeacher(self.script).stream(_Once(request), template, sampling)


class _Once:
    def __init__(self, request) -> None:
        self._request = request

    def poll(self, block):
        request, self._request = self._request, None
        return request


def test_a_run_some_of_whose_problems_failed_says_so_in_every_file(tmp_path):
    config = run_config(tmp_path, PROBLEMS, {}, curate=ONE_FILTER)
    summary = run(config, lambda line: None, start_teacher=lambda: FailingOne(SCRIPT))
    assert (summary.failed_problems, summary.kept) == (1, 3)
    shards = tmp_path / "run" / "shards"
    assert json.loads((shards / "manifest.json").read_text())["counts"]["failed_problems"] == 1
    assert "**Incomplete:** 1 of 2 problems are missing" in (shards / "README.md").read_text()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["failed_problems"] == 1
    # Asked again and answered: complete, and the card says nothing of it.
    summary = run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    assert (summary.failed_problems, summary.kept) == (0, 6)
    assert "Incomplete" not in (shards / "README.md").read_text()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # The closed port is on loopback: a proxy in the environment must not answer for it.
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(os.environ, "NO_PROXY", "127.0.0.1")
