"""The curate stage inside whole runs, on the scripted teacher (deterministic, instant): each default unit's
drops are counted by unit and reason; a curate-config change re-curates and re-packages with no engine and
no verifier; SIGKILL anywhere in generation, verification, curation or packaging, then the same command,
ends as an uninterrupted run does (20 kills in a row on one folder: tests/test_reliability_kills.py);
adaptive sampling stops where the selection is settled; majority-vote golds; a teacher faster than
verification waits instead of filling memory."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from curation_script import PROBLEMS, SCRIPT, worked
from killable import HARNESS, outcome, run_killable, run_to_the_end, shard_rows, spec, torn_or_temporary
from scripted_teacher import ScriptedTeacher, run_config

import factory.checker
import factory.pipeline
import factory.reject
from factory.ledger import read_records
from factory.records import Problem
from factory.job import Summary, run


def run_script(config, script=SCRIPT) -> tuple[Summary, int]:
    teacher = ScriptedTeacher(script)
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    return summary, teacher.made


def kept(run_dir: Path) -> list[tuple[str, int]]:
    return sorted((row["problem_id"], row["sample_index"]) for row in shard_rows(run_dir))


DEFAULT_DROPS = {
    "verifier": {"wrong_answer": 4},
    "truncated": {"truncated": 1},
    "format": {"not_boxed": 1},
    "several_boxes": {"several_boxed_answers": 1},
    "repetition": {"top_2gram": 1},
    "trivial_reasoning": {"trivial_reasoning": 1},
    "script_mix": {"script_mix": 1},
}
DEFAULT_KEPT = [("p1", 0), ("p2", 2), ("p3", 0), ("p3", 1), ("p4", 2), ("p6", 0), ("p6", 1), ("p6", 2)]


def test_every_default_unit_drops_with_its_reason_and_the_stage_counts_them(tmp_path):
    summary, made = run_script(run_config(tmp_path, PROBLEMS, {}))
    assert made == 18
    assert summary.dropped == DEFAULT_DROPS
    assert kept(tmp_path / "run") == DEFAULT_KEPT
    assert (summary.samples, summary.correct, summary.kept, summary.problems_solved) == (18, 14, 8, 5)
    lines = summary.lines()
    assert "dropped by verifier               4  wrong_answer 4" in lines
    assert "dropped by format                 1  not_boxed 1" in lines
    excluded = [json.loads(line) for line in (tmp_path / "run" / "excluded.jsonl").read_text().splitlines()]
    assert len(excluded) == 10 and {row["unit"] for row in excluded} == set(DEFAULT_DROPS)
    format_drop = next(row for row in excluded if row["unit"] == "format")
    assert (format_drop["problem_id"], format_drop["sample_index"], format_drop["reason"]) == (
        "p1",
        2,
        "not_boxed",
    )
    assert format_drop["trace"] == SCRIPT["p1"][2][0]  # the trace is there to read
    stats = {
        row["problem_id"]: row for row in map(json.loads, (tmp_path / "run" / "problem_stats.jsonl").open())
    }
    assert (stats["p5"]["samples"], stats["p5"]["correct"], stats["p5"]["kept"]) == (3, 0, 0)
    assert stats["p1"]["pass_rate"] == 1.0 and stats["p1"]["kept"] == 1


def forbid_engine_and_verifier(monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("a curate-config change must not start the teacher or the verifier")

    monkeypatch.setattr(factory.reject, "verify_many", forbidden)
    monkeypatch.setattr(factory.reject, "check_answer", forbidden)
    monkeypatch.setattr(factory.checker, "check_answer", forbidden)
    monkeypatch.setattr(factory.pipeline, "start_pool", forbidden)


@pytest.mark.parametrize(
    "curate, expected_kept, unit_drops",
    [
        # one row per problem, its shortest (SkyThought keeps the shortest correct)
        (
            {"select": [{"shortest": 1}]},
            [("p1", 0), ("p2", 2), ("p3", 0), ("p4", 2), ("p6", 1)],
            {"shortest": {"not_shortest": 3}},
        ),
        # at most two rows per problem, in draw order
        (
            {"select": [{"at_most": 2}]},
            [("p1", 0), ("p2", 2), ("p3", 0), ("p3", 1), ("p4", 2), ("p6", 0), ("p6", 1)],
            {"at_most": {"over_k": 1}},
        ),
        # open-r1's band: p2 is solved by 2 of 3 draws; p1, p3, p4, p6 by all (too easy); p5 by none
        (
            {"select": [{"pass_rate": {"low": 0.1, "high": 0.9}}]},
            [("p2", 2)],
            {"pass_rate": {"pass_rate_above_band": 7}},
        ),
        # SkyThought drops problems with fewer than 2 correct left
        (
            {"select": [{"min_correct": 2}]},
            [("p3", 0), ("p3", 1), ("p6", 0), ("p6", 1), ("p6", 2)],
            {"min_correct": {"too_few_correct": 3}},
        ),
        # identical traces of one problem collapse
        (
            {"select": [{"diverse": 3}]},
            [("p1", 0), ("p2", 2), ("p3", 0), ("p3", 1), ("p4", 2), ("p6", 0), ("p6", 1)],
            {"diverse": {"near_duplicate": 1}},
        ),
        # a budget of 6 rows, round-robin: every problem's first, then p3's and p6's second... in problem order
        (
            {"budget": 6},
            [("p1", 0), ("p2", 2), ("p3", 0), ("p3", 1), ("p4", 2), ("p6", 0)],
            {"budget": {"over_budget": 2}},
        ),
        # only the truncation filter (the policy before the curate stage)
        ({"filters": ["truncated"]}, None, None),
    ],
)
def test_a_curate_config_change_re_curates_without_teacher_or_verifier(
    tmp_path, monkeypatch, curate, expected_kept, unit_drops
):
    first, _ = run_script(run_config(tmp_path, PROBLEMS, {}))
    verdicts = sorted((tmp_path / "run" / "verdicts").glob("*.jsonl"))
    forbid_engine_and_verifier(monkeypatch)
    summary, made = run_script(run_config(tmp_path, PROBLEMS, {}, curate=curate))
    assert made == 0 and summary.generated_now == 0
    assert sorted((tmp_path / "run" / "verdicts").glob("*.jsonl"))[: len(verdicts)] == verdicts
    if expected_kept is None:
        assert summary.dropped == {"verifier": {"wrong_answer": 4}, "truncated": {"truncated": 1}}
        assert summary.kept == 13
        return
    assert kept(tmp_path / "run") == expected_kept
    assert summary.kept == len(expected_kept)
    assert summary.dropped == DEFAULT_DROPS | unit_drops
    # and back: the first policy's shards again, still without teacher or verifier
    again, made = run_script(run_config(tmp_path, PROBLEMS, {}))
    assert made == 0 and kept(tmp_path / "run") == DEFAULT_KEPT and again.dropped == first.dropped


def test_a_run_with_nothing_new_repackages_nothing(tmp_path):
    run_script(run_config(tmp_path, PROBLEMS, {}))
    shards = sorted((tmp_path / "run" / "shards").glob("*.parquet"))
    stamps = [path.stat().st_mtime_ns for path in shards]
    summary, made = run_script(run_config(tmp_path, PROBLEMS, {}))
    assert made == 0 and summary.kept == 8 and summary.dropped == DEFAULT_DROPS
    assert [path.stat().st_mtime_ns for path in shards] == stamps


KILL_POINTS = [
    ("generate", 1),
    ("samples", 1),
    ("verdicts", 1),
    ("curated", 1),
    ("curated", 4),
    ("row", 1),
    ("row", 5),
    ("excluded", 3),
    ("mark", 1),
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The harness's run, without a kill: what every killed and resumed run must end with."""
    return run_to_the_end(tmp_path_factory.mktemp("uninterrupted"))


