"""A proxy in front of a real OpenAI-compatible server that injects the faults a healthy server will not
produce on demand: error statuses, resets, stalls, truncated or malformed bodies."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from local_server import LocalServer, QuietHandler

# Every kind the proxy can inject, and the kind under which the client counts it (factory.http_client).
SEEN_AS = {
    "http_500": "http_500",
    "http_503": "http_503",
    "http_429": "http_429",  # with Retry-After
    "reset": "connection",  # the connection closed with a TCP RST before any reply
    "stall": "timeout",  # no reply until after the client's timeout
    "truncated": "bad_json",  # a 200 whose JSON body is cut in half
    "malformed_choices": "bad_shape",  # a 200 with n choices, none with its message
    "empty_choices": "bad_shape",  # a 200 with `choices: []`
}


class FaultProxy(LocalServer):
    """Forwards POSTs to `upstream`, except:
    - the first `faults` POSTs (or every POST whose body contains `fail_body_containing`) get `status`,
      with Retry-After;
    - with `every`, every `every`-th POST gets the next fault of `kinds` (from SEEN_AS) in turn;
    - with `hold`, forwarded POSTs stall until it is set.
    `injected` counts the faults made by kind."""

    def __init__(
        self,
        upstream: str,
        faults: int = 0,
        status: int = 429,
        retry_after: str | None = "1",
        fail_body_containing: bytes | None = None,
        hold: threading.Event | None = None,
        every: int | None = None,
        kinds: tuple[str, ...] = tuple(SEEN_AS),
        stall_s: float = 0.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold = hold
        self.fail_body_containing = fail_body_containing
        self.faults, self.status, self.retry_after = faults, status, retry_after
        self.every, self.stall_s = every, stall_s
        self.posts: list[float] = []
        self.auth_headers: list[str | None] = []
        self.bodies: list[bytes] = []  # of each POST, and the server's answers to those it forwarded
        self.replies: list[bytes] = []
        self.injected: Counter[str] = Counter()
        next_kind = itertools.cycle(kinds).__next__
        lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    proxy.posts.append(time.monotonic())
                    proxy.auth_headers.append(self.headers.get("authorization"))
                    proxy.bodies.append(body)
                    kind = None
                    if len(proxy.posts) <= proxy.faults or (
                        proxy.fail_body_containing is not None and proxy.fail_body_containing in body
                    ):
                        kind = "status"
                    elif proxy.every is not None and len(proxy.posts) % proxy.every == 0:
                        kind = next_kind()
                        proxy.injected[kind] += 1
                if kind == "status":
                    retry_after = {} if proxy.retry_after is None else {"Retry-After": proxy.retry_after}
                    self.reply(proxy.status, b'{"error": {"message": "injected fault"}}', retry_after)
                elif kind is not None and kind.startswith("http_"):
                    extra = {"Retry-After": "1"} if kind == "http_429" else {}
                    self.reply(int(kind[5:]), b'{"error": {"message": "injected fault"}}', extra)
                elif kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif kind == "stall":
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                elif kind == "malformed_choices":  # as many as asked for, none with its message
                    choices = [
                        {"index": i, "finish_reason": "stop"} for i in range(json.loads(body).get("n", 1))
                    ]
                    self.reply(200, json.dumps({"choices": choices}).encode())
                elif kind == "empty_choices":
                    self.reply(200, b'{"choices": []}')
                else:
                    status, answer = self.forward(body)
                    if kind == "truncated":
                        answer = answer[: len(answer) // 2]
                    self.reply(status, answer)

            def forward(self, body: bytes) -> tuple[int, bytes]:
                if proxy.hold is not None:
                    proxy.hold.wait()
                upstream = httpx.post(
                    proxy.upstream + self.path.removeprefix("/v1"),
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=600,
                )
                proxy.replies.append(upstream.content)
                return upstream.status_code, upstream.content

            def finish(self):
                try:
                    super().finish()
                except OSError:  # the connection was reset on purpose, or the client gave up on a stall
                    pass

        super().__init__(Handler)


def holding(secret: str, folder: Path, **texts: str) -> list[str]:
    """Where `secret` appears: the files under `folder` (the run folder, its logs included) and the named
    `texts` (the terminal's output, error messages)."""
    places = [
        str(path) for path in folder.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()
    ]
    return places + [name for name, text in texts.items() if secret in text]
