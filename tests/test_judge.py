"""The model judge (`reject.judge`): what goes to it, how its replies are read and recorded, that it never
overrides a rule verdict, what an outage leaves behind, and that a re-run asks it nothing.

A real judge cannot be made to answer YES, NO or fail on demand, so a scripted OpenAI-compatible stub
stands in for its server here; `tests/test_engine_http.py` runs the same plumbing against a real
`vllm serve`. Runs use a scripted teacher: the judge, not generation, is under test.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from local_server import LocalServer, QuietHandler
from scripted_teacher import ScriptedTeacher, make_sample, run_config

from factory.config import JudgeConfig, RejectConfig, RunConfig, build, load_config
from factory.errors import FactoryError
from factory.judge import ModelJudge, clip_response, parse_reply
from factory.ledger import read_records
from factory.prompts import JUDGE, load_template
from factory.records import Problem
from factory.reject import verdicts_for
from factory.job import reject_identity, run

JUDGE_HASH = load_template("same_answer", JUDGE).hash
REPLIES = {
    "[yes]": "The response's final answer is the reference answer.\nVERDICT: YES",
    "[no]": "The response ends with another value.\nVERDICT: NO",
}
UNCLEAR_REPLY = "Hard to say which answer it means."


class JudgeStub(LocalServer):
    """An OpenAI-compatible chat endpoint that answers as scripted by a marker in the prompt it gets: `[yes]`
    and `[no]` a clear verdict, `[refuse]` a 400, anything else a reply without a verdict. With `status`,
    every request gets that status instead (an outage)."""

    def __init__(self, status: int | None = None) -> None:
        self.status = status
        self.prompts: list[str] = []  # the user message of each request
        self.payloads: list[dict] = []
        self.auth: list[str | None] = []
        stub, lock = self, threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                prompt = payload["messages"][-1]["content"]
                with lock:
                    stub.payloads.append(payload)
                    stub.prompts.append(prompt)
                    stub.auth.append(self.headers.get("authorization"))
                if stub.status is not None:
                    self._send(stub.status, {"error": {"message": "injected outage"}})
                elif "[refuse]" in prompt:
                    self._send(400, {"error": {"message": "prompt too long"}})
                else:
                    reply = next((text for mark, text in REPLIES.items() if mark in prompt), UNCLEAR_REPLY)
                    choice = {"index": 0, "message": {"role": "assistant", "content": reply}}
                    self._send(200, {"choices": [choice | {"finish_reason": "stop"}]})

            def _send(self, status, body):
                self.reply(status, json.dumps(body).encode())

        super().__init__(Handler)


@pytest.fixture
def stub():
    server = JudgeStub()
    yield server
    server.close()


def judge_config(base_url: str, **overrides) -> JudgeConfig:
    return build(JudgeConfig, {"base_url": base_url, "model": "judge-model", "max_retries": 1} | overrides)


SEVEN = Problem(id="seven", problem="What is 3 + 4?", answer="7", source="t:1")
HALF = Problem(id="half", problem="What is half of 1?", answer="1/2", source="t:2")
PROBLEMS = {problem.id: problem for problem in (SEVEN, HALF)}
# (problem, text, finish_reason): what the rules make of each, and what the stub would answer.
SCRIPT = {
    SEVEN.id: [
        (r"3 + 4 = 7, so \boxed{7}. [no]", "stop"),  # correct by the rules: never sent, stays correct
        (r"So \boxed{8}. [yes]", "stop"),  # incorrect by the rules: never sent, stays incorrect
        ("Let me think.\nIt should be seven. [yes]", "stop"),  # no_answer → judged the same: kept
    ],
    HALF.id: [
        ("We halve it.\nI get a third. [no]", "stop"),  # no_answer → judged different
        ("Halving.\nNo idea at all. [mumble]", "stop"),  # no_answer → the reply has no verdict: unclear
        ("Halving.\nIt takes a while [yes]", "length"),  # truncated: never finished its reasoning, not sent
    ],
}
SAMPLES = [
    make_sample(PROBLEMS[pid], index, text, finish)
    for pid, script in SCRIPT.items()
    for index, (text, finish) in enumerate(script)
]
SENT = [SAMPLES[2].text, SAMPLES[3].text, SAMPLES[4].text]


def sent_texts(stub: JudgeStub) -> list[str]:
    return sorted(sample.text for sample in SAMPLES if any(sample.text in prompt for prompt in stub.prompts))


# --- replies and prompts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("They match.\nVERDICT: YES", True),  # the format the prompt asks for
        ("VERDICT: NO", False),  # a verdict alone
        ("Same value.\n  VERDICT: YES  \n\n", True),  # spaces and blank lines around it
        ("VERDICT: YES\nOn second thought, they differ.", None),  # not on the last line
        ("VERDICT: NO\nVERDICT: YES", None),  # two verdicts
        ("At first VERDICT: NO, but\nVERDICT: YES", None),  # "VERDICT:" said twice
        ("Verdict: yes", None),  # another spelling
        ("**VERDICT: YES**", None),  # markdown around it
        ("VERDICT: MAYBE", None),  # neither
        ("They match. YES", None),  # no verdict line
        ("", None),  # an empty reply
    ],
)
def test_replies_are_read_strictly(reply, expected):
    assert parse_reply(reply) is expected


def test_a_long_response_keeps_its_beginning_and_most_of_its_end():
    assert clip_response("short", 200) == "short"
    text = "a" * 5000 + r"\boxed{7}"
    clipped = clip_response(text, 1000)
    assert clipped.startswith("a" * 250) and clipped.endswith("a" * 741 + r"\boxed{7}")
    assert "[… 4009 characters left out …]" in clipped and len(clipped) < 1050


def test_the_judge_prompt_holds_problem_gold_and_response_filled_once():
    template = load_template("same_answer", JUDGE)
    system, user = template.messages("What is {gold}?", gold="7", response="I say {problem} [yes]")
    assert "VERDICT: YES" in system["content"] and "VERDICT: NO" in system["content"]
    assert "What is {gold}?" in user["content"]  # braces in a value stay as written
    assert "I say {problem} [yes]" in user["content"] and "\n7\n" in user["content"]


def test_a_judge_template_must_take_gold_and_response(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("user: 'Q: {problem} A: {response}'\n")
    with pytest.raises(FactoryError, match=r"must contain the placeholder \{gold\}"):
        load_template(str(path), JUDGE)
    with pytest.raises(
        FactoryError, match=r"reject.judge.template: .* available in prompts/judge/: same_answer"
    ):
        load_template("nonexistent", JUDGE)


def test_the_judge_is_off_by_default_and_a_key_in_place_of_its_name_is_not_echoed(tmp_path):
    assert RejectConfig().judge is None
    config = tmp_path / "run.yaml"
    config.write_text(
        "problems: {paths: [a.jsonl]}\n"
        "reject:\n  judge: {base_url: 'http://127.0.0.1:8000/v1', model: m, api_key_env: sk-live-abc123}\n"
    )
    with pytest.raises(FactoryError) as error:
        load_config(RunConfig, config)
    assert f"{config}:3: reject.judge.api_key_env must be the NAME of an environment variable" in str(
        error.value
    )
    assert "sk-live-abc123" not in str(error.value)


def test_what_decides_judge_verdicts_is_its_model_and_prompt_not_its_server():
    reject = RejectConfig(judge=judge_config("http://a:8000/v1"))
    moved = RejectConfig(judge=judge_config("http://b:8000/v1", max_concurrency=2, api_key_env="KEY"))
    assert reject_identity(reject, "h1") == reject_identity(moved, "h1")
    assert reject_identity(reject, "h1") != reject_identity(reject, "h2")  # the template was edited
    other = RejectConfig(judge=judge_config("http://a:8000/v1", model="bigger-judge"))
    assert reject_identity(reject, "h1") != reject_identity(other, "h1")


# --- the reject stage with a judge ----------------------------------------------------------------------


def test_only_what_the_rules_cannot_tell_goes_to_the_judge_and_is_recorded(stub):
    log: list[str] = []
    judge = ModelJudge(judge_config(stub.base_url), log.append)
    rules = list(verdicts_for(SAMPLES, PROBLEMS, RejectConfig()))
    verdicts = list(verdicts_for(SAMPLES, PROBLEMS, RejectConfig(), judge))

    assert sent_texts(stub) == sorted(SENT) and len(stub.prompts) == 3  # each cannot_tell once, no other
    payload = stub.payloads[0]
    assert (payload["model"], payload["temperature"], payload["max_tokens"]) == ("judge-model", 0.0, 512)
    assert any("What is 3 + 4?" in prompt and "\n7\n" in prompt for prompt in stub.prompts)
    assert [(v.status, v.reason, v.correct) for v in verdicts] == [
        ("correct", "exact_match", True),
        ("incorrect", "wrong_answer", False),
        ("correct", "judge_same", True),
        ("incorrect", "judge_different", False),
        ("cannot_tell", "judge_unclear", False),
        ("cannot_tell", "no_answer", False),
    ]
    for at in (0, 1, 5):  # never sent, never changed
        assert verdicts[at] == rules[at] and verdicts[at].judge_reply is None
    for at, reply in ((2, REPLIES["[yes]"]), (3, REPLIES["[no]"]), (4, UNCLEAR_REPLY)):
        judged = verdicts[at]
        assert (judged.verifier, judged.judge_prompt_hash, judged.judge_reply) == (
            "judge:judge-model",
            JUDGE_HASH,
            reply,
        )
        assert judged.rule_reason == "no_answer" and rules[at].reason == "no_answer"
        assert (judged.extracted, judged.gold, judged.sample_key) == (
            rules[at].extracted,
            rules[at].gold,
            rules[at].sample_key,
        )
    assert log == []


def test_a_judge_that_is_down_leaves_judge_error_and_is_not_asked_again_this_run():
    down = JudgeStub(status=503)
    log: list[str] = []
    try:
        # One request at a time, so none is still on its way to the stub when the judge gives up.
        judge = ModelJudge(judge_config(down.base_url, max_concurrency=1), log.append)
        verdicts = list(verdicts_for(SAMPLES, PROBLEMS, RejectConfig(), judge))
        asked = len(down.prompts)
        again = list(verdicts_for(SAMPLES, PROBLEMS, RejectConfig(), judge))
    finally:
        down.close()
    assert asked >= 2 and len(down.prompts) == asked  # retried, then given up for the rest of the run
    assert again == verdicts
    assert [(v.status, v.reason, v.correct, v.rule_reason) for v in verdicts[2:5]] == [
        ("cannot_tell", "judge_error", False, "no_answer")
    ] * 3
    assert all(v.judge_reply is None and v.verifier == "judge:judge-model" for v in verdicts[2:5])
    assert [v.reason for v in verdicts[:2]] == ["exact_match", "wrong_answer"]  # the rules' stand
    (line,) = log
    assert "judge:judge-model: gave up after 2 attempts; last: HTTP 503: injected outage" in line
    assert "not asked again in this run" in line


def test_a_refused_request_fails_only_its_sample(stub):
    log: list[str] = []
    judge = ModelJudge(judge_config(stub.base_url), log.append)
    refused = make_sample(SEVEN, 3, "Hmm.\nA very long answer [refuse]")
    verdicts = list(verdicts_for([refused, *SAMPLES], PROBLEMS, RejectConfig(), judge))
    assert [(v.reason, v.judge_reply) for v in verdicts[:4]] == [
        ("judge_error", None),
        ("exact_match", None),
        ("wrong_answer", None),
        ("judge_same", REPLIES["[yes]"]),  # the judge is still asked about the others
    ]
    (line,) = log
    assert "a request was refused (HTTP 400 from" in line and "prompt too long" in line


def test_a_missing_key_variable_stops_before_anything_runs(monkeypatch):
    monkeypatch.delenv("FACTORY_TEST_NO_JUDGE_KEY", raising=False)
    with pytest.raises(FactoryError, match="reject.judge.api_key_env: the environment variable"):
        ModelJudge(judge_config("http://127.0.0.1:9/v1", api_key_env="FACTORY_TEST_NO_JUDGE_KEY"), print)


# --- whole runs -----------------------------------------------------------------------------------------


def judge_run_config(tmp_path: Path, judge_url: str) -> RunConfig:
    judge = {
        "base_url": judge_url,
        "model": "judge-model",
        "api_key_env": "FACTORY_TEST_JUDGE_KEY",
        "max_retries": 1,
    }
    # Only the truncation filter: these one-line traces are what the other trace filters are there to drop.
    return run_config(tmp_path, PROBLEMS.values(), {"judge": judge}, curate={"filters": ["truncated"]})


def shard_rows(run_dir: Path) -> list[dict]:
    return [row for path in (run_dir / "shards").glob("*.parquet") for row in pq.read_table(path).to_pylist()]


def run_once(config: RunConfig, log: list[str] | None = None):
    teacher = ScriptedTeacher(SCRIPT)
    summary = run(config, (log if log is not None else []).append, start_teacher=lambda: teacher)
    return summary, teacher.made


def test_a_run_counts_judge_verdicts_apart_ships_what_it_keeps_and_a_rerun_asks_nothing(
    stub, tmp_path, monkeypatch
):
    secret = "sk-judge-" + "5" * 24
    monkeypatch.setenv("FACTORY_TEST_JUDGE_KEY", secret)
    config = judge_run_config(tmp_path, stub.base_url)
    run_dir = Path(config.run_dir)

    summary, made = run_once(config)
    assert made == 6 and sent_texts(stub) == sorted(SENT) and len(stub.prompts) == 3
    assert set(stub.auth) == {f"Bearer {secret}"}
    assert summary.judged == {"samples": 3, "correct": 1, "incorrect": 1, "unclear": 1, "failed": 0}
    assert "judged     by model (judge:judge-model): 3 (correct 1, incorrect 1, unclear 1, failed 0)" in (
        summary.lines()
    )
    assert summary.kept == 2 and summary.dropped == {
        "verifier": {"judge_different": 1, "judge_unclear": 1, "no_answer": 1, "wrong_answer": 1}
    }
    stats = json.loads((run_dir / "summary.json").read_text())
    assert stats["judged"] == summary.judged and stats["judge"] == "judge:judge-model"
    shipped = {row["verdict_reason"]: row for row in shard_rows(run_dir)}
    assert sorted(shipped) == ["exact_match", "judge_same"]
    assert shipped["judge_same"]["verifier"] == "judge:judge-model"
    for path in run_dir.rglob("*"):  # the key reached the judge, and no file of the run holds it
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path

    verdict_rows = len(list(read_records(run_dir / "verdicts")))
    summary, made = run_once(config)
    assert made == 0 and len(stub.prompts) == 3  # every verdict is reused: the judge is asked nothing
    assert len(list(read_records(run_dir / "verdicts"))) == verdict_rows
    assert summary.judged["samples"] == 3 and summary.kept == 2

    moved = JudgeStub()  # the same judge model on another server keeps its verdicts
    try:
        summary, made = run_once(judge_run_config(tmp_path, moved.base_url))
    finally:
        moved.close()
    assert (made, len(moved.prompts), summary.kept) == (0, 0, 2)


def test_after_an_outage_a_rerun_judges_only_what_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_TEST_JUDGE_KEY", "k")
    down = JudgeStub(status=503)
    log: list[str] = []
    try:
        summary, made = run_once(judge_run_config(tmp_path, down.base_url), log)
    finally:
        down.close()
    assert made == 6 and summary.judged["failed"] == 3 and summary.kept == 1  # the run finished
    assert summary.dropped["verifier"]["judge_error"] == 3
    assert sum("not asked again in this run" in line for line in log) == 1

    back = JudgeStub()
    try:
        summary, made = run_once(judge_run_config(tmp_path, back.base_url))
    finally:
        back.close()
    assert made == 0 and sent_texts(back) == sorted(SENT)
    assert len(back.prompts) == 3  # only the samples the judge had failed on
    assert summary.judged == {"samples": 3, "correct": 1, "incorrect": 1, "unclear": 1, "failed": 0}
    verdicts = list(read_records(tmp_path / "run" / "verdicts"))
    assert len(verdicts) == 6 and len({v["sample_key"] for v in verdicts}) == 6  # one verdict per sample
    assert sorted(row["verdict_reason"] for row in shard_rows(tmp_path / "run")) == [
        "exact_match",
        "judge_same",
    ]
