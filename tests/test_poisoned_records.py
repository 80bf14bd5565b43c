"""One wrong-typed field in a 200 answer must not poison a run folder (issue 22, found by outside probes
against a scripted server). Before, only `content` was checked: an object as `reasoning_content`, a number
as `finish_reason`, a token count as text or past 2^63 were journaled, the shards then failed
(`ArrowTypeError`, `OverflowError`), and every re-run failed again on the sample on disk, since a sample on
disk is never asked again.

Now a `Sample` checks its values wherever it is made, from an answer or from a journal line: a bad answer
is a body of the wrong shape, retried and counted as `bad_shape`; a bad line already on disk is set aside
with one line on the terminal and drawn again. A scripted OpenAI-compatible server stands in for the
teacher: no real server can be made to answer wrongly on demand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from local_server import ScriptedAPI, closing_all
from test_http_responses import parse

from factory.cli import main
from factory.http_client import PostFailed
from factory.records import FieldError, Sample

TRACE = (
    "We add the two numbers. Two plus two is four, since counting up two from two gives three, then four. "
    r"So the answer is \boxed{4}."
)
PROBLEMS = [
    {"id": "a", "problem": "What is 2 + 2?", "answer": "4"},
    {"id": "b", "problem": "What is 1 + 3?", "answer": "4"},
]
USAGE = {"prompt_tokens": 30, "completion_tokens": 40, "total_tokens": 70}

Edit = Callable[[dict[str, Any]], None]


def good_answer(n: int) -> dict[str, Any]:
    choices = [
        {"index": i, "message": {"role": "assistant", "content": TRACE}, "finish_reason": "stop"}
        for i in range(n)
    ]
    return {"object": "chat.completion", "model": "teacher", "choices": choices, "usage": dict(USAGE)}


def setting(place: str, name: str, value: Any) -> Edit:
    """An edit of an answer that sets `name` in its first choice's message, its first choice, or its usage."""

    def edit(body: dict[str, Any]) -> None:
        choice = body["choices"][0]
        {"message": choice["message"], "choice": choice, "usage": body["usage"]}[place][name] = value

    return edit


# What the probes sent, each accepted before and fatal on every later run, and why it is refused now.
BAD_ANSWERS = [
    (setting("message", "reasoning_content", {"text": "2 and 2"}), "reasoning must be a string or null"),
    (setting("message", "reasoning_content", 42), "reasoning must be a string or null, got 42"),
    (setting("message", "reasoning", []), "reasoning must be a string or null, got []"),  # falsy, not absent
    (setting("choice", "finish_reason", 1), "finish_reason must be a string or null, got 1"),
    (setting("choice", "finish_reason", ["stop"]), "finish_reason must be a string or null, got ['stop']"),
    (setting("usage", "completion_tokens", "40"), "completion_tokens must be an integer from 0 to 2^53 - 1"),
    (setting("usage", "prompt_tokens", "30"), "prompt_tokens must be an integer from 0 to 2^53 - 1"),
    (setting("usage", "prompt_tokens", 2**64 + 1), "got 18446744073709551617"),  # past int64: OverflowError
    (setting("usage", "prompt_tokens", -3), "prompt_tokens must be an integer from 0 to 2^53 - 1 or null"),
    (setting("usage", "completion_tokens", 12.5), "got 12.5"),  # passed silently before
    (setting("usage", "completion_tokens", True), "got True"),  # a bool is an int to Python
    (setting("message", "content", 7), "text must be a string, got 7"),
    (setting("message", "content", {"text": TRACE}), "text must be a string, got {'text':"),
    (setting("message", "content", 0), "text must be a string, got 0"),  # falsy: was read as ""
    (setting("choice", "index", "0"), "a choice's index is '0', not an integer"),
    (setting("choice", "token_ids", "1 2 3"), "choice 0 has token_ids of type str"),
    (lambda body: body.update(usage=[30, 40]), "usage is a JSON list, not an object"),
]
IDS = [
    "reasoning_content_object",
    "reasoning_content_number",
    "reasoning_empty_list",
    "finish_reason_number",
    "finish_reason_list",
    "completion_tokens_text",
    "prompt_tokens_text",
    "prompt_tokens_past_2_63",
    "prompt_tokens_negative",
    "completion_tokens_fractional",
    "completion_tokens_bool",
    "content_number",
    "content_object",
    "content_zero",
    "index_text",
    "token_ids_text",
    "usage_list",
]


class TeacherStub(ScriptedAPI):
    """An OpenAI-compatible chat endpoint answering every request well, but the first `bad` ones, which
    `edit` spoils."""

    def __init__(self, edit: Edit | None = None, bad: int = 1) -> None:
        self._edit, self._bad = edit, bad
        super().__init__()

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = good_answer(payload.get("n", 1))
        if self._edit is not None and len(self.payloads) <= self._bad:
            self._edit(body)
        return body


