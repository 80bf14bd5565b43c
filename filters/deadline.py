"""Run slow symbolic work in child processes that can be killed at a hard deadline.

`signal.alarm` only works in the main thread and cannot interrupt C code; a process can always be killed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


# A call killed along with another call's runaway is run again, a bounded number of times.
_ATTEMPTS = 3


class DeadlineExceeded(Exception):
    pass


def _ping() -> int:
    time.sleep(0.05)
    return os.getpid()


def _start_worker(warmup: Callable[[], object] | None) -> None:
    # Ctrl-C at a terminal reaches the whole process group. The parent stops its pool itself; a worker that
    # took the KeyboardInterrupt too would only print a traceback under the run's one line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if warmup is not None:
        warmup()


class DeadlinePool:
    """A lazily started process pool whose calls end at a deadline; a call past it kills the pool.

    A deadline measures only the call's own work: at most `workers` calls run at once (others wait for a
    slot before their clock starts), and waiting for a warm pool is not counted. Calls that die because
    another call's deadline killed the pool are retried on a fresh pool (up to twice) in what is left of
    their own time. A warmed-up spare pool waits beside the running one, so the call after a kill seldom
    waits seconds for new processes to import sympy.
    """

    def __init__(self, workers: int = 1, warmup: Callable[[], object] | None = None) -> None:
        self.workers = workers
        self._warmup = warmup
        self._pool: ProcessPoolExecutor | None = None
        self._spare: Future[ProcessPoolExecutor] | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(workers)
        self._killed: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()

    def run(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        with self._slots:
            # Only time with the work in the pool counts: a pool's start takes seconds on a busy machine,
            # and a sound answer must not time out for it.
            left = timeout_s
            for attempt in range(_ATTEMPTS):
                pool = self._started()
                began = time.monotonic()
                try:
                    return pool.submit(fn, *args).result(timeout=left)
                except FutureTimeout:
                    self._kill(pool)
                    break
                except (BrokenProcessPool, CancelledError):
                    # Cancelled: submitted just as another call's deadline shut the pool down.
                    killed_for_another_call = pool in self._killed
                    self._kill(pool)  # the next call starts a fresh pool
                    if attempt == _ATTEMPTS - 1 or not killed_for_another_call:
                        raise
                    left -= time.monotonic() - began
                    if left <= 0:
                        break
            raise DeadlineExceeded(f"no result within {timeout_s:g} s")

    def start(self) -> None:
        """Start the pool and its spare now and wait until both are warm (before timing anything)."""
        self._started()
        spare = self._spare
        if spare is not None:
            spare.result()

    def _started(self) -> ProcessPoolExecutor:
        """The running pool; after a kill, the spare (waiting until it is warm)."""
        with self._lock:
            if self._pool is None:
                if self._spare is None:
                    self._pool = self._new_pool()
                else:
                    try:
                        self._pool = self._spare.result()
                    except BaseException:
                        self._spare = None  # the spare failed to start: the next call builds one itself
                        raise
                self._spare = Future()
                threading.Thread(target=self._build, args=(self._spare,), daemon=True).start()
            return self._pool

    def _build(self, future: Future[ProcessPoolExecutor]) -> None:
        try:
            future.set_result(self._new_pool())
        except BaseException as error:  # surfaces in the call that takes the spare
            future.set_exception(error)

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: the parent may hold threads (an engine, an HTTP client) that fork would copy mid-state.
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._warmup,),
        )
        # Start-up and imports take seconds; they must not count against a call's deadline, so every worker
        # is started and warmed up before the pool is used.
        seen: set[int] = set()
        try:
            for _ in range(100):
                done, _ = wait([pool.submit(_ping) for _ in range(self.workers)])
                seen.update(future.result() for future in done)
                if len(seen) >= self.workers:
                    break
        except BaseException:
            # Most often the interpreter is exiting (submit refuses new work then). A worker started just as
            # the pool's own shutdown counted its workers gets no word to stop, and the exit would wait for
            # it forever.
            _stop(pool)
            raise
        return pool

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
            self._killed.add(pool)
        _stop(pool)

    def close(self) -> None:
        """Stop the pool and its spare and wait until their processes have exited; a later call starts a
        pool again.

        A program calls it before it exits, with no call in flight. Otherwise the spare may still be
        starting its workers while the interpreter shuts its pools down: a worker started after its pool
        counted the workers to stop is never told to, and the exit waits for it forever (1 run in 10 of a
        short `factory verify`); a worker still starting finds the pool's semaphores gone and prints a
        traceback.
        """
        with self._lock:
            pool, self._pool = self._pool, None
            spare, self._spare = self._spare, None
        executors = [pool] if pool is not None else []
        if spare is not None and spare.exception() is None:  # waits for the spare to be warm
            executors.append(spare.result())
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    # The executor offers no way to stop a running task; its worker processes are the only handle.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
