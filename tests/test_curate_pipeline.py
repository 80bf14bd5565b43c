"""The curate stage inside whole runs, on the scripted teacher (deterministic, instant): each default unit's
drops are counted by unit and reason; a curate-config change re-curates and re-packages with no engine and
no verifier; SIGKILL anywhere in curation or packaging, then the same command, gives the shards of an
uninterrupted run; adaptive sampling stops where the selection is settled; majority-vote golds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from curation_script import PROBLEMS, SCRIPT
from scripted_teacher import ScriptedTeacher, run_config

import factory.pipeline
import factory.reject
from factory.run import Summary, run

HARNESS = Path(__file__).with_name("kill_harness.py")


def run_script(config, script=SCRIPT) -> tuple[Summary, int]:
    teacher = ScriptedTeacher(script)
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    return summary, teacher.made


def shard_rows(run_dir: Path) -> list[dict]:
    rows = [
        row
        for path in sorted((run_dir / "shards").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    return sorted(rows, key=lambda row: row["sample_key"])


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
    ("samples", 1),
    ("curated", 1),
    ("curated", 4),
    ("row", 1),
    ("row", 5),
    ("excluded", 3),
    ("mark", 1),
]


@pytest.mark.parametrize("point, count", KILL_POINTS)
def test_sigkill_in_curation_or_packaging_then_the_same_command_gives_the_same_shards(tmp_path, point, count):
    def spec(folder: Path) -> Path:
        path = folder / "spec.json"
        folder.mkdir(exist_ok=True)
        path.write_text(
            json.dumps(
                {"tmp": str(folder), "curate": {"select": [{"at_most": 2}]}, "package": {"rows_per_shard": 2}}
            )
        )
        return path

    def harness(*args: str) -> int:
        # Output to a file, not a pipe: the verifier's pool workers outlive a killed run for a moment and
        # would hold a pipe open. Its own session, so that they go with it.
        with (tmp_path / "harness.log").open("a") as log:
            process = subprocess.Popen(
                [sys.executable, str(HARNESS), *args], stdout=log, stderr=log, start_new_session=True
            )
            try:
                return process.wait(timeout=120)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

    log = tmp_path / "harness.log"
    assert harness(str(spec(tmp_path / "whole"))) == 0, log.read_text()[-2000:]
    killed = harness(str(spec(tmp_path / "killed")), point, str(count))
    assert killed == -signal.SIGKILL, log.read_text()[-2000:]  # it died where it was told to
    assert harness(str(spec(tmp_path / "killed"))) == 0, log.read_text()[-2000:]
    expected, got = tmp_path / "whole" / "run", tmp_path / "killed" / "run"
    assert shard_rows(got) == shard_rows(expected)
    assert sorted(p.name for p in (got / "shards").glob("*")) == sorted(
        p.name for p in (expected / "shards").glob("*")
    )
    assert (got / "excluded.jsonl").read_text().count("\n") == (
        expected / "excluded.jsonl"
    ).read_text().count("\n")
    summary, whole_summary = (json.loads((folder / "summary.json").read_text()) for folder in (got, expected))
    assert (summary["kept"], summary["dropped"]) == (whole_summary["kept"], whole_summary["dropped"])
