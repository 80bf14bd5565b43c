"""A run stopped on purpose, in a child process on the scripted teacher (tests/kill_harness.py): SIGINT and
SIGTERM mid-generation end it with its writes finished, one line and 130/143, and the same command goes on
to what an uninterrupted run makes; a second invocation on a folder in use stops with a line naming the
first, and a holder killed with SIGKILL leaves the folder free."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from killable import HARNESS, end, outcome, run_killable, run_to_the_end, spec, start, torn_or_temporary

from factory.ledger import read_records
from factory.storage import LOCK_FILE

COPIES = 4  # 24 problems, 72 samples
SETTINGS = {"copies": COPIES, "reject": {"workers": 1}}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return outcome(run_to_the_end(tmp_path_factory.mktemp("uninterrupted"), **SETTINGS))


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)


def samples_on_disk(run_dir: Path) -> int:
    return sum(1 for _ in read_records(run_dir / "samples"))


@pytest.mark.reliability
@pytest.mark.parametrize(
    "signum, status, stopped_by",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_a_signal_mid_generation_finishes_the_writes_in_flight_and_the_same_command_goes_on(
    tmp_path, uninterrupted, signum, status, stopped_by
):
    log, run_dir = tmp_path / "harness.log", tmp_path / "run"
    process = start(HARNESS, [str(spec(tmp_path, pace=0.1, **SETTINGS))], log)  # 24 requests: 2.4 s
    try:
        wait_for(lambda: samples_on_disk(run_dir) >= 3, "the first request's samples")
        os.kill(process.pid, signum)
        assert process.wait(timeout=60) == status, log.read_text()[-2000:]
    finally:
        end(process)
    # One line, nothing else: no traceback, from the run or from its verifier's processes.
    assert log.read_text() == (
        f"{stopped_by}: finished work is saved; run the same command again to continue\n"
    )
    assert 3 <= samples_on_disk(run_dir) < len(uninterrupted["samples"])  # stopped mid-generation
    assert torn_or_temporary(run_dir) == []  # every journal closed on a whole line, unlike after SIGKILL
    assert run_killable(HARNESS, [str(spec(tmp_path, **SETTINGS))], log) == 0, log.read_text()[-2000:]
    assert outcome(run_dir) == uninterrupted


@pytest.mark.reliability
def test_a_second_invocation_on_a_folder_in_use_stops_naming_the_first_until_it_dies(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    holder = start(
        HARNESS, [str(spec(tmp_path, pace=1, **SETTINGS))], tmp_path / "holder.log"
    )  # 24 s if left alone
    try:
        wait_for(lambda: f"pid {holder.pid} " in _text(run_dir / LOCK_FILE), "the first invocation's lock")
        second = tmp_path / "second.log"
        assert run_killable(HARNESS, [str(spec(tmp_path, **SETTINGS))], second) == 1
        assert second.read_text() == (
            f"error: {run_dir} is in use by factory (pid {holder.pid} on {socket.gethostname()}); "
            "wait for it to finish or stop it, then run the command again\n"
        )
    finally:
        end(holder)  # kill -9: no clean-up, the lock goes with the process
    holder.wait(timeout=60)
    assert run_killable(HARNESS, [str(spec(tmp_path, **SETTINGS))], tmp_path / "third.log") == 0
    assert outcome(run_dir) == uninterrupted


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.reliability
@pytest.mark.parametrize(
    "signum, status, stopped_by",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_a_signal_while_problems_are_read_ends_the_run_within_seconds(tmp_path, signum, status, stopped_by):
    """Before any request: reading a large problems file into the run's table."""
    with (tmp_path / "problems.jsonl").open("w") as handle:
        for number in range(300_000):
            handle.write(json.dumps({"id": f"q{number}", "problem": f"What is {number} + 1?", "answer": "1"}))
            handle.write("\n")
    (tmp_path / "config.yaml").write_text(
        f"run_dir: {tmp_path / 'run'}\nproblems: {{paths: [{tmp_path / 'problems.jsonl'}]}}\n"
        "teacher: {backend: http, base_url: 'http://127.0.0.1:9/v1', model: m, max_retries: 0}\n"
    )
    log = tmp_path / "run.log"
    factory = Path(sys.executable).with_name("factory")
    process = start(factory, ["run", str(tmp_path / "config.yaml")], log)
    try:
        wait_for(lambda: any((tmp_path / "run").glob(".problems-*.sqlite")), "the problems table")
        time.sleep(0.3)
        signalled = time.monotonic()
        os.kill(process.pid, signum)
        assert process.wait(timeout=30) == status, log.read_text()[-2000:]
        assert time.monotonic() - signalled < 3
    finally:
        end(process)
    assert (
        log.read_text() == f"{stopped_by}: finished work is saved; run the same command again to continue\n"
    )
