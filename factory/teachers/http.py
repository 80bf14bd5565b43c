"""The HTTP teacher: any OpenAI-compatible server (`vllm serve`, a hosted API).

One request per problem carries `n`; requests run concurrently on an asyncio loop in a helper thread, up to
`max_concurrency` at once per base URL, and each problem's samples are yielded as soon as its request
completes. Requests spread over the base URLs and are retried as `factory.http_client` does (at most
`max_retries` times per request, on the next ready server, a failing one taken out with backoff).

A request whose retries are spent stops the run under `on_request_error: fail`; under `skip` its problem is
handed back to the source as failed and the run goes on (the same command asks for it again). A refusal
every request would get (401, 403, 404: the key, the URL or the model name) stops the run either way.
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx

from factory.config import SamplingConfig, TeacherConfig, public_url
from factory.errors import FactoryError
from factory.http_client import (
    SETUP_REFUSALS,
    Endpoints,
    PostFailed,
    api_key_headers,
    async_client,
    post_json,
)
from factory.prompts import PromptTemplate
from factory.records import Sample
from factory.teachers import (
    Log,
    RequestSource,
    SampleContext,
    SampleRequest,
    sampling_fields,
    sampling_record,
)
from filters.trace_filters import count_tokens


class RequestFailed(Exception):
    """`setup`: refused as every request would be (a wrong key, URL or model name), so no policy skips it.
    `exhausted`: every try failed for want of a server (down, overloaded, unreachable)."""

    def __init__(self, request: SampleRequest, message: str, setup: bool, exhausted: bool) -> None:
        super().__init__(message)
        self.request = request
        self.setup = setup
        self.exhausted = exhausted


class HTTPTeacher:
    backend = "http"

    def __init__(self, config: TeacherConfig, log: Log) -> None:
        assert config.base_url  # validated with the config
        self.model = config.model
        self._config = config
        self._log = log
        self._path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self._headers = api_key_headers(config.api_key_env, "teacher.api_key_env")
        self.faults: Counter[str] = Counter()  # the last stream's failed tries, by kind
        # The most choices the server returns for one request: several hosted APIs ignore `n` (1) or cap
        # it. Learnt from the first short answer; the draws left are asked in requests of that size.
        self._most_choices: int | None = None
        self.requests = 0  # HTTP requests this stream made (retries are counted in `faults`)

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        results: queue.Queue[list[Sample] | Exception | None] = queue.Queue()
        stop = threading.Event()
        thread = threading.Thread(
            target=lambda: asyncio.run(self._run(source, template, sampling, results, stop)),
            name="factory-http",
            daemon=True,
        )
        thread.start()
        failures = 0
        # Requests failed for want of a server since the last one answered: as many as can be in flight at
        # once means every server is down, and going on would spend every problem's retries against it.
        unanswered, room = 0, self._config.max_concurrency * len(self._config.base_url)
        try:
            while (item := results.get()) is not None:
                if isinstance(item, list):
                    unanswered = 0
                    yield item
                    continue
                if not isinstance(item, RequestFailed):
                    raise item
                problem_id = item.request.problem.id
                if item.setup:
                    raise FactoryError(
                        f"teacher: {item}; every request would be refused alike: fix the teacher section "
                        "and run the same command again (finished problems are saved)"
                    )
                unanswered += item.exhausted
                if unanswered >= room:
                    raise FactoryError(
                        f"teacher: the last {unanswered} requests failed against "
                        f"{', '.join(map(public_url, self._config.base_url))} (last: {item}); check that the servers are up "
                        "and teacher.base_url, then run the same command again (finished problems are saved)"
                    )
                if self._config.on_request_error == "fail":
                    raise FactoryError(
                        f"problem {problem_id} failed against {', '.join(map(public_url, self._config.base_url))}: {item}; "
                        "finished problems are saved: run the same command again to retry, or set "
                        "teacher.on_request_error: skip to go on without the failed ones"
                    )
                failures += 1
                if failures == 1:
                    self._log(
                        f"http: problem {problem_id} failed ({item}); going on without it "
                        "(failures are listed in failed.jsonl; the same command retries them)"
                    )
                source.failed(item.request, str(item))
        finally:
            stop.set()  # the consumer stopped early (an error, Ctrl-C): in-flight requests are cancelled
            thread.join(timeout=5)

    async def _run(
        self,
        source: RequestSource,
        template: PromptTemplate,
        sampling: SamplingConfig,
        results: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        """Dispatch requests from the source while there is room, until it is finished and all have ended."""
        config = self._config
        endpoints = Endpoints(config.base_url, self._path, config.max_concurrency, self._log)
        self.faults = endpoints.faults
        room = config.max_concurrency * len(config.base_url)
        tasks: set[asyncio.Task[None]] = set()

        async def one(request: SampleRequest) -> None:
            try:
                results.put(await self._sample(client, endpoints, request, template, sampling))
            except Exception as error:  # a failed request, or a fault of ours the consumer raises
                results.put(error)

        try:
            async with async_client(
                config.max_concurrency, len(config.base_url), config.request_timeout_s, self._headers
            ) as client:
                while not stop.is_set():
                    # Results the consumer has not taken yet count against the room: a reader that falls
                    # behind (a slow verifier) slows the requests down instead of filling memory.
                    if len(tasks) + results.qsize() >= room:
                        if tasks:
                            await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                        else:
                            await asyncio.sleep(0.05)
                        continue
                    request = source.poll(block=False)
                    if request is None and not tasks:  # idle: wait for the source in a thread
                        request = await asyncio.to_thread(source.poll, True)
                        if request is None:
                            break
                    if request is None:  # more may come when running requests end
                        await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    task = asyncio.create_task(one(request))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if stop.is_set():
                    for task in tasks:
                        task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            results.put(None)

    async def _sample(
        self,
        client: httpx.AsyncClient,
        endpoints: Endpoints,
        request: SampleRequest,
        template: PromptTemplate,
        sampling: SamplingConfig,
    ) -> list[Sample]:
        """The request's draws: in one request, or in requests of as many choices as the server returns."""
        samples: list[Sample] = []
        missing = request.indices
        while missing:
            size = self._most_choices or len(missing)
            parts = [missing[start : start + size] for start in range(0, len(missing), size)]
            answered = await asyncio.gather(
                *(self._ask(client, endpoints, request, part, template, sampling) for part in parts)
            )
            missing = ()
            for part, got in zip(parts, answered, strict=True):
                samples += got
                missing += part[len(got) :]
        return samples

    async def _ask(
        self,
        client: httpx.AsyncClient,
        endpoints: Endpoints,
        request: SampleRequest,
        indices: tuple[int, ...],
        template: PromptTemplate,
        sampling: SamplingConfig,
    ) -> list[Sample]:
        """One HTTP request for the draws `indices` of `request`'s problem: the samples of the first of them,
        as many as the server returned choices."""
        problem = request.problem
        self.requests += 1
        payload: dict[str, Any] = {
            "model": self.model,
            **sampling_fields(sampling, len(indices), omit_unset=True),
            **self._config.extra_body,  # last, as the OpenAI client merges its `extra_body`
        }
        if sampling.seed is not None:
            payload["seed"] = draw_seed(sampling.seed, problem.id, indices[0])
        if self._config.max_tokens_field != "max_tokens" and "max_tokens" in payload:
            payload[self._config.max_tokens_field] = payload.pop("max_tokens")
        messages = template.messages(problem.problem)
        prompt_text = None
        if self._config.endpoint == "chat":
            payload["messages"] = messages
        else:
            prompt_text = template.completion_text(problem.problem)
            payload["prompt"] = prompt_text
        started = time.monotonic()

        def parse(body: Any) -> list[Sample]:
            latency = round(time.monotonic() - started, 3)
            return self._samples(
                SampleRequest(problem, indices), template, sampling, messages, prompt_text, body, latency
            )

        try:
            samples = await post_json(
                client, endpoints, payload, self._config.max_retries, "teacher.api_key_env", parse
            )
        except PostFailed as failure:
            raise RequestFailed(
                request, str(failure), setup=failure.status in SETUP_REFUSALS, exhausted=failure.exhausted
            ) from None
        if len(samples) < len(indices) and (self._most_choices or len(indices)) > len(samples):
            self._most_choices = len(samples)
            self.faults["n_capped"] += 1
            self._log(
                f"http: the server returned {len(samples)} of n={len(indices)} choices; the draws are asked "
                f"for {len(samples)} per request from now on (counted as n_capped)"
            )
        return samples

    def _samples(
        self,
        request: SampleRequest,
        template: PromptTemplate,
        sampling: SamplingConfig,
        messages: list[dict[str, str]],
        prompt_text: str | None,
        body: dict[str, Any],
        latency: float,
    ) -> list[Sample]:
        _object(body, "the body")
        usage = {} if body.get("usage") is None else _object(body["usage"], "usage")
        choices = body["choices"]
        if not isinstance(choices, list):
            raise TypeError(f"choices is a JSON {type(choices).__name__}, not a list")
        for choice in choices:
            _object(choice, "a choice")
            if type(choice.get("index", 0)) is not int:  # a string index sorts "10" before "2"
                raise TypeError(f"a choice's index is {choice['index']!r}, not an integer")
        choices = sorted(choices, key=lambda choice: choice.get("index", 0))
        asked = SampleContext(
            request.problem.id,
            messages,
            template=template,
            backend=self.backend,
            model=self.model,
            sampling=sampling_record(sampling),
            prompt_text=prompt_text,
        )
        if len(choices) > len(request.indices):
            raise ValueError(f"asked for n={len(request.indices)} choices, got {len(choices)}")
        if not choices:
            raise ValueError("no choices")
        texts, reasonings, counts = [], [], []
        for position, choice in enumerate(choices):
            if "message" in choice:
                message = _object(choice["message"], "a choice's message")
                texts.append(_or(message.get("content"), ""))
                reasonings.append(_or(message.get("reasoning"), message.get("reasoning_content")))
            else:
                texts.append(choice["text"])
                reasonings.append(None)
            token_ids = choice.get("token_ids")
            if token_ids is not None and not isinstance(token_ids, list):
                raise TypeError(f"choice {position} has token_ids of type {type(token_ids).__name__}")
            counts.append(None if token_ids is None else len(token_ids))
        estimated = False
        if None in counts and len(choices) > 1 and self._config.tokenizer is not None:
            counts = [
                count_tokens(self._config.tokenizer, (reasoning or "") + text)
                for text, reasoning in zip(texts, reasonings, strict=True)
            ]
        elif None in counts:
            counts, estimated = _split_usage(usage.get("completion_tokens"), texts, reasonings)
        # The sample checks every value's type and range: a bad one is a body of the wrong shape, retried by
        # `post_json` and never journaled.
        return [
            asked.sample(
                request.indices[position],
                text=texts[position],
                reasoning=reasonings[position],
                finish_reason=choice.get("finish_reason"),
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=counts[position],
                completion_tokens_estimated=estimated,
                latency_s=latency,
            )
            for position, choice in enumerate(choices)
        ]

    def close(self) -> None:
        pass


