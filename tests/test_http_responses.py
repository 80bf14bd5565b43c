"""How the HTTP teacher reads response bodies and headers that a local SmolLM2 server never sends:
separated reasoning (DeepSeek's API, vLLM with a reasoning parser) and Retry-After as an HTTP date."""

from __future__ import annotations

import email.utils
import time

import pytest

from vllm_server import free_port

from factory.config import SamplingConfig, TeacherConfig
from factory.errors import FactoryError
from factory.http_client import PostFailed, _retry_after_s
from factory.prompts import load_template
from factory.records import Problem
from factory.teachers import FixedRequests, SampleRequest
from factory.teachers.http import HTTPTeacher

TEMPLATE = load_template("boxed_cot")
PROBLEM = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")


def parse(body, n):
    teacher = HTTPTeacher(
        TeacherConfig(backend="http", base_url="http://127.0.0.1:9/v1", model="m"), log=print
    )
    sampling = SamplingConfig(n=n)
    request = SampleRequest(PROBLEM, tuple(range(n)))
    return teacher._samples(request, TEMPLATE, sampling, TEMPLATE.messages(PROBLEM.problem), None, body, 0.5)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])  # vLLM 0.32 / older vLLM and DeepSeek
def test_separated_reasoning_is_kept(field):
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"content": r"\boxed{4}", field: "2 and 2 make 4."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12},
    }
    (sample,) = parse(body, n=1)
    assert (sample.text, sample.reasoning) == (r"\boxed{4}", "2 and 2 make 4.")
    assert (sample.prompt_tokens, sample.completion_tokens) == (30, 12)


def test_token_counts_per_choice_when_n_above_one():
    body = {
        "choices": [
            {"index": 1, "message": {"content": "b"}, "finish_reason": "length", "token_ids": [5, 6, 7]},
            {"index": 0, "message": {"content": "a"}, "finish_reason": "stop", "token_ids": [5]},
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 4},
    }
    samples = parse(body, n=2)
    assert [(s.sample_index, s.text, s.completion_tokens, s.finish_reason) for s in samples] == [
        (0, "a", 1, "stop"),
        (1, "b", 3, "length"),
    ]
    assert not any(s.completion_tokens_estimated for s in samples)


def test_usage_per_request_is_shared_out_by_length_and_marked_estimated():
    """Hosted APIs count a request's tokens, not each choice's: the total is shared by the texts' lengths."""
    body = {
        "choices": [
            {"index": 0, "message": {"content": "a" * 10}, "finish_reason": "stop"},
            {"index": 1, "message": {"content": "b" * 30}, "finish_reason": "stop"},
            {"index": 2, "message": {"content": "c" * 60}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 41},
    }
    samples = parse(body, n=3)
    assert [s.completion_tokens for s in samples] == [4, 12, 25]  # 41 in all, as the server counted
    assert all(s.completion_tokens_estimated for s in samples)
    (alone,) = parse({"choices": body["choices"][:1], "usage": body["usage"]}, n=1)
    assert (alone.completion_tokens, alone.completion_tokens_estimated) == (41, False)  # exact
    del body["usage"]
    assert [s.completion_tokens for s in parse(body, n=3)] == [None, None, None]  # nothing to share


def test_fewer_choices_than_asked_are_the_first_draws():
    body = {"choices": [{"index": 0, "message": {"content": "a"}, "finish_reason": "stop"}], "usage": {}}
    (sample,) = parse(body, n=2)  # the teacher asks for the second draw again, alone
    assert sample.sample_index == 0
    body["choices"] *= 3
    with pytest.raises(ValueError, match="asked for n=2 choices, got 3"):  # a bad body: tried again
        parse(body, n=2)


@pytest.mark.parametrize(
    "body",
    [None, [], {"choices": [None]}, {"choices": [{"message": "x"}]}, {"choices": []}, {"choices": "oops"}],
)
def test_a_body_of_another_shape_raises_what_post_json_retries(body):
    with pytest.raises(Exception) as raised:  # noqa: PT011 - any exception but PostFailed is retried
        parse(body, n=1)
    assert not isinstance(raised.value, PostFailed)


def test_servers_down_for_as_many_requests_as_fit_in_flight_stop_the_teacher():
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    config = TeacherConfig(backend="http", base_url=closed, model="m", max_concurrency=2, max_retries=0)
    teacher = HTTPTeacher(config, log=lambda message: None)
    problems = [
        Problem(id=f"p{i}", problem=f"What is {i} + 1?", answer=str(i + 1), source="t") for i in range(20)
    ]
    source = FixedRequests(SampleRequest(problem, (0,)) for problem in problems)
    with pytest.raises(FactoryError, match=r"the last 2 requests failed against .*connection failed"):
        list(teacher.stream(source, TEMPLATE, SamplingConfig(n=1)))
    assert teacher.faults["connection"] >= 2 and len(source.failures) < 20  # stopped, not run through


def test_retry_after_seconds_and_http_date():
    assert _retry_after_s("3") == 3.0
    assert _retry_after_s(None) is None and _retry_after_s("soon") is None
    assert _retry_after_s("-5") == 0.0
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= _retry_after_s(in_ten) <= 10.0
    assert _retry_after_s("99999") == 600.0  # capped
