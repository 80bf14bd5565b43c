"""`factory verify` on traces made elsewhere: JSONL and Parquet in, verdicts and a summary out."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from factory.cli import main

ROWS = [
    {"id": "q1", "gold": "7", "output": r"3 + 4 = 7, so \boxed{7}"},
    {"id": "q2", "gold": "1/2", "output": r"\boxed{\dfrac{2}{4}}"},
    {"id": "q3", "gold": "12", "output": r"\boxed{13}"},
    {"id": "q4", "gold": "5", "output": "Let me think.\nI give up."},
    {"id": "q5", "gold": "9", "output": "Answer: 9"},
]


def invoke(*args):
    result = CliRunner().invoke(main, ["verify", *map(str, args)])
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_verify_writes_verdicts_and_a_summary(tmp_path, kind):
    path = tmp_path / f"traces.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    else:
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    code, output = invoke(
        path, "--gold-field", "gold", "--response-field", "output", "--pattern", r"^Answer:\s*(.+)$"
    )
    assert code == 0, output
    verdicts = [json.loads(line) for line in (tmp_path / "traces.verdicts.jsonl").open()]
    assert [(v["id"], v["status"], v["reason"]) for v in verdicts] == [
        ("q1", "correct", "exact_match"),
        ("q2", "correct", "equal_value"),
        ("q3", "incorrect", "wrong_answer"),
        ("q4", "cannot_tell", "no_answer"),
        ("q5", "correct", "exact_match"),
    ]
    assert verdicts[0]["source"].endswith(":1" if kind == "jsonl" else ":row 0")
    summary = json.loads((tmp_path / "traces.verdicts.summary.json").read_text())
    assert summary["rows"] == 5 and summary["by_status"] == {"correct": 3, "incorrect": 1, "cannot_tell": 1}
    assert "correct 3, incorrect 1, cannot_tell 1" in output


def test_missing_field_is_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"id": "x", "gold": "1"}) + "\n")
    code, output = invoke(path, "--gold-field", "gold", "--response-field", "output")
    assert code == 1
    assert output.strip() == (
        f"error: {path}:2: field 'output' is missing (columns present: id, gold); "
        "name the response column with --response-field"
    )
    code, output = invoke(path)  # default field names: the gold column is missing on line 1
    assert code == 1 and f"{path}:1: field 'answer' is missing" in output and "--gold-field" in output
    assert not (tmp_path / "traces.verdicts.jsonl").exists()  # no partial output under the final name


def _gsm8k_rows():
    """Solutions in the GSM8K style, ending in `A: N`, some right and some wrong (our own problems)."""
    rows = []
    for index, (apples, eaten, stated) in enumerate([(12, 5, 7), (30, 12, 18), (9, 4, 6), (41, 16, 24)]):
        rows.append(
            {
                "id": f"g{index}",
                "answer": str(apples - eaten),
                "response": f"Sam has {apples} apples and eats {eaten}.\n"
                f"{apples} - {eaten} = <<{apples}-{eaten}={stated}>>{stated} apples are left.\nA: {stated}",
            }
        )
    return rows


def test_gsm8k_style_endings_are_read_with_no_flag(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _gsm8k_rows()))
    code, output = invoke(path)
    assert code == 0, output
    verdicts = [json.loads(line) for line in (tmp_path / "gsm8k.verdicts.jsonl").open()]
    assert [(v["id"], v["status"], v["found_by"]) for v in verdicts] == [
        ("g0", "correct", "marker"),  # 12 - 5 = 7
        ("g1", "correct", "marker"),  # 30 - 12 = 18
        ("g2", "incorrect", "marker"),  # 9 - 4 is 5, not 6
        ("g3", "incorrect", "marker"),  # 41 - 16 is 25, not 24
    ]
    assert "found by   marker 4 (lenient extraction)" in output
    assert "hint" not in output


def test_most_rows_without_an_answer_get_a_hint_naming_the_flags(tmp_path):
    rows = [
        {"id": f"r{i}", "answer": "7", "response": f"Working...\nRESULT => {7 + i % 2}\nThanks for reading"}
        for i in range(4)
    ]
    path = tmp_path / "custom.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, output = invoke(path, "--extraction", "strict")
    assert code == 0, output
    hint = [line for line in output.splitlines() if line.startswith("hint")]
    assert len(hint) == 1 and "4 of 4 rows have no answer" in hint[0]
    assert "--pattern" in hint[0] and "--extraction lenient" in hint[0]
    code, output = invoke(path)  # lenient: the closing line has no value either, and the hint says so
    hint = [line for line in output.splitlines() if line.startswith("hint")]
    assert len(hint) == 1 and "--pattern" in hint[0] and "--extraction lenient, in use" in hint[0]
    code, output = invoke(path, "--pattern", r"^RESULT => (\d+)$")
    assert code == 0 and "hint" not in output and "found by   pattern 4" in output
    summary = json.loads((tmp_path / "custom.verdicts.summary.json").read_text())
    assert summary["found_by"] == {"pattern": 4} and summary["by_status"] == {"correct": 2, "incorrect": 2}
