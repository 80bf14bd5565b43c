"""Hosted OpenAI-compatible APIs as they answer, which a local `vllm serve` does not show: one that ignores
`n` (one choice per request), one that counts usage per request rather than per choice, and one seeded so
that the same request gets the same completion. A scripted server stands in for each."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from local_server import ScriptedAPI, closing_all

from factory.cli import main
from factory.ledger import read_records

PROBLEMS = [{"id": f"q{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(4)]


class HostedStub(ScriptedAPI):
    """A chat endpoint answering as a hosted API does. `most_choices`: the choices it returns whatever `n`
    asks (None: all). Seeded: a request's completions depend only on its body, so the same request gets the
    same text (as a seeded server's does); each completion's text ends in the right answer, boxed.
    `usage` counts the request's tokens (words), not each choice's."""

    def __init__(self, most_choices: int | None = None) -> None:
        self._most_choices = most_choices
        super().__init__()

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        n = payload.get("n", 1)
        asked = payload["messages"][-1]["content"]
        a = int(asked.split("What is ")[1].split(" +")[0])
        choices = []
        for index in range(n if self._most_choices is None else min(n, self._most_choices)):
            draw = hashlib.sha256(json.dumps([payload.get("seed"), asked, index]).encode()).hexdigest()[:12]
            text = f"Draw {draw}: {a} plus {a} makes {2 * a}, " * (1 + index) + rf"so \boxed{{{2 * a}}}."
            choices.append(
                {"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            )
        words = sum(len(choice["message"]["content"].split()) for choice in choices)
        return {"choices": choices, "usage": {"prompt_tokens": 20, "completion_tokens": words}}


@pytest.fixture
def hosted():
    with closing_all() as start:
        yield lambda most_choices=None: start(HostedStub, most_choices)


def write_config(tmp_path: Path, base_url: str, n: int, seed: int | None = 7) -> Path:
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(problem) + "\n" for problem in PROBLEMS))
    config = tmp_path / "run.yaml"
    config.write_text(
        f"run_dir: {tmp_path / 'run'}\n"
        f"problems: {{paths: [{problems}]}}\n"
        f"teacher: {{backend: http, base_url: {base_url}, model: teacher, max_concurrency: 2}}\n"
        f"sampling: {{n: {n}, seed: {'null' if seed is None else seed}}}\n"
        "curate: {filters: [truncated]}\n"
    )
    return config


def factory_run(config: Path, *overrides: str):
    args = ["run", str(config), *(item for override in overrides for item in ("--set", override))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def samples(run_dir: Path) -> list[dict[str, Any]]:
    return list(read_records(run_dir / "samples"))


def test_a_server_that_ignores_n_is_asked_one_draw_per_request(tmp_path, hosted):
    server = hosted(most_choices=1)
    result = factory_run(write_config(tmp_path, server.base_url, n=4))
    lines = [line for line in result.stderr.splitlines() if "n_capped" in line]
    assert lines == [
        "http: the server returned 1 of n=4 choices; the draws are asked for 1 per request from now on "
        "(counted as n_capped)"
    ]
    run_dir = tmp_path / "run"
    drawn = samples(run_dir)
    assert len(drawn) == 16 and len({(s["problem_id"], s["sample_index"]) for s in drawn}) == 16
    assert len({s["text"] for s in drawn}) == 16  # every draw its own: each request has its own seed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["samples"], summary["kept"], summary["failed_problems"]) == (16, 16, 0)
    assert summary["faults"]["n_capped"] == 1
    # At most the first request of each problem asked for 4; every later one for 1.
    assert sorted(payload["n"] for payload in server.payloads).count(4) <= 2


def test_usage_per_request_gives_every_draw_a_token_count(tmp_path, hosted):
    server = hosted()
    result = factory_run(write_config(tmp_path, server.base_url, n=3))
    drawn = samples(tmp_path / "run")
    assert all(s["completion_tokens"] and s["completion_tokens_estimated"] for s in drawn)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["completion_tokens_now"] == sum(s["completion_tokens"] for s in drawn) > 0
    assert " | 0 tok/s | " not in result.output


def test_a_seeded_server_gives_every_draw_its_own_completion(tmp_path, hosted):
    """Adaptive rounds and a raised n ask a problem again: not with the request already sent."""
    server = hosted()
    config = write_config(tmp_path, server.base_url, n=2)
    factory_run(config)
    factory_run(config, "sampling.n=4")  # two more draws of each problem
    drawn = samples(tmp_path / "run")
    assert len(drawn) == 16
    assert len({s["text"] for s in drawn}) == 16  # before: one seed for all, 8 distinct texts
    seeds = [payload["seed"] for payload in server.payloads]
    assert len(set(seeds)) == len(seeds)


def test_a_priced_teacher_reports_its_cost_per_kept_trace(tmp_path, hosted):
    server = hosted()
    config = write_config(tmp_path, server.base_url, n=2)
    config.write_text(
        config.read_text().replace(
            "max_concurrency: 2}",
            "max_concurrency: 2, max_tokens_field: max_completion_tokens,"
            " price: {input_per_million: 1.0, output_per_million: 4.0}}",
        )
    )
    result = factory_run(config)
    assert all("max_completion_tokens" in p and "max_tokens" not in p for p in server.payloads)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    counts = summary["teachers"]["http:teacher"]
    drawn = samples(tmp_path / "run")
    prompt = sum(s["prompt_tokens"] for s in drawn)
    completion = sum(s["completion_tokens"] for s in drawn)
    assert (counts["prompt_tokens"], counts["completion_tokens"], counts["kept"]) == (prompt, completion, 8)
    assert counts["requests_now"] == len(server.payloads) == 4
    assert counts["cost"] == round((prompt * 1.0 + completion * 4.0) / 1e6, 6)
    assert counts["cost_per_kept"] == round(counts["cost"] / 8, 6)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("teacher ")]
    assert line == (
        f"teacher    http:teacher: 8 samples, 8 kept; {prompt:,} prompt + {completion:,} completion tokens; "
        f"4 requests now; cost {counts['cost']:.4f} ({counts['cost_per_kept']:.4f} per kept trace) "
        "(8 samples' counts estimated from usage per request)"
    )
    card = (tmp_path / "run" / "shards" / "README.md").read_text()
    assert f"; cost {counts['cost']:.4f}, {counts['cost_per_kept']:.4f} per kept trace" in card


def test_a_configured_tokenizer_counts_each_draw_where_usage_is_per_request(tmp_path, hosted):
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path / "tokenizer"
    folder.mkdir()
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # a token per word and per punctuation run
    tokenizer.save(str(folder / "tokenizer.json"))
    server = hosted()
    config = write_config(tmp_path, server.base_url, n=3)
    config.write_text(
        config.read_text().replace("max_concurrency: 2}", f"max_concurrency: 2, tokenizer: {folder}}}")
    )
    factory_run(config)
    drawn = samples(tmp_path / "run")
    assert not any(s["completion_tokens_estimated"] for s in drawn)
    assert [s["completion_tokens"] for s in drawn] == [len(tokenizer.encode(s["text"]).ids) for s in drawn]
