"""A real `vllm serve` (the embedded teacher) on 127.0.0.1, for the HTTP tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVED_NAME = "smollm2"
SECOND_NAME = (
    "smollm2-copy"  # the same weights under a second name: a second teacher for several-teacher runs
)


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, log_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start the server and wait until it answers; `extra` goes to its command line. Besides its two names
    the model is also served under its folder, as an offline vLLM teacher names it."""
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", SERVED_NAME, SECOND_NAME, str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--max-model-len", "1024", "--seed", "0", "--dtype", "float32", *extra,
    ]  # fmt: skip
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "2",
        "VLLM_LOGGING_LEVEL": "WARNING",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # as the offline teacher sets on small machines
    }
    with log_path.open("a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 400
    while True:
        if process.poll() is not None:
            raise ServerFailed(
                f"vllm server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            raise ServerFailed(f"vllm server did not come up in 400 s:\n{log_path.read_text()[-3000:]}")
        time.sleep(1)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