@pytest.mark.parametrize("point, count", KILL_POINTS)
def test_sigkill_anywhere_then_the_same_command_gives_the_same_run(tmp_path, uninterrupted, point, count):
    log = tmp_path / "harness.log"
    killed = run_killable(HARNESS, [str(spec(tmp_path)), point, str(count)], log)
    assert killed == -signal.SIGKILL, log.read_text()[-2000:]  # it died where it was told to
    assert run_killable(HARNESS, [str(spec(tmp_path))], log) == 0, log.read_text()[-2000:]
    assert outcome(tmp_path / "run") == outcome(uninterrupted)
    assert torn_or_temporary(tmp_path / "run") == []


# --- adaptive sampling that knows the selection -------------------------------------------------------------

WRONG = worked(1, 2, 4)
ADAPTIVE_PROBLEMS = [
    Problem(id=f"a{i}", problem="What is 1 + 2?", answer="3", source=f"t:{i}") for i in (1, 2, 3, 4)
]
ADAPTIVE_SCRIPT = {
    "a1": [(WRONG, "stop"), (WRONG, "stop"), (worked(1, 2, 3), "stop"), (worked(1, 2, 3), "stop")],
    "a2": [(worked(1, 2, 3), "stop")] * 4,
    "a3": [(WRONG, "stop")] * 4,
    "a4": [(r"\boxed{3}", "stop")] + [(worked(1, 2, 3), "stop")] * 3,  # correct, but no work: does not count
}


