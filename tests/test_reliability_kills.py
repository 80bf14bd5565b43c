"""20 SIGKILLs in a row on one run folder, at points drawn at random (seeded, so a failure reproduces) over
generation, verification, curation and packaging; each kill lands in the invocation that resumes from the
last one. Then the same command once more, untouched: the folder must hold what an uninterrupted run's
holds (samples, verdicts, curation, shard rows and files, exclusions, counts), with no duplicate record and
no torn or temporary file. The run is the scripted teacher's (tests/kill_harness.py): seconds, not hours."""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path

import pytest
from kill_harness import PACKAGE_POINTS, STREAM_POINTS
from killable import (
    HARNESS,
    duplicates,
    outcome,
    run_killable,
    run_to_the_end,
    spec,
    torn_or_temporary,
    unreadable,
)
from scripted_teacher import SAMPLING

from factory.ledger import read_records

KILLS = 20
STREAM_KILLS = 13  # the rest land in packaging, which only begins once the stream has ended
SEED = 2023
COPIES = 4  # 24 problems, 72 samples: room for 13 kills before the stream ends
SETTINGS = {"copies": COPIES, "reject": {"workers": 1}}  # one verifier process: it starts faster


def remaining(run_dir: Path, whole: dict) -> dict[str, int]:
    """How many events of each kill point the next invocation on `run_dir` will reach (a journal's events
    are its lines), from what is on disk and what the uninterrupted run made: a kill drawn among them
    always lands. The stream always has a problem to curate until it has ended: a kill there leaves the
    sample, verdict or curation it tore unmade."""
    drawn = Counter(row["problem_id"] for row in read_records(run_dir / "samples"))
    return {
        "generate": sum(drawn[pid] < SAMPLING.n for pid in whole["curated"]),
        "samples": len(whole["samples"]) - drawn.total(),
        "verdicts": len(whole["verdicts"])
        - len({row["sample_key"] for row in read_records(run_dir / "verdicts")}),
        "curated": len(whole["curated"])
        - len({row["problem_id"] for row in read_records(run_dir / "curated")}),
        "excluded": len(whole["excluded"]),
        "row": len(whole["shard_rows"]),
        "mark": 1,
    }


@pytest.mark.reliability
def test_twenty_sigkills_in_a_row_then_the_same_command_ends_as_an_uninterrupted_run(
    tmp_path, reliability_figure
):
    log = tmp_path / "harness.log"

    def harness(folder: Path, *kill: str) -> int:
        return run_killable(HARNESS, [str(spec(folder, **SETTINGS)), *kill], log)

    whole = outcome(run_to_the_end(tmp_path / "whole", **SETTINGS))
    draw = random.Random(SEED)
    # The stream's kills in its order: the scripted teacher has made every sample before the verifier's
    # process is up, so a kill in verification lets generation finish, and a kill in generation drawn
    # after it would find nothing left to kill.
    schedule = sorted((draw.choice(STREAM_POINTS) for _ in range(STREAM_KILLS)), key=STREAM_POINTS.index)
    schedule += [draw.choice(PACKAGE_POINTS) for _ in range(KILLS - STREAM_KILLS)]
    shares = [draw.random() for _ in schedule]

    folder, run_dir = tmp_path / "killed", tmp_path / "killed" / "run"
    kills: Counter[str] = Counter()
    for number, (point, share) in enumerate(zip(schedule, shares, strict=True), start=1):
        left = remaining(run_dir, whole)[point]
        count = 1 + int(share * left)  # 1..left
        status = harness(folder, point, str(count))
        assert status == -signal.SIGKILL, f"kill {number} at {point} {count}: {log.read_text()[-2000:]}"
        kills[point] += 1
        assert duplicates(run_dir) == 0, f"after kill {number} at {point} {count}"
        assert unreadable(run_dir) == [], f"after kill {number} at {point} {count}"
    assert harness(folder) == 0, log.read_text()[-2000:]  # the same command, left alone this time

    resumed = outcome(run_dir)
    shipped = {row["sample_key"] for row in resumed["shard_rows"]}
    rows_lost = sum(row["sample_key"] not in shipped for row in whole["shard_rows"])
    reliability_figure(
        f"kills: {sum(kills.values())} SIGKILLs in a row on one run folder "
        f"({', '.join(f'{point} {kills[point]}' for point in (*STREAM_POINTS, *PACKAGE_POINTS))}), "
        f"{sum(kills.values())} resumes; rows lost {rows_lost} of {len(whole['shard_rows'])}, "
        f"duplicates {duplicates(run_dir)}, torn or temporary files {len(torn_or_temporary(run_dir))}"
    )
    assert resumed == whole
    assert duplicates(run_dir) == 0 and torn_or_temporary(run_dir) == []
    assert all(kills[point] for point in (*STREAM_POINTS, *PACKAGE_POINTS))  # the seed draws every point
