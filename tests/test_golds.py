"""Golds as data sets carry them: GSM8K's worked solutions closing on `#### 72` and MATH's solutions with the
answer in `\\boxed{}` verify as they are, in `factory verify`, `factory run` and `factory eval`; the shards
keep the answer read and the whole solution; a gold the chosen mode cannot read is named, and a run or a
verify where most golds could not be read says which setting reads them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scripted_teacher import TEACHER_MODEL, ScriptedTeacher
from test_eval import ScriptedModel

import factory.job
from factory.cli import main
from factory.config import EvalConfig, RunConfig, build, load_config
from factory.errors import FactoryError
from factory.eval import evaluate, lines
from factory.golds import gold_reader
from factory.job import run
from factory.package import SCHEMA

# --- reading a gold ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, gold, expected",
    [
        ("auto", "3 bags of 4 is 3*4=<<3*4=12>>12 apples.\n#### 12", "12"),  # GSM8K's closing line
        ("auto", "She saves 1,200 + 50 = 1,250.\n#### 1,250\n", "1250"),  # thousands commas go
        ("auto", r"So $x = \frac{1}{2}$, and the answer is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),  # MATH
        ("auto", "#### Step 1\nThe sum is $\\boxed{7}$.", "7"),  # a Markdown heading is not GSM8K's line
        ("auto", r"\boxed{(1, 2)}", "(1, 2)"),  # a tuple keeps its comma
        ("auto", "72", "72"),  # an answer is read as it is
        ("auto", "It is 5.", "It is 5."),  # no marker: as it is, for the verifier to judge
        ("as_is", "2*3=6\n#### 6", "2*3=6\n#### 6"),
        ("hashes", "#### Step 1\nSo 6.\n#### 6\nChecked.", "6"),  # the last ####, not on the last line
        ("hashes", "So 6.", None),  # nothing to read: the caller verifies it as given
        ("hashes", "####", None),  # a marker with nothing after it
        ("boxed", r"$\boxed{2} \text{ and } \boxed{3}$", "2, 3"),  # the verifier's reading of a line of boxes
        ("boxed", r"\boxed{\frac{1}{2}", None),  # a box that never closes
        ("last_number", "She pays 1,250.50 dollars in all.", "1250.50"),
        ("last_number", "Pages 3-4 are left.", "4"),  # a range's dash is no minus
        ("last_number", "It drops to -4 degrees.", "-4"),
        ("last_number", "none at all", None),
    ],
)
def test_each_mode_reads_the_answer_of_a_gold(mode, gold, expected):
    assert gold_reader(mode)(gold) == expected


def test_a_pattern_reads_its_group_in_the_last_match():
    read = gold_reader("pattern", r"^Answer:\s*(.+)$")
    assert read("Answer: 3 (first try)\nAnswer: 4") == "4"
    assert read("no answer line") is None


# --- the settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "problems, error",
    [
        (
            {"gold": "gsm8k"},
            "problems.gold must be one of auto, as_is, boxed, hashes, last_number, pattern; got 'gsm8k'",
        ),
        (
            {"gold": "pattern"},
            (
                "problems.gold is pattern, which needs problems.gold_pattern: a regex whose one group is the "
                "answer"
            ),
        ),
        (
            {"gold_pattern": "A: (.+)"},
            "problems.gold_pattern is read only with problems.gold: pattern, not auto",
        ),
        (
            {"gold": "pattern", "gold_pattern": "A: .+"},
            "problems.gold_pattern must have one group, the answer; it has 0",
        ),
        (
            {"gold": "pattern", "gold_pattern": "A: (.+"},
            "problems.gold_pattern is not a valid regex: missing ), ",
        ),
    ],
)
def test_a_wrong_gold_setting_is_one_line(tmp_path, problems, error):
    path = tmp_path / "run.yaml"
    config = {"run_dir": str(tmp_path / "run"), "problems": {"paths": ["p.jsonl"], **problems}}
    path.write_text(json.dumps({**config, "teacher": {"model": TEACHER_MODEL}}))
    with pytest.raises(FactoryError) as raised:
        load_config(RunConfig, path)
    assert str(raised.value).startswith(f"{path}:1: {error}")


# --- factory verify ----------------------------------------------------------------------------------------

# Made-up word problems in GSM8K's format: a worked solution (with its <<calculator>> notes) closing on
# `#### N`; a response; and the verdict it must get.
GSM8K_ROWS = [
    (
        "g01",
        "She bakes 12 muffins an hour for 6 hours.\n12*6=<<12*6=72>>72\n#### 72",
        r"12 \times 6 = 72, so she bakes $\boxed{72}$ muffins.",
        "correct",
    ),
    (
        "g02",
        (
            "Sam reads 15*4=<<15*4=60>>60 pages in four days.\n"
            "With the fifth day's 20: 60+20=<<60+20=80>>80.\n#### 80"
        ),
        "15 * 4 = 60 and 60 + 20 = 80.\nThe answer is 80.",
        "correct",
    ),
    (
        "g03",
        "Five tickets cost 8*5=<<8*5=40>>40 dollars.\nThe change is 50-40=<<50-40=10>>10 dollars.\n#### 10",
        r"Five tickets cost 8 * 5 = 40, so the change is $\boxed{12}$.",
        "incorrect",
    ),
    (
        "g04",
        "The hens lay 1,000*5=<<1000*5=5000>>5,000 eggs a week.\n#### 5,000",
        r"1000 hens times 5 eggs: $\boxed{5000}$ eggs.",
        "correct",
    ),
    (
        "g05",
        "Mia has 3*24=<<3*24=72>>72 crayons.\nShe keeps 72-10=<<72-10=62>>62.\n#### 62",
        "Mia has 72 crayons and gives 10 away.\n#### 62",
        "correct",
    ),
    (
        "g06",
        "Each shelf holds 9 books, and there are 6 shelves: 9*6=<<9*6=54>>54.\n#### 54",
        "9 * 6 = 45\n#### 45",
        "incorrect",
    ),
    (
        "g07",
        "The garden is 4*9=<<4*9=36>>36 square meters.\n#### 36",
        "Let me think about the garden.\nI am not sure how to finish.",
        "cannot_tell",
    ),
    (
        "g08",
        "Half of 15 liters is 15/2=<<15/2=7.5>>7.5 liters.\n#### 7.5",
        r"Half of 15 is $\boxed{\frac{15}{2}}$ liters.",
        "correct",
    ),
    (
        "g09",
        "The temperature falls from 6 to 6-10=<<6-10=-4>>-4 degrees.\n#### -4",
        r"6 - 10 = -4, so it is $\boxed{-4}$ degrees.",
        "correct",
    ),
    (
        "g10",
        "Tom buys 3 packs of 8 cards: 3*8=<<3*8=24>>24 cards.\n#### 24",
        "He buys 3 packs of 8 cards, 24 cards in all.\nFinal Answer: 24",
        "correct",
    ),
    (
        "g11",
        "A bus carries 42 people on each of 5 trips: 42*5=<<42*5=210>>210.\n#### 210",
        r"$\boxed{200}$",
        "incorrect",
    ),
    (
        "g12",
        "The rope is 30 meters; cut in 6 equal parts, each is 30/6=<<30/6=5>>5 meters.\n#### 5",
        r"30 / 6 = 5, so each part is $\boxed{5}$ meters long.",
        "correct",
    ),
    (
        "g13",
        "Ann earns 15 dollars an hour for 40 hours: 15*40=<<15*40=600>>600.\n#### 600",
        "Ann earns 15 * 40 = 600 dollars.\nThe answer is $600.",
        "correct",
    ),
    (
        "g14",
        "The class has 28 students; 3/4 of them is 28*3/4=<<28*3/4=21>>21.\n#### 21",
        r"Three quarters of 28 is $\boxed{21}$.",
        "correct",
    ),
    (
        "g15",
        "A car goes 60 km an hour for 2.5 hours: 60*2.5=<<60*2.5=150>>150 km.\n#### 150",
        r"60 * 2.5 = 140, so $\boxed{140}$ km.",
        "incorrect",
    ),
    (
        "g16",
        "Each of 7 boxes holds 12 pens: 7*12=<<7*12=84>>84 pens.\n#### 84",
        r"7 boxes of 12 pens hold $\boxed{84}$ pens.",
        "correct",
    ),
    (
        "g17",
        "Leo had 100 stickers and gave away 37: 100-37=<<100-37=63>>63.\n#### 63",
        "I cannot tell how many he gave away.\nMaybe more information is needed.",
        "cannot_tell",
    ),
    (
        "g18",
        "The pool fills 250 liters a minute for 12 minutes: 250*12=<<250*12=3000>>3,000 liters.\n#### 3,000",
        r"250 * 12 = 3,000, so $\boxed{3{,}000}$ liters.",
        "correct",
    ),
    (
        "g19",
        (
            "Four friends share 18 cookies and 2 are left: 18-2=<<18-2=16>>16,\n"
            "and 16/4=<<16/4=4>>4 each.\n#### 4"
        ),
        r"Each friend gets $\boxed{4}$ cookies.",
        "correct",
    ),
    (
        "g20",
        "A week's 7 days at 3 glasses a day: 7*3=<<7*3=21>>21 glasses.\n#### 21",
        r"7 * 3 = 21, and one more on Sunday: $\boxed{22}$.",
        "incorrect",
    ),
    (
        "g21",
        "A shirt of 40 dollars at 25% off costs 40*0.75=<<40*0.75=30>>30 dollars.\n#### 30",
        r"25% of 40 is 10, so it costs $\boxed{30}$ dollars.",
        "correct",
    ),
    (
        "g22",
        "Nine rows of 11 chairs: 9*11=<<9*11=99>>99 chairs.\n#### 99",
        r"$\boxed{90}$ chairs.",
        "incorrect",
    ),
]

# MATH's format: a solution with the answer boxed, one of them with Markdown headings.
MATH_ROWS = [
    (
        "m1",
        r"We have $\frac{6}{8} = \frac{3}{4}$, so the answer is $\boxed{\frac{3}{4}}$.",
        r"Reducing gives $\boxed{0.75}$.",
        "correct",
    ),
    (
        "m2",
        r"Since $x^2 = 2$ and $x > 0$, $x = \boxed{\sqrt{2}}$.",
        r"So $x = \boxed{\sqrt{3}}$.",
        "incorrect",
    ),
    (
        "m3",
        (
            "#### Step 1\nThe line through the two points meets the axes.\n#### Step 2\n"
            r"It crosses at $\boxed{(2, 3)}$."
        ),
        r"The point is $\boxed{(2,3)}$.",
        "correct",
    ),
    (
        "m4",
        r"The roots are $1$ and $5$; their sum is $1 + 5 = \boxed{6}$.",
        r"By Vieta the sum is $\boxed{6}$.",
        "correct",
    ),
    (
        "m5",
        r"$2^{10} = 1024$, so the remainder mod 7 is $\boxed{2}$.",
        r"The remainder is $\boxed{4}$.",
        "incorrect",
    ),
]


def write_rows(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    path.write_text(
        "".join(
            json.dumps({"id": row_id, "answer": gold, "response": response}) + "\n"
            for row_id, gold, response, _ in rows
        )
    )


def verify(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", *map(str, args)])
    return result.exit_code, result.output


def verdicts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.with_name(path.stem + ".verdicts.jsonl").open()]


def test_gsm8k_solutions_verify_with_no_flag(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    write_rows(path, GSM8K_ROWS)
    code, output = verify(path)
    assert code == 0, output
    found = verdicts(path)
    assert [(v["id"], v["status"]) for v in found] == [(row[0], row[3]) for row in GSM8K_ROWS]
    # The answer read, and the whole solution beside it.
    assert (found[3]["gold"], found[3]["reference_solution"]) == ("5000", GSM8K_ROWS[3][1])
    assert output.splitlines() == [
        "rows       22",
        "verdicts   correct 14, incorrect 6, cannot_tell 2",
        "reasons    equal_value 2, exact_match 12, no_answer 2, wrong_answer 6",
        "found by   boxed 15, marker 5 (lenient extraction)",
        "correct    63.6%",
        f"verdicts   {tmp_path / 'gsm8k.verdicts.jsonl'}",
    ]
    summary = json.loads((tmp_path / "gsm8k.verdicts.summary.json").read_text())
    assert summary["golds"] == {"mode": "auto", "unread": 0, "unread_ids": []}


def test_math_solutions_verify_with_no_flag(tmp_path):
    path = tmp_path / "math.jsonl"
    write_rows(path, MATH_ROWS)
    code, output = verify(path)
    assert code == 0, output
    found = verdicts(path)
    assert [(v["id"], v["status"]) for v in found] == [(row[0], row[3]) for row in MATH_ROWS]
    assert [v["gold"] for v in found] == [r"\frac{3}{4}", r"\sqrt{2}", "(2, 3)", "6", "2"]
    assert "correct    60.0%" in output.splitlines()


def test_solutions_read_as_they_are_give_one_hint_naming_the_flag(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    write_rows(path, GSM8K_ROWS)
    code, output = verify(path, "--gold-extraction", "as_is")
    assert code == 0, output
    # The two responses without an answer are no_answer before their golds are read.
    assert output.splitlines()[2:6] == [
        "reasons    no_answer 2, unparseable_gold 20",
        "found by   boxed 15, marker 5 (lenient extraction)",
        "correct    0.0%",
        (
            "hint       20 of 22 golds could not be read as answers (unparseable_gold); if they are whole "
            "solutions, set --gold-extraction to how they state their answer: auto, hashes, boxed, "
            "last_number, or pattern with --gold-pattern"
        ),
    ]


def test_prose_solutions_get_a_hint_that_leads_to_their_answers(tmp_path):
    rows = [
        ("s1", "She has 3 + 4 = 7 apples in all.", r"So $\boxed{7}$.", "correct"),
        ("s2", "Two piles of 6 make 12, so Tom has 12 stones.", r"$\boxed{12}$", "correct"),
        ("s3", "Each of the 5 boxes holds 8, which makes 40 pens.", r"$\boxed{45}$", "incorrect"),
    ]
    path = tmp_path / "prose.jsonl"
    write_rows(path, rows)
    code, output = verify(path)
    assert code == 0, output
    assert output.splitlines()[5] == (
        "hint       3 of 3 golds could not be read as answers (unparseable_gold); if they are whole solutions, "
        "set --gold-extraction to how they state their answer: hashes, boxed, last_number, or pattern with "
        "--gold-pattern (auto found no closing #### line nor \\boxed{} in them)"
    )
    code, output = verify(path, "--gold-extraction", "last_number")
    assert code == 0, output
    assert [(v["status"], v["gold"]) for v in verdicts(path)] == [
        ("correct", "7"),
        ("correct", "12"),
        ("incorrect", "40"),
    ]
    assert "hint" not in output


def test_golds_the_mode_cannot_read_are_named_and_verified_as_given(tmp_path):
    # Boxed golds, but two plain ones among them: those are verified as they are, and named.
    rows = [*MATH_ROWS, ("m6", "12", r"$\boxed{12}$", "correct"), ("m7", "8", r"$\boxed{9}$", "incorrect")]
    path = tmp_path / "math.jsonl"
    write_rows(path, rows)
    code, output = verify(path, "--gold-extraction", "boxed")
    assert code == 0, output
    assert [v["status"] for v in verdicts(path)] == [row[3] for row in rows]
    assert output.splitlines()[:2] == [
        "rows       7",
        (
            r"golds      2 of 7 have no \boxed{} (--gold-extraction boxed), so they are verified as given: "
            "m6, m7"
        ),
    ]


def test_many_unreadable_golds_are_counted_and_the_first_named(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    write_rows(path, GSM8K_ROWS)
    code, output = verify(path, "--gold-extraction", "pattern", "--gold-pattern", r"^Answer:\s*(\S+)")
    assert code == 0, output
    assert output.splitlines()[1] == (
        "golds      22 of 22 have no match of the gold pattern (--gold-extraction pattern), so they are "
        "verified as given: g01, g02, g03, g04, g05 and 17 more"
    )
    assert output.splitlines()[6].startswith("hint       20 of 22 golds could not be read as answers")


@pytest.mark.parametrize(
    "flags, error",
    [
        (
            ["--gold-extraction", "pattern"],
            "--gold-extraction pattern needs --gold-pattern, a regex whose one group is the answer",
        ),
        (
            ["--gold-pattern", "A: (.+)"],
            "--gold-pattern is read only with --gold-extraction pattern, not auto",
        ),
        (
            ["--gold-extraction", "pattern", "--gold-pattern", "(A): (.+)"],
            "--gold-pattern must have one group, the answer; it has 2",
        ),
    ],
)
def test_a_wrong_gold_flag_is_one_line(tmp_path, flags, error):
    path = tmp_path / "gsm8k.jsonl"
    write_rows(path, GSM8K_ROWS[:1])
    code, output = verify(path, *flags)
    assert (code, output) == (1, f"error: {error}\n")


# --- factory run -------------------------------------------------------------------------------------------


def worked(answer: str) -> tuple[str, str]:
    """A draw long enough to count as reasoning, ending in `answer`."""
    return (
        f"We work it out step by step, one operation at a time.\nSo the answer is $\\boxed{{{answer}}}$.",
        "stop",
    )


# Three GSM8K problems and a plain one: draws 0 and 1 right, draw 2 wrong.
RUN_ROWS = [(row_id, gold) for row_id, gold, _, _ in GSM8K_ROWS[:3]] + [("plain", "9")]
RUN_ANSWERS = {"g01": "72", "g02": "80", "g03": "10", "plain": "9"}


def gsm8k_run(tmp_path: Path, **problems: object) -> tuple[RunConfig, ScriptedTeacher]:
    path = tmp_path / "problems.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": row_id, "problem": f"Problem {row_id}?", "answer": gold}) + "\n"
            for row_id, gold in RUN_ROWS
        )
    )
    config = build(
        RunConfig,
        {
            "run_dir": str(tmp_path / "run"),
            "problems": {"paths": [str(path)], **problems},
            "teacher": {"model": TEACHER_MODEL},
            "sampling": {"n": 3},
        },
    )
    teacher = ScriptedTeacher({pid: [worked(a), worked(a), worked("0")] for pid, a in RUN_ANSWERS.items()})
    return config, teacher


def summary_lines(summary) -> list[str]:
    return [line for line in summary.lines() if not line.startswith(("wall time", "shards "))]


def test_a_run_on_gsm8k_solutions_keeps_the_right_traces_and_the_whole_solutions(tmp_path, monkeypatch):
    config, teacher = gsm8k_run(tmp_path)
    (tmp_path / "run.yaml").write_text(json.dumps(dataclasses.asdict(config)))
    monkeypatch.setattr(factory.job, "make_teacher", lambda *args: teacher)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    *printed, wall_time = result.stdout.splitlines()
    assert printed == [
        "problems   4 (4 with at least one kept trace)",
        "samples    12 (12 generated now, 0 problems reused)",
        "correct    8 (pass rate 66.7%)",
        "dropped by verifier      4  wrong_answer 4",
        "kept       8",
        f"shards     {tmp_path / 'run' / 'shards'} (1 file(s))",
    ]
    assert wall_time.startswith("wall time  ")
    train = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "run" / "shards").glob("train-*")))
    assert train.column_names == SCHEMA.names and SCHEMA.names[-1] == "reference_solution"
    rows = {(row["problem_id"], row["sample_index"]): row for row in train.to_pylist()}
    assert sorted(rows) == [(pid, index) for pid in sorted(RUN_ANSWERS) for index in (0, 1)]
    gold = dict(RUN_ROWS)
    for (pid, _), row in rows.items():
        assert row["gold_answer"] == RUN_ANSWERS[pid]
        # The solution where the gold was read from one; null where the gold was the answer already.
        assert row["reference_solution"] == (None if pid == "plain" else gold[pid])


def test_reading_golds_another_way_keeps_the_samples_and_verifies_again(tmp_path):
    config, teacher = gsm8k_run(tmp_path)
    run(config, lambda line: None, start_teacher=lambda: teacher)
    # As they are, the solutions are no answers: every verdict but the plain problem's is unparseable_gold.
    config, teacher = gsm8k_run(tmp_path, gold="as_is")
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    assert teacher.made == 0
    assert summary_lines(summary) == [
        "problems   4 (1 with at least one kept trace)",
        "samples    12 (0 generated now, 4 problems reused)",
        "correct    2 (pass rate 16.7%)",
        (
            "hint       9 of 12 samples' golds could not be read as answers (unparseable_gold); if they are "
            "whole solutions, set problems.gold to how they state their answer: auto, hashes, boxed, "
            "last_number, or pattern with problems.gold_pattern"
        ),
        "dropped by verifier     10  unparseable_gold 9, wrong_answer 1",
        "kept       2",
    ]
    # Read by their #### lines again: the verdicts come back, still without a request.
    config, teacher = gsm8k_run(tmp_path, gold="hashes")
    summary = run(config, lambda line: None, start_teacher=lambda: teacher)
    assert (teacher.made, summary.kept) == (0, 8)
    assert summary_lines(summary)[1] == (
        "golds      1 of 4 have no #### line (problems.gold: hashes), so they are verified as given: plain"
    )


# --- factory eval ------------------------------------------------------------------------------------------


def test_an_eval_reads_solutions_as_a_run_does(tmp_path):
    # test_eval's script on the same problems, each gold a solution closing on its #### line.
    path = tmp_path / "problems.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": f"What is {i}?", "answer": f"It is {i}.\n#### {i}"}) + "\n"
            for i in range(1, 6)
        )
    )

    def config(gold: str, folder: str) -> EvalConfig:
        return build(
            EvalConfig,
            {
                "eval_dir": str(tmp_path / folder),
                "problems": {"paths": [str(path)], "gold": gold},
                "model": {"model": "scripted-student"},
                "sampling": {"n": 4, "temperature": 0.8, "max_tokens": 64},
                "eval": {"k": [1], "bootstrap": 200},
            },
        )

    results = evaluate(config("auto", "auto"), lambda line: None, start_model=ScriptedModel)
    assert results["metrics"]["greedy_accuracy"]["value"] == pytest.approx(
        2 / 5
    )  # as test_eval's plain golds
    results = evaluate(config("as_is", "as_is"), lambda line: None, start_model=ScriptedModel)
    assert lines(results)[1] == (
        "hint       25 of 25 draws' golds could not be read as answers (unparseable_gold); if they are whole "
        "solutions, set problems.gold to how they state their answer: auto, hashes, boxed, last_number, or "
        "pattern with problems.gold_pattern"
    )