def made_per_problem(run_dir: Path) -> dict[str, int]:
    return {
        row["problem_id"]: row["samples"] for row in map(json.loads, (run_dir / "problem_stats.jsonl").open())
    }


@pytest.mark.parametrize(
    "adaptive, curate, made",
    [
        # rounds of one draw until one trace passes the verifier and the trace filters, or 4 draws
        ({"target_kept": 1, "max_samples": 4}, {}, {"a1": 3, "a2": 1, "a3": 4, "a4": 2}),
        # give up after 2 draws without a passing trace: a3 costs 2, and so does a1, solved only at its third
        ({"target_kept": 1, "max_samples": 4, "give_up_after": 2}, {}, {"a1": 2, "a2": 1, "a3": 2, "a4": 2}),
        # at most one trace is kept per problem: a target of 3 is never worth drawing for
        (
            {"target_kept": 3, "max_samples": 4},
            {"select": [{"at_most": 1}]},
            {"a1": 3, "a2": 1, "a3": 4, "a4": 2},
        ),
        # the shortest one is kept: a later draw could be shorter, so the target of 3 holds
        (
            {"target_kept": 3, "max_samples": 4},
            {"select": [{"shortest": 1}]},
            {"a1": 4, "a2": 3, "a3": 4, "a4": 4},
        ),
    ],
)
def test_adaptive_sampling_stops_once_no_draw_can_change_what_is_kept(tmp_path, adaptive, curate, made):
    config = run_config(tmp_path, ADAPTIVE_PROBLEMS, {}, sampling={"n": 1}, adaptive=adaptive, curate=curate)
    summary, teacher_made = run_script(config, ADAPTIVE_SCRIPT)
    assert made_per_problem(tmp_path / "run") == made and teacher_made == sum(made.values())
    again, teacher_made = run_script(config, ADAPTIVE_SCRIPT)  # the same command: finished, nothing drawn
    assert teacher_made == 0 and again.kept == summary.kept


def test_a_changed_sampling_policy_draws_what_it_needs_on_a_finished_run(tmp_path):
    adaptive = {"target_kept": 1, "max_samples": 4}
    first = run_config(tmp_path, ADAPTIVE_PROBLEMS, {}, sampling={"n": 1}, adaptive=adaptive)
    assert run_script(first, ADAPTIVE_SCRIPT)[1] == 10
    more = run_config(
        tmp_path, ADAPTIVE_PROBLEMS, {}, sampling={"n": 1}, adaptive=adaptive | {"target_kept": 3}
    )
    summary, made = run_script(more, ADAPTIVE_SCRIPT)
    assert made == 5 and made_per_problem(tmp_path / "run") == {"a1": 4, "a2": 3, "a3": 4, "a4": 4}
    fixed = run_config(tmp_path, ADAPTIVE_PROBLEMS, {}, sampling={"n": 4})  # fixed n: every problem its 4
    summary, made = run_script(fixed, ADAPTIVE_SCRIPT)
    assert made == 1 and summary.samples == 16 and summary.kept == 9


