"""A disk that fills up mid-run, injected at the write calls themselves (`os.fsync`, which every journal
append and every atomic file ends with, having got only part of the data down; the Parquet writer's
`write_table`): each writer stops the run with one line naming its file, and once there is room the same
command goes on to what an uninterrupted run makes."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from curation_script import PROBLEMS, SCRIPT
from kill_harness import PacedTeacher
from killable import outcome, temporaries, torn_or_temporary
from scripted_teacher import run_config

from factory.errors import FactoryError
from factory.job import run

CURATE = {"select": [{"at_most": 2}]}
PACKAGE = {"max_shard_bytes": 4000, "row_group_bytes": 2000}  # several shards
FULL = "; free space and run the same command again"
SHARD_BEING_WRITTEN = "shards/.train-"  # a shard is written under a hidden name, renamed once whole


def run_scripted(folder: Path) -> int:
    teacher = PacedTeacher(SCRIPT, 0.01)  # a request at a time reaches the journal: several appends
    config = run_config(folder, PROBLEMS, {}, curate=CURATE, package=PACKAGE)
    run(config, lambda line: None, start_teacher=lambda: teacher)
    return teacher.made


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("uninterrupted")
    run_scripted(folder)
    return outcome(folder / "run")


def fill_disk_at(monkeypatch, written: str, count: int) -> None:
    """The `count`-th write of a file whose path holds `written` fails for want of space."""
    seen = {"n": 0}

    def due(path: str) -> bool:
        if written in path:
            seen["n"] += 1
            return seen["n"] == count
        return False

    def no_space(what: str) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what)

    if written == SHARD_BEING_WRITTEN:
        write_table = pq.ParquetWriter.write_table

        def full_write_table(self, table, *args, **kwargs):
            if due(str(self.where)):
                raise no_space(str(self.where))
            return write_table(self, table, *args, **kwargs)

        monkeypatch.setattr(pq.ParquetWriter, "write_table", full_write_table)
        return
    fsync = os.fsync

    def full_fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if due(path):
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - 10))  # the last line only partly written
            raise no_space(path)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_fsync)


@pytest.mark.reliability
@pytest.mark.parametrize(
    "written, count, named",
    [
        ("samples/part-", 2, "samples/part-00000.jsonl"),  # the second request's samples
        ("verdicts/part-", 1, "verdicts/part-00000.jsonl"),
        ("curated/part-", 3, "curated/part-00000.jsonl"),  # a problem's curation line
        (SHARD_BEING_WRITTEN, 2, r"shards/train-\d{5}-\w+\.parquet"),  # its second row group
        ("excluded.jsonl", 1, "excluded.jsonl"),
        ("manifest.json", 1, "shards/manifest.json"),
        ("summary.json", 1, "summary.json"),
    ],
)
def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_then_loses_nothing(
    tmp_path, monkeypatch, uninterrupted, written, count, named
):
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patched:
        fill_disk_at(patched, written, count)
        with pytest.raises(FactoryError) as stopped:
            run_scripted(tmp_path)
    # One line naming the file, which the CLI prints after "error: " before it exits 1.
    message = f"no space left on device writing {re.escape(str(run_dir))}/{named}{FULL}"
    assert re.fullmatch(message, str(stopped.value))
    assert temporaries(run_dir) == []  # the file being written went, with the space it took
    made = run_scripted(tmp_path)  # space freed: the same command
    if written == "samples/part-":
        assert 0 < made < len(uninterrupted["samples"])  # the samples written before stayed written
    assert outcome(run_dir) == uninterrupted
    assert torn_or_temporary(run_dir) == []
