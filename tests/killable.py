"""Running a run in a child process that can be killed or signalled (tests/kill_harness.py), and reading
what its run folder holds afterwards, for the kill, signal and lock tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from factory.ledger import read_records
from factory.records import Sample

HARNESS = Path(__file__).with_name("kill_harness.py")


def start(script: Path, args: list[str], log: Path) -> subprocess.Popen:
    """`python script args...`, output appended to `log`, not a pipe: the verifier's pool workers outlive
    a killed run for a moment and would hold a pipe open. The child has its own session (process group),
    so that they can be ended with it (`end`), and Ctrl-C's default action, as at a terminal (`as_at_a_terminal`)."""
    with log.open("a") as handle:
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=handle,
            stderr=handle,
            start_new_session=True,
            preexec_fn=as_at_a_terminal,
        )


def as_at_a_terminal() -> None:
    """In a child before it starts: SIGINT back to its default. A shell started without job control (a CI
    script's `cmd &`) leaves its background commands ignoring SIGINT, and Python then never raises
    KeyboardInterrupt: a test of Ctrl-C would pass or fail by how the test run was launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def end(process: subprocess.Popen) -> None:
    """SIGKILL to the child's whole process group (its pool workers too), if any of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_killable(script: Path, args: list[str], log: Path, timeout: float = 120) -> int:
    """Run `script` to its end and return its exit status (negative: the signal that ended it)."""
    process = start(script, args, log)
    try:
        return process.wait(timeout=timeout)
    finally:
        end(process)


def spec(folder: Path, **settings: Any) -> Path:
    """The harness's RUN_SPEC for a run in `folder`: at most 2 traces a problem, and shards small enough
    that a run writes several."""
    path = folder / "spec.json"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "tmp": str(folder),
        "curate": {"select": [{"at_most": 2}]},
        "package": {"max_shard_bytes": 4000, "row_group_bytes": 2000},
    } | settings
    path.write_text(json.dumps(settings))
    return path


def run_to_the_end(folder: Path, **settings: Any) -> Path:
    """The run folder of the harness's run in `folder` (see `spec`), left alone to its end."""
    log = folder / "harness.log"
    assert run_killable(HARNESS, [str(spec(folder, **settings))], log) == 0, log.read_text()[-2000:]
    return folder / "run"


def shard_rows(run_dir: Path) -> list[dict]:
    rows = [
        row
        for path in sorted((run_dir / "shards").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    return sorted(rows, key=lambda row: row["sample_key"])


def outcome(run_dir: Path) -> dict[str, Any]:
    """What a finished run folder holds, as two runs compare it: every sample and verdict by key, each
    problem's curation, the shard rows and files, the exclusions and the summary's counts."""
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "samples": {Sample.from_dict(row).key(): row for row in read_records(run_dir / "samples")},
        "verdicts": {row["sample_key"]: row for row in read_records(run_dir / "verdicts")},
        "curated": {row["problem_id"]: row for row in read_records(run_dir / "curated")},
        "shard_rows": shard_rows(run_dir),
        "shard_files": sorted(path.name for path in (run_dir / "shards").glob("*")),
        "excluded": sorted((run_dir / "excluded.jsonl").read_text().splitlines()),
        "summary": {name: summary[name] for name in ("samples", "correct", "kept", "dropped")},
    }


def duplicates(run_dir: Path) -> int:
    """Records on disk (complete lines) that repeat one already there: a sample or verdict of the same
    sample, a second curation of a problem, a second shard row of a sample."""
    keys = [
        *(("sample", Sample.from_dict(row).key()) for row in read_records(run_dir / "samples")),
        *(("verdict", row["sample_key"]) for row in read_records(run_dir / "verdicts")),
        *(("curation", row["problem_id"]) for row in read_records(run_dir / "curated")),
        *(("row", row["sample_key"]) for row in shard_rows(run_dir)),
    ]
    return sum(count - 1 for count in Counter(keys).values())


def temporaries(run_dir: Path) -> list[str]:
    """Temporary files left beside the run's files or the shards."""
    return sorted(
        str(path.relative_to(run_dir)) for path in [*run_dir.glob(".*"), *run_dir.glob("shards/.*")]
    )


def torn_or_temporary(run_dir: Path) -> list[str]:
    """Files a later reader could trip on: a journal that does not end with a whole line, a temporary
    file."""
    journals = [
        path for path in run_dir.glob("*/part-*.jsonl") if (data := path.read_bytes()) and data[-1:] != b"\n"
    ]
    return sorted([*(str(path.relative_to(run_dir)) for path in journals), *temporaries(run_dir)])


def unreadable(run_dir: Path) -> list[str]:
    """Files under their own names that do not read whole: JSON, JSON lines (but the journals and the
    progress timeline, appended as the run goes, whose last line a kill may tear: their readers skip it),
    YAML and Parquet. A killed run must leave none."""
    failed = []
    for path in sorted(run_dir.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".jsonl" and not path.match("part-*.jsonl") and path.name != "timeline.jsonl":
                [json.loads(line) for line in path.read_text().splitlines()]
            elif path.suffix == ".yaml":
                assert isinstance(yaml.safe_load(path.read_text()), dict)
            elif path.suffix == ".parquet":
                pq.read_table(path)
        except (ValueError, OSError, AssertionError, yaml.YAMLError):
            failed.append(str(path.relative_to(run_dir)))
    return failed
