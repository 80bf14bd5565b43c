"""What lets one driver take a million problems (tests/bench/bench_driver.py): sample keys held as numbers,
problems and packaging on disk in the run's SQLite file, records written without deep copies, answers
checked without a thread per sample. Each test guards a shortcut against a difference in what is written."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scripted_teacher import ScriptedTeacher, make_sample, run_config

from factory.config import ProblemsConfig
from factory.errors import FactoryError
from factory.ledger import IdSet, KeySet, _NumberSet
from factory.problem_table import ProblemTable
from factory.problems import Quarantine
from factory.records import (
    Exclusion,
    KeptTrace,
    Problem,
    ProblemCuration,
    ProblemVote,
    SampleVerdict,
)
from factory.job import run
from filters import verify, verify_many

PROBLEMS = [
    Problem(id=f"p{number}", problem=f"What is {number} + 1?", answer=str(number + 1), source=f"t:{number}")
    for number in range(6)
]
SCRIPT = {
    problem.id: [
        (f"{problem.problem[8:-1]} = {problem.answer}, so \\boxed{{{problem.answer}}}.", "stop"),
        (f"So \\boxed{{{int(problem.answer) + 1}}}.", "stop"),  # wrong
        (f"Adding one gives \\boxed{{{problem.answer}}}.", "stop"),
    ]
    for problem in PROBLEMS
}


def shard_rows(run_dir: Path) -> list[dict]:
    return [
        row
        for path in sorted((run_dir / "shards").glob("train-*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def test_a_key_set_answers_for_the_keys_as_written():
    keys = [make_sample(PROBLEMS[0], index, "x").key() for index in range(3)]
    held = KeySet(keys[:2])
    assert keys[0] in held and keys[1] in held and keys[2] not in held
    held.add(keys[2])
    assert keys[2] in held and len(held) == 3
    held.update(keys)  # the same keys again: still three
    assert len(held) == 3
    assert 0 not in held  # not a key at all


def test_a_number_set_behaves_as_a_set_across_merges(monkeypatch):
    monkeypatch.setattr(_NumberSet, "_MERGE_EVERY", 2)
    ids = IdSet(["a", "b", "c"])  # a and b merged into the arrays, c recent
    ids.add("a")  # already merged: not held twice
    assert len(ids) == 3
    ids.discard("a")
    assert "a" not in ids and len(ids) == 2
    ids.add("a")
    assert "a" in ids and len(ids) == 3
    ids.update(["d", "e", "f"])  # merges again, with a removed and re-added number among the arrays
    assert all(name in ids for name in "abcdef") and "g" not in ids and len(ids) == 6
    ids.discard("c")
    ids.discard("c")
    assert "c" not in ids and len(ids) == 5


def test_records_are_written_as_dataclasses_asdict_wrote_them():
    sample = make_sample(PROBLEMS[0], 1, r"so \boxed{1}")
    sample.key()  # the key it caches is not part of its line
    kept = KeptTrace("k1", 0, "1", "boxed", "correct", "exact_match", "sympy", "scripted:m")
    excluded = Exclusion(
        "k2", 1, "verifier", "wrong_answer", "2", "text", "scripted:m", {"a": [1]}, "incorrect"
    )
    records = [
        PROBLEMS[0],
        sample,
        SampleVerdict("p0", 0, "correct", "exact_match", "1", "1", "sympy", "k1", "scripted:m"),
        kept,
        excluded,
        ProblemVote("p0", "1", 3, "1", 2, 0.6667, "majority", False),
        ProblemCuration("p0", 3, 2, "1", "given", [kept], [excluded], 0.5, "1", False),
    ]
    for record in records:
        before = {"schema_version": 1} | {
            name: value for name, value in dataclasses.asdict(record).items() if name != "_key"
        }
        assert json.dumps(record.to_dict()) == json.dumps(before)  # the same line, key for key
        assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record


@pytest.mark.parametrize(
    "gold, response",
    [
        ("7", r"so \boxed{7}"),  # decided here: exact match
        ("7", r"so \boxed{8}"),  # decided here: a different number
        ("1/2", r"so \boxed{0.5}"),  # decided here: equal value
        (r"\frac{1}{2}", r"so \boxed{\frac{2}{4}}"),  # needs sympy: goes to the pool
        ("x^2 - 1", r"so \boxed{(x-1)(x+1)}"),  # needs sympy
        ("3", "no answer here"),  # cannot tell
    ],
)
def test_many_answers_get_the_verdicts_one_answer_gets(gold, response):
    pairs = [(gold, response), ("2", r"\boxed{2}")]  # a plain one beside each, in one call
    assert verify_many(pairs, workers=1) == [verify(g, r) for g, r in pairs]


def test_a_sample_twice_on_disk_is_one_row(tmp_path):
    config = run_config(tmp_path, PROBLEMS, {}, sampling={"n": 3}, curate={"filters": ["truncated"]})
    summary = run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    run_dir = Path(config.run_dir)
    rows = shard_rows(run_dir)
    assert len(rows) == summary.kept == 12
    # A journal holding a sample twice (copied by hand; an older factory) must not ship it twice.
    (part,) = (run_dir / "samples").glob("part-*.jsonl")
    part.write_text(part.read_text() * 2)
    (run_dir / "stages" / "shards.done").unlink()  # package again
    again = run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher({}))
    assert again.generated_now == 0
    assert Counter(row["sample_key"] for row in shard_rows(run_dir)) == Counter(
        row["sample_key"] for row in rows
    )


def test_the_problems_file_goes_with_the_run_and_a_killed_runs_is_removed(tmp_path):
    config = run_config(tmp_path, PROBLEMS, {}, sampling={"n": 3})
    run_dir = Path(config.run_dir)
    run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    leftover = run_dir / ".problems-999999.sqlite"
    leftover.write_bytes(b"left by a killed invocation")
    run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
    assert not list(run_dir.glob(".problems-*"))


def test_a_repeated_id_names_both_rows_read_from_disk(tmp_path):
    path = tmp_path / "problems.jsonl"
    rows = [{"id": "a", "problem": "1 + 1?", "answer": "2"}, {"id": "b", "problem": "2 + 2?", "answer": "4"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in [*rows, rows[0]]))
    with (
        Quarantine.rewritten(tmp_path / "quarantine.jsonl") as quarantine,
        pytest.raises(FactoryError, match=rf"{path}:3: id 'a' already used at {path}:1; ids must be unique"),
    ):
        ProblemTable.read_from(tmp_path, ProblemsConfig(paths=[str(path)]), False, quarantine)
    assert not list(tmp_path.glob(".problems-*"))  # closed and removed on the error
    config = ProblemsConfig(paths=[str(path)], on_error="quarantine")
    with Quarantine.rewritten(tmp_path / "quarantine.jsonl") as quarantine:
        table = ProblemTable.read_from(tmp_path, config, False, quarantine)
    with table:
        assert [problem.id for problem in table] == ["a", "b"] and quarantine.rows == 1
        assert table["b"].problem == "2 + 2?" and table.get("c") is None and "a" in table


def test_problems_in_the_table_come_back_as_read(tmp_path):
    path = tmp_path / "problems.jsonl"
    rows = [
        {"id": f"q{number}", "problem": f"ünïcode {number}?", "answer": str(number), "level": number}
        for number in range(2500)  # more than one chunk of rows
    ]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    with Quarantine.rewritten(tmp_path / "quarantine.jsonl") as quarantine:
        table = ProblemTable.read_from(tmp_path, ProblemsConfig(paths=[str(path)]), False, quarantine)
    with table:
        table.leave_out([2, 3])  # positions count from 1: the second and third rows
        read = list(table)
        assert table.read == 2500 and len(table) == len(read) == 2498
        assert [p.id for p in read[:2]] == ["q0", "q3"]
        assert read[-1] == Problem("q2499", "ünïcode 2499?", "2499", f"{path}:2500", {"level": 2499})
        assert table.golds().get("q7") == hash("7") and table.golds().get("q1") is None


def test_a_resume_whose_keys_are_merged_into_arrays_makes_nothing_twice(tmp_path, monkeypatch):
    # Merged after every 3 keys, so the resumes below ask the sorted arrays, not only the latest set.
    monkeypatch.setattr(_NumberSet, "_MERGE_EVERY", 3)

    def run_with(n: int) -> tuple[int, int]:
        teacher = ScriptedTeacher(SCRIPT)
        config = run_config(tmp_path, PROBLEMS, {}, sampling={"n": n}, curate={"filters": ["truncated"]})
        summary = run(config, lambda line: None, start_teacher=lambda: teacher)
        return teacher.made, summary.kept

    assert run_with(2) == (12, 6)  # draws 0 and 1 of six problems; draw 1 is wrong
    assert run_with(2) == (0, 6)  # all on disk
    assert run_with(3) == (6, 12)  # only draw 2 is new
    rows = shard_rows(tmp_path / "run")
    assert len(rows) == len({row["sample_key"] for row in rows}) == 12
