"""The model judge: a model over an OpenAI-compatible endpoint, asked whether a response's final answer
equals the gold, for the samples whose verdict the rules cannot tell (no answer found, an unreadable gold
or answer, a timed-out check). It is off unless `reject.judge` is configured, and it never sees a sample
the rules decided: their correct and incorrect stand.

Its reply is read strictly: the last line must be exactly `VERDICT: YES` or `VERDICT: NO` and no other line
may say `VERDICT:`. A clear reply makes the sample correct (`judge_same`, kept) or incorrect
(`judge_different`); anything else leaves it cannot_tell (`judge_unclear`). Either way the raw reply is
recorded, so a reader can see what the judge said.

A judge that fails does not stop the run, which may be a day of generation. A request the server refuses
(400 for a prompt too long, 401, 404 for an unknown model) leaves that sample cannot_tell with
`judge_error`. A request that has used all its retries (the server is down or overloaded) does the same,
and the judge is not asked again in this invocation: waiting through every request's retries would stall
the run. A line says so either time. Verdicts with `judge_error` are dropped when the run folder is read
again, so the same command asks the judge about those samples, and only those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from factory.config import JudgeConfig
from factory.http_client import Endpoints, PostFailed, api_key_headers, async_client, post_json
from factory.prompts import JUDGE, load_template
from factory.teachers import Log

JUDGE_ERROR = "judge_error"  # the judge was not asked or gave no reply; a re-run asks again
_CLEAR = {"VERDICT: YES": True, "VERDICT: NO": False}


@dataclass(frozen=True, slots=True)
class Question:
    problem: str
    gold: str
    response: str


@dataclass(frozen=True, slots=True)
class Ruling:
    status: str  # correct | incorrect | cannot_tell
    reason: str  # judge_same | judge_different | judge_unclear | judge_error
    reply: str | None  # the judge's raw reply; None when there was none


_FAILED = Ruling("cannot_tell", JUDGE_ERROR, None)


def parse_reply(reply: str) -> bool | None:
    """True for a reply whose last line is `VERDICT: YES`, False for `VERDICT: NO`; None for anything else
    (no verdict, one not on the last line, several, another spelling)."""
    lines = [line.strip() for line in reply.strip().splitlines()]
    if not lines or reply.count("VERDICT:") != 1:
        return None
    return _CLEAR.get(lines[-1])


def ruling(reply: str) -> Ruling:
    verdict = parse_reply(reply)
    if verdict is None:
        return Ruling("cannot_tell", "judge_unclear", reply)
    return (
        Ruling("correct", "judge_same", reply) if verdict else Ruling("incorrect", "judge_different", reply)
    )


def clip_response(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters for the judge's prompt. The final answer is at the end, so
    the end keeps three quarters of the room; the first quarter shows how the response began."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[… {len(text) - limit} characters left out …]\n{text[-tail:]}"


class ModelJudge:
    """Rules on questions the rules cannot answer. Built when the run starts, so a missing key variable or
    template stops the run before any generation."""

    def __init__(self, config: JudgeConfig, log: Log) -> None:
        self.template = load_template(config.template, JUDGE)
        self.name = f"judge:{config.model}"
        self._config = config
        self._log = log
        self._headers = api_key_headers(config.api_key_env, "reject.judge.api_key_env")
        self._given_up = False  # set when a request used all its retries: not asked again this invocation
        self._refusal_logged = False

    def rule(self, questions: Sequence[Question]) -> list[Ruling]:
        """One ruling per question, in order. Never raises for the judge's failures (see the module)."""
        if not questions:
            return []
        if self._given_up:
            return [_FAILED] * len(questions)
        return asyncio.run(self._rule_all(questions))

    async def _rule_all(self, questions: Sequence[Question]) -> list[Ruling]:
        config = self._config
        endpoints = Endpoints(config.base_url, "/chat/completions", config.max_concurrency, self._log)
        async with async_client(
            config.max_concurrency, len(config.base_url), config.request_timeout_s, self._headers
        ) as client:
            tasks = [asyncio.create_task(self._ask(client, endpoints, question)) for question in questions]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:  # after a request gave up, the others would only wait through retries too
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        rulings = []
        for task in tasks:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, PostFailed):
                raise error
            if error is not None and not self._given_up:
                self._given_up = True
                self._log(
                    f"{self.name}: {error}; not asked again in this run: the samples the rules cannot tell "
                    f"are recorded with {JUDGE_ERROR}, and the same command run again judges them"
                )
            rulings.append(task.result() if error is None and not task.cancelled() else _FAILED)
        return rulings

    async def _ask(self, client: httpx.AsyncClient, endpoints: Endpoints, question: Question) -> Ruling:
        config = self._config
        payload = {
            "model": config.model,
            "messages": self.template.messages(
                question.problem,
                gold=question.gold,
                response=clip_response(question.response, config.max_response_chars),
            ),
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        try:
            return await post_json(
                client,
                endpoints,
                payload,
                config.max_retries,
                "reject.judge.api_key_env",
                lambda body: ruling(body["choices"][0]["message"]["content"] or ""),
            )
        except PostFailed as failure:
            if failure.exhausted:
                raise
            if not self._refusal_logged:
                self._refusal_logged = True
                self._log(
                    f"{self.name}: a request was refused ({failure}); its sample is recorded with "
                    f"{JUDGE_ERROR} (further refusals are counted in the summary, not logged)"
                )
            return _FAILED