class CrashingTeacher(ScriptedTeacher):
    """Dies (as an engine error would end the run) after answering `requests` requests."""

    def __init__(self, script, requests: int) -> None:
        super().__init__(script)
        self.left = requests

    def stream(self, source, template, sampling):
        for samples in super().stream(source, template, sampling):
            if self.left == 0:
                raise RuntimeError("engine died")
            self.left -= 1
            yield samples


@pytest.mark.parametrize("requests", [1, 3, 6])
def test_an_adaptive_run_that_died_resumes_to_the_same_result(tmp_path, requests):
    def config(folder: str):
        adaptive = {"target_kept": 1, "max_samples": 4}
        return run_config(tmp_path / folder, ADAPTIVE_PROBLEMS, {}, sampling={"n": 1}, adaptive=adaptive)

    whole, whole_made = run_script(config("whole"), ADAPTIVE_SCRIPT)
    crashing = CrashingTeacher(ADAPTIVE_SCRIPT, requests)
    with pytest.raises(RuntimeError, match="engine died"):
        run(config("resumed"), lambda line: None, start_teacher=lambda: crashing)
    resumed, made = run_script(config("resumed"), ADAPTIVE_SCRIPT)
    assert crashing.made - 1 + made == whole_made  # the draw in flight when it died is made again
    assert shard_rows(tmp_path / "resumed" / "run") == shard_rows(tmp_path / "whole" / "run")
    assert (resumed.kept, resumed.dropped) == (whole.kept, whole.dropped)


# --- majority-vote gold ----------------------------------------------------------------------------------


def answered(answer: str) -> str:
    return f"We work it out step by step, carefully checking every step along the way.\nSo the answer is $\\boxed{{{answer}}}$."


MAJORITY_PROBLEMS = [
    Problem(id="m1", problem="What is 5 + 6?", answer="11", source="t:1"),
    Problem(id="m2", problem="What is half of 1?", answer="1/2", source="t:2"),
    Problem(id="m3", problem="What is 30 + 3?", answer="33", source="t:3"),
    Problem(id="m4", problem="What is 40 + 4?", answer="44", source="t:4"),
]
MAJORITY_SCRIPT = {
    "m1": [(answered("11"), "stop"), (answered("11"), "stop"), (answered("12"), "stop")],  # majority right
    "m2": [
        (answered(r"\frac{1}{2}"), "stop"),
        (answered("0.5"), "stop"),
        (answered("1/3"), "stop"),
    ],  # 1/2 = 0.5
    "m3": [(answered("34"), "stop"), (answered("34"), "stop"), (answered("33"), "stop")],  # majority wrong
    "m4": [(answered("44"), "stop"), (answered("45"), "stop"), (answered("46"), "stop")],  # no majority
}