def draw_seed(seed: int, problem_id: str, first_index: int) -> int:
    """A request's seed, from the run's and the request's first draw: a problem's later draws (adaptive
    rounds, a raised n, a server that returns one choice per request) are asked with other seeds, not sent
    again as the same request, which a seeded server answers alike. Below 2^31, which every server takes."""
    digest = hashlib.sha256(f"{seed}\0{problem_id}\0{first_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _split_usage(total: Any, texts: list[str], reasonings: list[str | None]) -> tuple[list[int | None], bool]:
    """Each choice's completion tokens when the server counted only the request's (`usage` is per request,
    and over n > 1 choices no choice's count is known): the total shared out by the choices' lengths in
    characters, and marked estimated. A single choice's count is the total itself, exact."""
    if len(texts) == 1:
        return [total], False
    if type(total) is not int or total < 0:
        return [None] * len(texts), False
    lengths = [len(text) + len(reasoning or "") for text, reasoning in zip(texts, reasonings, strict=True)]
    if not sum(lengths):
        return [total // len(texts)] * len(texts), True
    # Cumulative rounding: the shares add up to the total exactly.
    shares, given, running = [], 0, 0
    for length in lengths:
        running += length
        share = round(total * running / sum(lengths)) - given
        shares.append(share)
        given += share
    return shares, True


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is a JSON {type(value).__name__}, not an object")
    return value


def _or(value: Any, otherwise: Any) -> Any:
    """`value`, or `otherwise` where the server left it out (null, or ""): unlike `value or otherwise`, a
    falsy value of a wrong type stays, for the sample's checks to refuse."""
    return otherwise if value is None or value == "" else value
