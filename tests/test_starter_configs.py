"""Every config under configs/ loads and validates as the command it is for, and the starter teachers ask
their servers as those servers expect (field names, the key's variable, prices)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from factory.config import EvalConfig, RunConfig, SFTRunConfig, load_config
from factory.prompts import load_template
from factory.records import Problem
from factory.teachers import SampleRequest
from factory.teachers.http import HTTPTeacher

CONFIGS = Path(__file__).parent.parent / "configs"
# Each config, by the command that reads it; a config added to configs/ must be added here.
KINDS = {
    "quickstart.yaml": RunConfig,
    "http.yaml": RunConfig,
    "ray.yaml": RunConfig,
    "sft.yaml": SFTRunConfig,
    "rft/teacher.yaml": RunConfig,
    "rft/sft.yaml": SFTRunConfig,
    "rft/eval.yaml": EvalConfig,
    "teachers/openai.yaml": RunConfig,
    "teachers/deepseek.yaml": RunConfig,
    "teachers/vllm-serve-gpu.yaml": RunConfig,
    "teachers/vllm-gpu.yaml": RunConfig,
}


def test_every_config_is_listed():
    assert sorted(str(path.relative_to(CONFIGS)) for path in CONFIGS.rglob("*.yaml")) == sorted(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_config_validates(name, monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)  # configs name their files from the repository's root
    load_config(KINDS[name], CONFIGS / name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("teachers/openai.yaml", {"max_completion_tokens": 8192, "reasoning_effort": "medium", "n": 4}),
        ("teachers/deepseek.yaml", {"max_tokens": 8192, "n": 2}),
        ("teachers/vllm-serve-gpu.yaml", {"max_tokens": 2048, "return_token_ids": True, "n": 8}),
    ],
)
def test_hosted_starters_send_what_their_servers_take(name, expected, monkeypatch):
    """The request body each starter sends, caught before it leaves (no server is reached)."""
    config = load_config(RunConfig, CONFIGS / name)
    if config.teacher.api_key_env:
        monkeypatch.setenv(config.teacher.api_key_env, "sk-test")
    sent: list[dict] = []

    async def post_json(client, endpoints, payload, *args):
        sent.append(payload)
        raise RuntimeError("not sent")

    monkeypatch.setattr("factory.teachers.http.post_json", post_json)
    teacher = HTTPTeacher(config.teacher, log=lambda line: None)
    problem = Problem("p", "What is 1 + 1?", "2", "t:1")
    request = SampleRequest(problem, tuple(range(config.sampling.n)))
    with pytest.raises(RuntimeError, match="not sent"):
        asyncio.run(
            teacher._ask(None, None, request, request.indices, load_template("boxed_cot"), config.sampling)
        )
    (payload,) = sent
    assert {name: payload.get(name) for name in expected} == expected
    if "max_completion_tokens" in expected:
        assert "max_tokens" not in payload
    assert "sk-test" not in str(payload)
