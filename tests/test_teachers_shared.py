"""What the teachers share: the one mapping from sampling settings to request fields (the recorded dict, the
HTTP payload, vLLM's SamplingParams) and the one `Sample` builder. No engine: the HTTP teacher posts to a
stand-in, the offline teacher enqueues into one."""

from __future__ import annotations

import asyncio
import unittest.mock
import json
from types import SimpleNamespace

import pytest

from factory.config import SamplingConfig, TeacherConfig
from factory.prompts import load_template
from factory.records import Problem, Sample
from factory.teachers import SampleContext, SampleRequest, sampling_fields, sampling_record
from factory.teachers.http import HTTPTeacher, draw_seed

TEMPLATE = load_template("boxed_cot")
PROBLEM = Problem(id="p1", problem="What is 2 + 2?", answer="4", source="t:1")
SEEDED = SamplingConfig(n=3, temperature=0.3, top_p=0.5, max_tokens=77, seed=7, stop=["###"])


@pytest.mark.parametrize(
    "sampling, recorded",
    [
        # the defaults: seed and stop are recorded even when unset
        (
            SamplingConfig(),
            '{"n": 4, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512, "seed": null, "stop": []}',
        ),
        # every setting given
        (
            SEEDED,
            '{"n": 3, "temperature": 0.3, "top_p": 0.5, "max_tokens": 77, "seed": 7, "stop": ["###"]}',
        ),
        # seed 0 is a seed, not unset
        (
            SamplingConfig(n=1, seed=0),
            '{"n": 1, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512, "seed": 0, "stop": []}',
        ),
    ],
)
def test_sampling_record_is_pinned(sampling, recorded):
    # Part of every sample's key: a change of key, value or order regenerates (or reorders) run folders.
    assert json.dumps(sampling_record(sampling)) == recorded


@pytest.mark.parametrize(
    "sampling, n, sent",
    [
        # unset seed and empty stop are not sent
        (SamplingConfig(), 2, {"n": 2, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512}),
        # n is the request's, not the run's
        (SEEDED, 1, {"n": 1, "temperature": 0.3, "top_p": 0.5, "max_tokens": 77, "seed": 7, "stop": ["###"]}),
        # seed 0 is sent
        (
            SamplingConfig(seed=0),
            4,
            {"n": 4, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512, "seed": 0},
        ),
    ],
)
def test_sampling_fields_omit_unset(sampling, n, sent):
    assert sampling_fields(sampling, n, omit_unset=True) == sent
    assert sampling_fields(sampling, n) == {**sampling_record(sampling), "n": n}


def http_payload(endpoint: str, sampling: SamplingConfig, extra_body: dict) -> dict:
    """The body the HTTP teacher posts for a request of two draws."""
    teacher = HTTPTeacher(
        TeacherConfig(
            backend="http",
            base_url="http://127.0.0.1:9/v1",
            model="m",
            endpoint=endpoint,
            extra_body=extra_body,
        ),
        log=print,
    )
    posted = []

    async def post(client, endpoints, payload, retries, key_setting, parse):
        posted.append(payload)
        return parse({"choices": [{"index": i, "text": "x", "finish_reason": "stop"} for i in range(2)]})

    with unittest.mock.patch("factory.teachers.http.post_json", post):
        asyncio.run(teacher._sample(None, None, SampleRequest(PROBLEM, (4, 6)), TEMPLATE, sampling))
    return posted[0]


@pytest.mark.parametrize(
    "endpoint, sampling, extra_body, expected",
    [
        # chat, defaults: no seed, no stop
        (
            "chat",
            SamplingConfig(),
            {},
            {"model": "m", "n": 2, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512, "messages": "chat"},
        ),
        # completions, seed and stop set, extra fields passed through
        (
            "completions",
            SEEDED,
            {"return_token_ids": True},
            {
                "model": "m",
                "n": 2,
                "temperature": 0.3,
                "top_p": 0.5,
                "max_tokens": 77,
                "seed": draw_seed(7, "p1", 4),  # the run's seed, made the request's own (its first draw, 4)
                "stop": ["###"],
                "return_token_ids": True,
                "prompt": "completion",
            },
        ),
    ],
)
def test_http_payload(endpoint, sampling, extra_body, expected):
    prompts = {
        "chat": TEMPLATE.messages(PROBLEM.problem),
        "completion": TEMPLATE.completion_text(PROBLEM.problem),
    }
    expected = {
        name: prompts.get(value, value) if name in ("messages", "prompt") else value
        for name, value in expected.items()
    }
    assert http_payload(endpoint, sampling, extra_body) == expected


def test_vllm_sampling_params():
    pytest.importorskip("vllm")
    from vllm import SamplingParams

    from factory.teachers.vllm_offline import VLLMEngine, Window

    engine = VLLMEngine.__new__(VLLMEngine)  # no engine: `add` only enqueues
    engine._ids = {}
    enqueued = []
    engine._llm = SimpleNamespace(
        enqueue_chat=lambda conversations, params, use_tqdm: enqueued.extend(params) or ["a-x", "b-y"]
    )
    requests = [SampleRequest(PROBLEM, (0, 1, 2)), SampleRequest(PROBLEM, (5,))]
    engine.add(Window("vllm", "m", TEMPLATE, SEEDED).put(requests))
    assert engine._ids == {"a": "0", "b": "1"}  # vLLM's ids without their suffix, to the window's
    # the seed is the engine's, not the request's (the CPU build refuses per-request seeds)
    expected = [SamplingParams(n=n, temperature=0.3, top_p=0.5, max_tokens=77, stop=["###"]) for n in (3, 1)]
    assert [repr(p) for p in enqueued] == [repr(p) for p in expected]


def test_sample_context_builds_every_field():
    asked = SampleContext(
        "p1",
        TEMPLATE.messages(PROBLEM.problem),
        template=TEMPLATE,
        backend="http",
        model="m",
        sampling=sampling_record(SEEDED),
        prompt_text="raw prompt",
    )
    sample = asked.sample(
        5,
        text="t",
        reasoning="r",
        finish_reason="length",
        prompt_tokens=9,
        completion_tokens=3,
        latency_s=0.5,
    )
    assert sample == Sample(
        problem_id="p1",
        sample_index=5,
        messages=TEMPLATE.messages(PROBLEM.problem),
        prompt_text="raw prompt",
        prompt_template=TEMPLATE.name,
        prompt_hash=TEMPLATE.hash,
        text="t",
        reasoning="r",
        finish_reason="length",
        prompt_tokens=9,
        completion_tokens=3,
        teacher_backend="http",
        teacher_model="m",
        sampling=sampling_record(SEEDED),
        latency_s=0.5,
    )
