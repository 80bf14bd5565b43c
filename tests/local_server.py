"""A threaded HTTP server on 127.0.0.1 for tests that stand in front of a real endpoint (a fault proxy) or in
for one where a real server cannot produce the case (a scripted judge)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class LocalServer:
    """Serves `handler` on a free port until `close`; `base_url` ends in `/v1`, as OpenAI clients expect."""

    def __init__(self, handler: type[QuietHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ScriptedAPI(LocalServer):
    """An OpenAI-compatible endpoint answering each POST with `answer(payload)`, a 200 JSON body, one request
    at a time; `payloads` holds every request it got, in order."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        api, lock = self, threading.Lock()

        class Handler(QuietHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with lock:
                    api.payloads.append(payload)
                    body = api.answer(payload)
                self.reply(200, json.dumps(body).encode())

        super().__init__(Handler)

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


@contextmanager
def closing_all() -> Iterator[Any]:
    """A fixture's body: `start(server_class, *args)` starts a server, and every one started is closed after."""
    servers: list[LocalServer] = []

    def start(server_class: type[LocalServer], *args: Any) -> Any:
        servers.append(server_class(*args))
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.close()
