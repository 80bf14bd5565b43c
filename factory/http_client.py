"""Requests to OpenAI-compatible servers, shared by the HTTP teacher and the model judge.

Requests spread over one or several base URLs, up to a number in flight per URL. 429, 5xx, timeouts and
connection errors are retried (at most `retries` times per request) on the next ready server; the failing
one is taken out with exponential backoff, honouring `Retry-After`. So is a 200 whose body is not the JSON
the caller expects (a truncated body, a malformed or empty `choices`): a proxy or an overloaded server
makes those, and the same request usually succeeds on the next try. Other statuses (400, 401, 404...) are
not retried: the same request would fail the same way. Every failed try is counted by kind in
`Endpoints.faults` (`http_503`, `timeout`, `connection`, `bad_json`, `bad_shape`), for the run's summary.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from factory.config import public_url
from factory.errors import FactoryError
from factory.teachers import Log

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 600.0

Parsed = TypeVar("Parsed")


# Refusals every request would get alike: the key, the URL or the model name is wrong.
SETUP_REFUSALS = frozenset({401, 403, 404})


class PostFailed(Exception):
    """A request that failed for good. `exhausted`: every attempt failed in a way retrying could have
    fixed (the servers are down or overloaded), as opposed to a refusal of this request, whose HTTP
    `status` it has."""

    def __init__(self, message: str, exhausted: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.exhausted = exhausted
        self.status = status


class _Endpoint:
    def __init__(self, base_url: str, path: str) -> None:
        self.base_url = base_url
        self.url = base_url.rstrip("/") + path
        self.in_flight = 0
        self.failures = 0  # in a row; decides how long the endpoint stays out
        self.out_until = 0.0


class Endpoints:
    """The servers requests spread over. Each takes up to `per_endpoint` requests at once; a new request
    goes to the ready one with the fewest in flight. One that fails (connection error, timeout, 429 or 5xx)
    is taken out for a backoff that doubles with each failure in a row, or for its Retry-After, then tried
    again; its requests retry elsewhere meanwhile."""

    def __init__(self, base_urls: Sequence[str], path: str, per_endpoint: int, log: Log) -> None:
        self._all = [_Endpoint(url, path) for url in base_urls]
        self._per_endpoint = per_endpoint
        self._log = log
        self._changed: asyncio.Condition | None = None  # made inside the event loop that uses it
        self.faults: Counter[str] = Counter()  # failed tries by kind

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
                    self._log(f"http: {public_url(endpoint.base_url)} out for {pause:.1f} s ({failure})")
                endpoint.failures += 1
                endpoint.out_until = max(endpoint.out_until, time.monotonic() + pause)
            self._changed.notify_all()


def async_client(
    per_endpoint: int, endpoints: int, timeout_s: float, headers: dict[str, str]
) -> httpx.AsyncClient:
    """An async client with a connection for every request that may be in flight."""
    room = per_endpoint * endpoints
    limits = httpx.Limits(max_connections=room, max_keepalive_connections=room)
    return httpx.AsyncClient(timeout=timeout_s, limits=limits, headers=headers)


def api_key_headers(api_key_env: str | None, setting: str) -> dict[str, str]:
    """The Authorization header from the environment variable named `api_key_env` (`setting` is the config
    key that names it, for the error). The key is only ever held here, never written anywhere."""
    if not api_key_env:
        return {}
    key = os.environ.get(api_key_env)
    if not key:
        raise FactoryError(
            f"{setting}: the environment variable {api_key_env} is not set; "
            "export it with the API key (the key itself never goes in a config file)"
        )
    return {"Authorization": f"Bearer {key}"}


async def post_json(
    client: httpx.AsyncClient,
    endpoints: Endpoints,
    payload: dict[str, Any],
    retries: int,
    key_setting: str,
    parse: Callable[[Any], Parsed],
) -> Parsed:
    """POST `payload`, tried up to `retries + 1` times, each try on the endpoint ready first; `parse` of the
    body of the first 200 whose body it can parse (any exception it raises is a body of the wrong shape,
    tried again; a `PostFailed` it raises is one no retry would change). Raises `PostFailed`; its message
    names the key's config setting on 401/403, and never holds the key."""
    attempts = retries + 1
    last_error = ""
    for _ in range(attempts):
        endpoint = await endpoints.acquire()
        retry_after: float | None = None
        try:
            response = await client.post(endpoint.url, json=payload)
        except httpx.TimeoutException:
            kind, last_error = "timeout", f"timed out after {client.timeout.read:g} s"
        except httpx.TransportError as error:
            kind, last_error = "connection", f"connection failed ({type(error).__name__}: {error})"
        except BaseException:
            await endpoints.release(endpoint)  # cancelled: not the endpoint's fault
            raise
        else:
            kind = f"http_{response.status_code}"
            if response.status_code == 200:
                try:
                    body = response.json()
                except ValueError as error:
                    kind, last_error = "bad_json", f"a body that is not JSON ({error})"
                else:
                    try:
                        parsed = parse(body)
                    except PostFailed:  # a body the same request would get again
                        endpoints.faults["bad_shape"] += 1
                        await endpoints.release(endpoint)
                        raise
                    except Exception as error:  # any body but the expected one: model output is untrusted
                        kind, last_error = "bad_shape", f"a body of an unexpected shape ({error!r})"
                    else:
                        await endpoints.release(endpoint)
                        return parsed
            else:
                detail = _error_detail(response)
                if response.status_code not in RETRYABLE_STATUS:
                    endpoints.faults[kind] += 1
                    await endpoints.release(endpoint)
                    hint = f" (check the key in {key_setting})" if response.status_code in (401, 403) else ""
                    raise PostFailed(
                        f"HTTP {response.status_code} from {public_url(endpoint.base_url)}: {detail}{hint}",
                        exhausted=False,
                        status=response.status_code,
                    )
                last_error = f"HTTP {response.status_code}: {detail}"
                retry_after = _retry_after_s(response.headers.get("retry-after"))
        endpoints.faults[kind] += 1
        await endpoints.release(endpoint, last_error, retry_after)
    raise PostFailed(f"gave up after {attempts} attempts; last: {last_error}", exhausted=True)


def _error_detail(response: httpx.Response) -> str:
    """The server's reason, cut short; the API key blanked out, should a gateway echo the request back."""
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", error) if isinstance(error, dict) else error
        detail = str(message)[:300]
    except ValueError:
        detail = response.text[:300] or response.reason_phrase
    key = response.request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return detail.replace(key, "***") if key else detail


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
