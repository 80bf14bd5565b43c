"""Run slow symbolic work in a child process that can be killed at a hard deadline.

`signal.alarm` only works in the main thread and cannot interrupt C code; a process can always be killed.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    pass


class DeadlinePool:
    """A lazily started process pool whose calls end at a deadline; a call past it kills the pool."""

    def __init__(self, workers: int = 1, warmup: Callable[[], object] | None = None) -> None:
        self._workers = workers
        self._warmup = warmup
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        with self._lock:
            if self._pool is None:
                # spawn: the parent may hold threads (an engine, an HTTP client) that fork would copy mid-state.
                self._pool = ProcessPoolExecutor(
                    self._workers, mp_context=multiprocessing.get_context("spawn")
                )
                if self._warmup is not None:
                    # Start-up and imports take seconds; they must not count against a call's deadline.
                    self._pool.submit(self._warmup).result()
            pool = self._pool
        try:
            future = pool.submit(fn, *args)
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            self._kill(pool)
            raise DeadlineExceeded(f"no result within {timeout_s:g} s") from None
        except BrokenProcessPool:
            self._kill(pool)  # the next call starts a fresh pool
            raise

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        # The executor offers no way to stop a running task; its worker processes are the only handle.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
