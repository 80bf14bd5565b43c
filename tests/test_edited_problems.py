"""A problem is its content: edit a problem's text, its gold or both under the same id, and the next run
draws what the edit calls for, sets the old samples aside and ships nothing stale. Scripted teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from scripted_teacher import make_sample, run_config

from factory.ledger import STALE_SAMPLES
from factory.records import Problem
from factory.job import run

# Answers by problem text, so a test sees which version of a problem a trace was drawn for.
ANSWERS = {
    "What is 3 + 4?": [(r"3 + 4 = 7, so \boxed{7}.", "stop")] * 3,
    "What is 3 + 5?": [(r"3 + 5 = 8, so \boxed{8}.", "stop")] * 3,
    "What is half of 10?": [(r"Half of 10 is \boxed{5}.", "stop")] * 3,
}


class TextScriptedTeacher:
    """Answers from `ANSWERS` by the problem's text; counts the draws asked for, by problem."""

    backend = "scripted"
    model = "scripted-teacher"

    def __init__(self) -> None:
        self.asked: dict[str, int] = {}

    def stream(self, source, template, sampling):
        while (request := source.poll(block=True)) is not None:
            problem = request.problem
            self.asked[problem.id] = self.asked.get(problem.id, 0) + len(request.indices)
            answers = ANSWERS[problem.problem]
            yield [make_sample(problem, index, *answers[index]) for index in request.indices]

    def close(self) -> None:
        pass


def run_on(tmp_path: Path, p1_text: str, p1_gold: str) -> tuple[object, dict[str, int], list[str]]:
    problems = [
        Problem(id="p1", problem=p1_text, answer=p1_gold, source="t:1"),
        Problem(id="p2", problem="What is half of 10?", answer="5", source="t:2"),
    ]
    config = run_config(tmp_path, problems, {}, curate={"filters": ["truncated"]})
    teacher = TextScriptedTeacher()
    lines: list[str] = []
    summary = run(config, lines.append, start_teacher=lambda: teacher)
    return summary, teacher.asked, lines


def shipped(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    """(problem id, problem text, gold, trace) of every row in the train shards."""
    return sorted(
        (row["problem_id"], row["problem"], row["gold_answer"], row["trace"])
        for path in (tmp_path / "run" / "shards").glob("train-*.parquet")
        for row in pq.read_table(path).to_pylist()
    )


def stale_rows(tmp_path: Path, text: str, gold: str) -> int:
    """Rows of p1 that are not of its version today: another text, another gold, or a trace drawn for
    another text."""
    return sum(
        (problem, row_gold, trace) != (text, gold, ANSWERS[text][0][0])
        for pid, problem, row_gold, trace in shipped(tmp_path)
        if pid == "p1"
    )


def set_aside(tmp_path: Path) -> list[dict]:
    return [
        json.loads(line)
        for part in sorted((tmp_path / "run" / STALE_SAMPLES).glob("part-*.jsonl"))
        for line in part.read_text().splitlines()
    ]


def test_an_edited_text_is_drawn_again_and_its_old_samples_never_ship(tmp_path, reliability_tally):
    summary, asked, _ = run_on(tmp_path, "What is 3 + 4?", "7")
    assert asked == {"p1": 3, "p2": 3} and summary.kept == 6

    # The text changes, the gold stays: the old draws answered another question.
    summary, asked, lines = run_on(tmp_path, "What is 3 + 5?", "7")
    assert asked == {"p1": 3}
    assert summary.problems_changed == 1
    assert lines[1] == (
        "1 problems changed since their samples were drawn: they are drawn again, "
        f"their old samples set aside in {tmp_path / 'run' / STALE_SAMPLES}"
    )
    assert (
        f"changed    1 problems edited since their samples were drawn, drawn again "
        f"(old samples: {tmp_path / 'run' / STALE_SAMPLES})"
    ) in summary.lines()
    rows = shipped(tmp_path)
    assert [row for row in rows if row[0] == "p1"] == []  # 8 against the gold 7: nothing of p1 is kept
    assert len(rows) == 3 and all(row[0] == "p2" for row in rows)
    aside = set_aside(tmp_path)
    assert len(aside) == 3 and {row["messages"][-1]["content"].count("3 + 4") for row in aside} == {1}
    reliability_tally("stale samples shipped after an edit", stale_rows(tmp_path, "What is 3 + 5?", "7"), 1)

    # The same command again: nothing changed, nothing drawn.
    summary, asked, _ = run_on(tmp_path, "What is 3 + 5?", "7")
    assert asked == {} and summary.problems_changed == 0 and len(set_aside(tmp_path)) == 3


def test_an_edited_gold_is_judged_again_without_drawing(tmp_path, reliability_tally):
    run_on(tmp_path, "What is 3 + 5?", "7")
    assert shipped(tmp_path) == [("p2", "What is half of 10?", "5", r"Half of 10 is \boxed{5}.")] * 3

    summary, asked, _ = run_on(tmp_path, "What is 3 + 5?", "8")
    assert asked == {} and summary.problems_changed == 0  # the same question: its draws still answer it
    reliability_tally("stale samples shipped after an edit", stale_rows(tmp_path, "What is 3 + 5?", "8"), 1)
    assert [row for row in shipped(tmp_path) if row[0] == "p1"] == [
        ("p1", "What is 3 + 5?", "8", r"3 + 5 = 8, so \boxed{8}.")
    ] * 3


def test_an_edited_text_and_gold_ships_only_the_new_draws(tmp_path, reliability_tally):
    run_on(tmp_path, "What is 3 + 4?", "7")

    summary, asked, _ = run_on(tmp_path, "What is 3 + 5?", "8")
    assert asked == {"p1": 3} and summary.problems_changed == 1
    assert [row for row in shipped(tmp_path) if row[0] == "p1"] == [
        ("p1", "What is 3 + 5?", "8", r"3 + 5 = 8, so \boxed{8}.")
    ] * 3
    assert summary.samples == 6  # the three set aside are not counted among the run's samples
    reliability_tally("stale samples shipped after an edit", stale_rows(tmp_path, "What is 3 + 5?", "8"), 1)

    # Back to the first text: its draws are set aside, not lost, yet they are drawn again (never shipped
    # from the aside folder), and the second version's go aside in turn.
    summary, asked, _ = run_on(tmp_path, "What is 3 + 4?", "7")
    assert asked == {"p1": 3} and summary.problems_changed == 1 and summary.kept == 6
    assert len(set_aside(tmp_path)) == 6
    reliability_tally("stale samples shipped after an edit", stale_rows(tmp_path, "What is 3 + 4?", "7"), 1)
