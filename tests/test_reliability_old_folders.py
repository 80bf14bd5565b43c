"""Run folders written by another factory version: journal lines as older versions wrote them (no schema
version, a verdict's `kept`, none of the fields added since) are read as they are; a line this factory
cannot read (a newer schema, a field missing or unknown, not a record at all) stops the run with one line
naming the file and line, never a TypeError or KeyError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curation_script import PROBLEMS, SCRIPT
from killable import shard_rows
from scripted_teacher import ScriptedTeacher, run_config

from factory.errors import FactoryError
from factory.records import SCHEMA_KEY
from factory.job import run


def run_scripted(folder: Path) -> int:
    teacher = ScriptedTeacher(SCRIPT)
    run(run_config(folder, PROBLEMS, {}), lambda line: None, start_teacher=lambda: teacher)
    return teacher.made


def rewrite(part: Path, edit) -> None:
    """Each line of the journal `part` as `edit` makes it (a dict, or the text of the line)."""
    rows = [edit(json.loads(line)) for line in part.read_text().splitlines()]
    part.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))


def as_before_versions(row: dict) -> dict:
    """A record as factories before schema versions wrote it; verdicts as before the curate stage (0.2):
    with the keep decision, without how the answer was found or the judge's fields."""
    row = {name: value for name, value in row.items() if name != SCHEMA_KEY}
    if "sample_key" in row and "status" in row and "kept" not in row:  # a verdict
        later = ("found_by", "rule_reason", "judge_prompt_hash", "judge_reply", "gold_source")
        row = {name: value for name, value in row.items() if name not in later}
        row["kept"] = row["status"] == "correct"
    return row


@pytest.mark.reliability
def test_a_folder_from_before_schema_versions_is_read_as_it_is(tmp_path):
    run_scripted(tmp_path)
    run_dir = tmp_path / "run"
    rows = shard_rows(run_dir)
    for part in run_dir.glob("*/part-*.jsonl"):
        rewrite(part, as_before_versions)
    assert SCHEMA_KEY not in (run_dir / "samples" / "part-00000.jsonl").read_text()
    assert run_scripted(tmp_path) == 0  # every sample read, none made again
    assert shard_rows(run_dir) == rows


def without(name: str):
    return lambda row: {key: value for key, value in row.items() if key != name}


@pytest.mark.reliability
@pytest.mark.parametrize(
    "folder, edit, said",
    [
        # a newer factory's record
        (
            "samples",
            lambda row: row | {SCHEMA_KEY: 2},
            (
                "a Sample record of schema 2, which this factory does not know (it reads schemas 0 to 1): "
                "a newer factory wrote it; upgrade factory to read this folder"
            ),
        ),
        # a field this factory needs, missing
        (
            "samples",
            without("prompt_hash"),
            (
                "a Sample record this factory cannot read (no field 'prompt_hash'): the folder was written by "
                "another factory version; use another run_dir (--set run_dir=...)"
            ),
        ),
        # a field it does not know (renamed, or from a fork), on a line with no version
        (
            "verdicts",
            lambda row: without(SCHEMA_KEY)(row) | {"confidence": 0.9},
            "a SampleVerdict record this factory cannot read (unknown field 'confidence')",
        ),
        # inside a curation line: a kept trace missing a field
        (
            "curated",
            lambda row: row | {"kept": [without("teacher")(trace) for trace in row["kept"]]},
            "a KeptTrace record this factory cannot read (no field 'teacher')",
        ),
        ("curated", lambda row: row | {"kept": "p1:0"}, "whose kept or excluded traces are not lists"),
        # valid JSON, but no record at all
        ("samples", lambda row: "[1, 2]", "not a Sample record but a JSON list"),
        ("verdicts", lambda row: '"verdict"', "not a SampleVerdict record but a JSON str"),
    ],
)
def test_a_line_this_factory_cannot_read_stops_the_run_with_one_line_naming_it(tmp_path, folder, edit, said):
    run_scripted(tmp_path)
    part = tmp_path / "run" / folder / "part-00000.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    first = edit(json.loads(lines[0]))
    part.write_text((first if isinstance(first, str) else json.dumps(first)) + "\n" + "".join(lines[1:]))
    with pytest.raises(FactoryError) as refused:
        run_scripted(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{part}:1: ") and said in message and "\n" not in message


@pytest.mark.reliability
def test_a_generation_record_left_empty_by_a_crash_of_an_older_factory_is_one_line(tmp_path):
    run_scripted(tmp_path)
    key = tmp_path / "run" / "generation.yaml"
    key.write_text("")  # older factories wrote it in place
    with pytest.raises(FactoryError, match=f"^{key}: not a record of what this folder generates; delete it"):
        run_scripted(tmp_path)
