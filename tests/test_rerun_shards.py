"""A finished run whose keep rules change: the next invocation re-verifies without generating, and the
shards then hold each kept sample once, and only the kept ones. Runs on the scripted teacher."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from scripted_teacher import ScriptedTeacher, run_config

from factory.config import RunConfig
from factory.records import Problem
from factory.job import run

SCRIPT = {
    "p1": [
        (r"3 + 4 = 7, so \boxed{7}.", "stop"),  # boxed: kept in both modes
        ("3 + 4 = 7.\nSo she has 7 apples.", "stop"),  # a closing sentence: kept only by lenient
        (r"So \boxed{8}.", "stop"),  # wrong in both modes
    ],
    "p2": [
        ("Half of 10 is 5.\nThe answer is 5.", "stop"),  # a marker: kept in both modes
        ("Halving 10.\nWe get 5 in the end.", "stop"),  # a closing sentence: kept only by lenient
        ("Halving 10 gives", "length"),  # truncated: dropped in both
    ],
}


PROBLEMS = [
    Problem(id="p1", problem="What is 3 + 4?", answer="7", source="t:1"),
    Problem(id="p2", problem="What is half of 10?", answer="5", source="t:2"),
]


def config(tmp_path: Path, **reject) -> RunConfig:
    # Only today's trace filter: these one-line traces are what the other filters are there to drop.
    return run_config(tmp_path, PROBLEMS, reject, curate={"filters": ["truncated"]})


def shipped(run_dir: Path) -> Counter[tuple[str, int]]:
    return Counter(
        (row["problem_id"], row["sample_index"])
        for path in (run_dir / "shards").glob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    )


def run_with(config: RunConfig) -> tuple[int, int]:
    teacher = ScriptedTeacher(SCRIPT)
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    return summary.kept, teacher.made


def test_changing_the_keep_rules_rebuilds_the_shards_without_duplicates(tmp_path):
    strict = config(tmp_path)
    assert run_with(strict) == (2, 6)
    assert shipped(tmp_path / "run") == Counter({("p1", 0): 1, ("p2", 0): 1})

    lenient = config(tmp_path, extraction="lenient")
    assert run_with(lenient) == (4, 0)  # re-verified, nothing generated
    assert shipped(tmp_path / "run") == Counter({("p1", 0): 1, ("p1", 1): 1, ("p2", 0): 1, ("p2", 1): 1})

    assert run_with(lenient) == (4, 0)  # the same config again changes nothing
    assert sum(shipped(tmp_path / "run").values()) == 4

    assert run_with(strict) == (2, 0)  # and back: the rows lenient kept leave the shards
    assert shipped(tmp_path / "run") == Counter({("p1", 0): 1, ("p2", 0): 1})