@pytest.fixture
def teacher_factory():
    with closing_all() as start:
        yield lambda edit=None: start(TeacherStub, edit)


def write_config(tmp_path: Path, base_url: str) -> Path:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(problem) + "\n" for problem in PROBLEMS))
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {tmp_path / 'run'}\n"
        f"problems: {{paths: [{problems}]}}\n"
        f"teacher: {{backend: http, base_url: {base_url}, model: teacher, max_concurrency: 1}}\n"
        "sampling: {n: 1}\n"
    )
    return config


def factory_run(config: Path):
    result = CliRunner().invoke(main, ["run", str(config)], catch_exceptions=False)
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    return result


def samples_on_disk(run_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for part in sorted((run_dir / "samples").glob("part-*.jsonl"))
        for line in part.read_text().splitlines()
    ]


def assert_only_good_samples(run_dir: Path) -> None:
    rows = samples_on_disk(run_dir)
    assert sorted(row["problem_id"] for row in rows) == ["a", "b"]
    for row in rows:
        sample = Sample.from_dict(row)  # every value checked
        assert (sample.text, sample.reasoning, sample.finish_reason) == (TRACE, None, "stop")
        assert (sample.prompt_tokens, sample.completion_tokens) == (30, 40)


@pytest.mark.parametrize("edit, reason", BAD_ANSWERS, ids=IDS)
def test_a_bad_value_in_an_answer_is_refused_with_its_reason(edit, reason):
    body = good_answer(1)
    edit(body)
    with pytest.raises((FieldError, TypeError)) as refused:
        parse(body, n=1)
    assert reason in str(refused.value)
    assert not isinstance(refused.value, PostFailed)  # a body of the wrong shape: `post_json` tries again


@pytest.mark.parametrize("edit, reason", BAD_ANSWERS, ids=IDS)
def test_a_bad_answer_is_retried_as_bad_shape_and_never_journaled(
    tmp_path, teacher_factory, edit, reason, reliability_tally
):
    teacher = teacher_factory(edit)
    config = write_config(tmp_path, teacher.base_url)
    factory_run(config)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["faults"] == {"bad_shape": 1}
    assert (summary["samples"], summary["kept"]) == (2, 2)
    assert len(teacher.payloads) == 3  # two problems, one asked twice
    assert_only_good_samples(tmp_path / "run")
    assert not (tmp_path / "run" / "samples" / "quarantine.jsonl").exists()
    # Poisoned: the folder's next run fails (the bad answer on disk, never asked again).
    rerun = CliRunner().invoke(main, ["run", str(config)])
    reliability_tally("folders poisoned by one bad answer", int(rerun.exit_code != 0), 1)
    assert rerun.exit_code == 0, rerun.output


def test_a_folder_holding_a_bad_sample_sets_it_aside_once_and_draws_it_again(
    tmp_path, teacher_factory, reliability_tally
):
    teacher = teacher_factory()
    config = write_config(tmp_path, teacher.base_url)
    factory_run(config)
    run_dir = tmp_path / "run"
    part = run_dir / "samples" / "part-00000.jsonl"
    rows = samples_on_disk(run_dir)
    # As factories before this check journaled it (verified, curated and packaged from): then every run died.
    rows[0]["reasoning"] = {"text": "2 and 2"}
    part.write_text("".join(json.dumps(row) + "\n" for row in rows))
    asked = len(teacher.payloads)

    result = CliRunner().invoke(main, ["run", str(config)])
    reliability_tally("folders poisoned by one bad answer", int(result.exit_code != 0), 1)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    quarantine = run_dir / "samples" / "quarantine.jsonl"
    said = [line for line in result.stderr.splitlines() if "set aside" in line]
    assert said == [
        (
            "set aside 1 sample line with a value no sample may hold (part-00000.jsonl:1: reasoning must be "
            f"a string or null, got {{'text': '2 and 2'}}) in {quarantine}; its draw is made again"
        )
    ]
    (again,) = teacher.payloads[asked:]  # that draw, and no other
    bad_problem = next(problem for problem in PROBLEMS if problem["id"] == rows[0]["problem_id"])
    assert bad_problem["problem"] in again["messages"][-1]["content"]
    (moved,) = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert moved == {
        "where": f"{part}:1",
        "reason": "reasoning must be a string or null, got {'text': '2 and 2'}",
        "row": rows[0],
    }
    assert_only_good_samples(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["generated_now"], summary["samples"], summary["kept"]) == (1, 2, 2)

    result = factory_run(config)  # quiet: nothing left to set aside, nothing to draw
    assert "set aside" not in result.output
    assert len(teacher.payloads) == asked + 1
    assert len(quarantine.read_text().splitlines()) == 1
