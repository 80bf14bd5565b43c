"""Sample keys and the sample journal: what makes a resume exactly-once."""

from __future__ import annotations

import json

import pytest

from factory.errors import FactoryError
from factory.records import sample_key
from factory.storage import Journal, drop_torn_tail, read_journal

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 1?"}]
SAMPLING = {"n": 4, "temperature": 0.7, "top_p": 1.0, "max_tokens": 64, "seed": 0, "stop": []}


def key(**changes):
    fields = {
        "problem_id": "p1",
        "messages": MESSAGES,
        "prompt_hash": "abc",
        "model": "m",
        "sampling": SAMPLING,
        "index": 0,
    } | changes
    return sample_key(**fields)


def test_a_key_names_one_draw_of_one_request():
    assert key() == key()  # stable
    assert key(index=1) != key()  # each draw
    assert key(problem_id="p2") != key()  # each problem
    assert key(messages=MESSAGES[1:]) != key()  # the rendered prompt
    assert key(prompt_hash="abd") != key()  # the template
    assert key(model="other") != key()  # the teacher
    assert key(sampling=SAMPLING | {"temperature": 0.8}) != key()  # how it was sampled
    assert key(sampling=SAMPLING | {"n": 8}) == key()  # but not how many draws were asked for


def test_a_journal_keeps_whole_lines_and_skips_a_torn_one(tmp_path):
    path = tmp_path / "part-00000.jsonl"
    journal = Journal(path)
    journal.append([{"a": 1}, {"a": 2}])
    journal.append([{"a": 3}])
    journal.close()
    with path.open("a") as handle:
        handle.write('{"a": 4, "tor')  # the writer was killed mid-line
    assert [row["a"] for row in read_journal(path)] == [1, 2, 3]
    drop_torn_tail(path)
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 3
    drop_torn_tail(path)  # nothing more to cut
    assert [row["a"] for row in read_journal(path)] == [1, 2, 3]


def test_a_journal_is_never_reopened(tmp_path):
    path = tmp_path / "part-00000.jsonl"
    Journal(path).close()
    with pytest.raises(FileExistsError):
        Journal(path)


def test_a_damaged_line_inside_a_journal_is_a_clear_error(tmp_path):
    path = tmp_path / "part-00003.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n" + "{oops\n" + json.dumps({"a": 2}) + "\n")
    with pytest.raises(FactoryError, match=r"part-00003.jsonl:2: not a JSON line"):
        list(read_journal(path))