def test_majority_gold_keeps_what_the_given_gold_keeps_where_the_majority_is_right_and_flags_the_rest(
    tmp_path, monkeypatch
):
    majority = {"majority": {"min_share": 0.5, "min_votes": 2}}
    given_run = run_config(tmp_path / "given", MAJORITY_PROBLEMS, majority)
    without = [Problem(p.id, p.problem, "", p.source) for p in MAJORITY_PROBLEMS]
    voted_run = run_config(tmp_path / "voted", without, majority)
    given, _ = run_script(given_run, MAJORITY_SCRIPT)
    voted, _ = run_script(voted_run, MAJORITY_SCRIPT)

    def rows(folder: str) -> dict[str, list[tuple[int, str, str, float | None]]]:
        found: dict[str, list] = {}
        for row in shard_rows(tmp_path / folder / "run"):
            found.setdefault(row["problem_id"], []).append(
                (row["sample_index"], row["gold_answer"], row["gold_source"], row["vote_share"])
            )
        return {pid: sorted(items) for pid, items in found.items()}

    given_rows, voted_rows = rows("given"), rows("voted")
    for pid in ("m1", "m2"):  # the majority is right: the same rows
        assert [index for index, *_ in voted_rows[pid]] == [index for index, *_ in given_rows[pid]]
    assert [index for index, *_ in given_rows["m2"]] == [0, 1]  # \frac{1}{2} and 0.5 voted together
    assert voted_rows["m1"][0][1:] == ("11", "majority", 0.6667)
    assert given_rows["m1"][0][1:] == ("11", "given", 0.6667)
    # The majority is wrong on m3: voting keeps the wrong traces; the run with golds says so.
    assert [index for index, *_ in given_rows["m3"]] == [2] and [i for i, *_ in voted_rows["m3"]] == [0, 1]
    assert given.majority_disagrees == 1 and voted.majority_disagrees == 0
    stats = {
        row["problem_id"]: row
        for row in map(json.loads, (tmp_path / "given" / "run" / "problem_stats.jsonl").open())
    }
    assert [pid for pid, row in stats.items() if row["majority_disagrees"]] == ["m3"]
    assert stats["m3"]["majority"] == "34"
    # m4 has no majority (one vote each): without a gold nothing of it is kept, and the summary says why.
    assert "m4" not in voted_rows and voted.no_majority == 1
    assert voted.dropped["verifier"]["no_majority_tie"] == 3  # three answers, one vote each
    assert (given.gold_sources, voted.gold_sources) == ({"given": 4}, {"majority": 4})
    assert any(line.startswith("gold       majority 4; 1 without a majority") for line in voted.lines())

    # Another curation of the voted run: the votes and verdicts on disk serve, the verifier is not started.
    verdict_lines = sum(1 for _ in read_records(tmp_path / "voted" / "run" / "verdicts"))
    forbid_engine_and_verifier(monkeypatch)
    shortest, made = run_script(
        run_config(tmp_path / "voted", without, majority, curate={"select": [{"shortest": 1}]}),
        MAJORITY_SCRIPT,
    )
    assert made == 0 and shortest.kept == 3 and shortest.no_majority == 1
    assert sum(1 for _ in read_records(tmp_path / "voted" / "run" / "verdicts")) == verdict_lines


def test_problems_without_an_answer_need_reject_majority(tmp_path):
    without = [Problem("m1", "What is 5 + 6?", "", "t:1")]
    with pytest.raises(Exception, match="field 'answer' is missing .* or set reject.majority"):
        run_script(run_config(tmp_path, without, {}), MAJORITY_SCRIPT)


def test_a_teacher_faster_than_verification_waits_instead_of_piling_its_results_up(tmp_path, monkeypatch):
    monkeypatch.setattr(factory.pipeline, "RESULTS_IN_HAND", 2)
    monkeypatch.setattr(factory.checker.Checker, "QUEUE_ITEMS", 2)
    checked: list[str] = []
    check = factory.checker.Checker._check

    def slow_check(self, batch):
        time.sleep(0.005)
        check(self, batch)
        checked.extend(work.problem.id for work in batch if work.kind == factory.checker.NEW)

    monkeypatch.setattr(factory.checker.Checker, "_check", slow_check)
    problems = [Problem(f"q{index}", f"What is {index} + 1?", str(index + 1), "") for index in range(80)]
    script = {p.id: [(worked(int(p.answer) - 1, 1, p.answer), "stop")] * 3 for p in problems}
    ahead: list[int] = []  # requests the teacher has answered that the checker has not finished

    class Eager(ScriptedTeacher):
        def stream(self, source, template, sampling):
            for answered, samples in enumerate(super().stream(source, template, sampling)):
                ahead.append(answered - len(checked))
                yield samples

    teacher = Eager(script)
    summary = run(run_config(tmp_path, problems, {}), lambda line: None, start_teacher=lambda: teacher)
    assert summary.samples == 240 and summary.kept == 240
    # Unbounded, the instant teacher answers all 80 before the slow checker has finished a few. Bounded:
    # two results in hand, what the writer took with them, two in the checker's queue, its batch.
    assert max(ahead) <= 10, ahead
