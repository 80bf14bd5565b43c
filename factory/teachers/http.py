"""The HTTP teacher: any OpenAI-compatible server (`vllm serve`, a hosted API).

One request per problem carries `n`; requests run concurrently on an asyncio loop in a helper thread, up to
`max_concurrency` at once per base URL, and each problem's samples are yielded as soon as its request
completes. 429, 5xx, timeouts and connection errors are retried (at most `max_retries` times per request)
on the next ready server; the failing one is taken out with exponential backoff, honouring `Retry-After`.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from factory.config import SamplingConfig, TeacherConfig
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Problem, Sample
from factory.teachers import Log, RequestSource, SampleRequest, sampling_record

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 600.0


class RequestFailed(Exception):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class _Endpoint:
    def __init__(self, base_url: str, path: str) -> None:
        self.base_url = base_url
        self.url = base_url.rstrip("/") + path
        self.in_flight = 0
        self.failures = 0  # in a row; decides how long the endpoint stays out
        self.out_until = 0.0


class Endpoints:
    """The servers a run spreads its requests over. Each takes up to `per_endpoint` requests at once; a new
    request goes to the ready one with the fewest in flight. One that fails (connection error, timeout,
    429 or 5xx) is taken out for a backoff that doubles with each failure in a row, or for its Retry-After,
    then tried again; its requests retry elsewhere meanwhile."""

    def __init__(self, base_urls: Sequence[str], path: str, per_endpoint: int, log: Log) -> None:
        self._all = [_Endpoint(url, path) for url in base_urls]
        self._per_endpoint = per_endpoint
        self._log = log
        self._changed: asyncio.Condition | None = None  # made inside the event loop that uses it

    async def acquire(self) -> _Endpoint:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            while True:
                now = time.monotonic()
                ready = [e for e in self._all if e.out_until <= now and e.in_flight < self._per_endpoint]
                if ready:
                    endpoint = min(ready, key=lambda e: e.in_flight)
                    endpoint.in_flight += 1
                    return endpoint
                back = [e.out_until for e in self._all if e.out_until > now]
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(back) - now if back else None)
                except TimeoutError:
                    pass

    async def release(
        self, endpoint: _Endpoint, failure: str | None = None, retry_after: float | None = None
    ) -> None:
        assert self._changed is not None
        async with self._changed:
            endpoint.in_flight -= 1
            if failure is None:
                endpoint.failures = 0
            else:
                backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**endpoint.failures) * random.uniform(0.5, 1.0)
                pause = max(backoff, retry_after or 0.0)
                if endpoint.out_until <= time.monotonic() and len(self._all) > 1:
                    self._log(f"http: {endpoint.base_url} out for {pause:.1f} s ({failure})")
                endpoint.failures += 1
                endpoint.out_until = max(endpoint.out_until, time.monotonic() + pause)
            self._changed.notify_all()


class HTTPTeacher:
    backend = "http"

    def __init__(self, config: TeacherConfig, log: Log) -> None:
        assert config.base_url  # validated with the config
        self.model = config.model
        self._config = config
        self._log = log
        self._path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self._headers = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise FactoryError(
                    f"teacher.api_key_env: the environment variable {config.api_key_env} is not set; "
                    "export it with the API key (the key itself never goes in a config file)"
                )
            self._headers["Authorization"] = f"Bearer {key}"

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        results: queue.Queue[list[Sample] | RequestFailed | None] = queue.Queue()
        stop = threading.Event()
        thread = threading.Thread(
            target=lambda: asyncio.run(self._run(source, template, sampling, results, stop)),
            name="factory-http",
            daemon=True,
        )
        thread.start()
        failures: list[RequestFailed] = []
        try:
            while (item := results.get()) is not None:
                if isinstance(item, RequestFailed):
                    failures.append(item)
                else:
                    yield item
        finally:
            stop.set()  # the consumer stopped early (an error, Ctrl-C): in-flight requests are cancelled
            thread.join(timeout=5)
        if failures:
            raise FactoryError(
                f"{len(failures)} problem(s) failed against {', '.join(self._config.base_url)} "
                f"(first: {failures[0].problem.id}: {failures[0]}); finished problems are saved, re-run to retry the rest"
            )

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
        room = config.max_concurrency * len(config.base_url)
        limits = httpx.Limits(max_connections=room, max_keepalive_connections=room)
        tasks: set[asyncio.Task[None]] = set()

        async def one(request: SampleRequest) -> None:
            try:
                results.put(await self._sample(client, endpoints, request, template, sampling))
            except RequestFailed as failure:
                results.put(failure)

        try:
            async with httpx.AsyncClient(
                timeout=config.request_timeout_s, limits=limits, headers=self._headers
            ) as client:
                while not stop.is_set():
                    if len(tasks) >= room:
                        await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
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
        problem = request.problem
        payload: dict[str, Any] = {
            "model": self.model,
            "n": len(request.indices),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            **self._config.extra_body,
        }
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            payload["seed"] = sampling.seed
        messages = template.messages(problem.problem)
        prompt_text = None
        if self._config.endpoint == "chat":
            payload["messages"] = messages
        else:
            prompt_text = template.completion_text(problem.problem)
            payload["prompt"] = prompt_text
        started = time.monotonic()
        body = await self._post(client, endpoints, problem, payload)
        latency = round(time.monotonic() - started, 3)
        try:
            return self._samples(request, template, sampling, messages, prompt_text, body, latency)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise RequestFailed(problem, f"unexpected response shape ({error!r})") from None

    async def _post(
        self, client: httpx.AsyncClient, endpoints: Endpoints, problem: Problem, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """One request, tried up to `max_retries + 1` times; each try goes to the endpoint ready first."""
        attempts = self._config.max_retries + 1
        last_error = ""
        for _ in range(attempts):
            endpoint = await endpoints.acquire()
            retry_after: float | None = None
            try:
                response = await client.post(endpoint.url, json=payload)
            except httpx.TimeoutException:
                last_error = f"timed out after {self._config.request_timeout_s:g} s"
            except httpx.TransportError as error:
                last_error = f"connection failed ({type(error).__name__}: {error})"
            except BaseException:
                await endpoints.release(endpoint)  # cancelled: not the endpoint's fault
                raise
            else:
                if response.status_code == 200:
                    await endpoints.release(endpoint)
                    return response.json()
                detail = _error_detail(response)
                if response.status_code not in RETRYABLE_STATUS:
                    await endpoints.release(endpoint)
                    hint = (
                        " (check the key in teacher.api_key_env)"
                        if response.status_code in (401, 403)
                        else ""
                    )
                    raise RequestFailed(
                        problem, f"HTTP {response.status_code} from {endpoint.base_url}: {detail}{hint}"
                    )
                last_error = f"HTTP {response.status_code}: {detail}"
                retry_after = _retry_after_s(response.headers.get("retry-after"))
            await endpoints.release(endpoint, last_error, retry_after)
        raise RequestFailed(problem, f"gave up after {attempts} attempts; last: {last_error}")

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
        usage = body.get("usage") or {}
        choices = sorted(body["choices"], key=lambda choice: choice.get("index", 0))
        recorded = sampling_record(sampling)
        if len(choices) != len(request.indices):
            raise ValueError(f"asked for n={len(request.indices)} choices, got {len(choices)}")
        samples = []
        for position, choice in enumerate(choices):
            if "message" in choice:
                message = choice["message"]
                text = message.get("content") or ""
                reasoning = message.get("reasoning") or message.get("reasoning_content")
            else:
                text, reasoning = choice["text"], None
            token_ids = choice.get("token_ids")
            if token_ids is not None:
                completion_tokens: int | None = len(token_ids)
            elif len(choices) == 1:
                completion_tokens = usage.get("completion_tokens")
            else:  # usage only gives the total over n choices
                completion_tokens = None
            samples.append(
                Sample(
                    problem_id=request.problem.id,
                    sample_index=request.indices[position],
                    messages=messages,
                    prompt_text=prompt_text,
                    prompt_template=template.name,
                    prompt_hash=template.hash,
                    text=text,
                    reasoning=reasoning,
                    finish_reason=choice.get("finish_reason"),
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=completion_tokens,
                    teacher_backend=self.backend,
                    teacher_model=self.model,
                    sampling=recorded,
                    latency_s=latency,
                )
            )
        return samples

    def close(self) -> None:
        pass


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", error) if isinstance(error, dict) else error
        return str(message)[:300]
    except ValueError:
        return response.text[:300] or response.reason_phrase


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)
