"""The Ray teacher: offline vLLM engines as actors on a Ray cluster, one engine per replica.

Each replica is the offline teacher's own `VLLMEngine` inside an actor, with a sliding window of its own:
the driver tops a replica up whenever one of its calls returns (engine steps until some request completed,
or a fifth of a second), with the next call already queued at the actor, so a straggler on one replica
never idles another, and new requests go to the replica with the most free room. The driver stays the one writer: samples come back here and go through the same
journal, verifier and shards as the other backends, with the same keys (a run moves between offline vLLM,
HTTP and Ray and keeps every finished sample).

A replica that dies (its actor killed, its node lost, its engine failed) has its requests in flight asked
again of the others at once, and is started again up to `teacher.ray.max_restarts` times; the run stops
only when no replica is left. Each loss is a line in the log and counts in the summary's `faults`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from factory.config import RayConfig, SamplingConfig, TeacherConfig
from factory.errors import FactoryError
from factory.prompts import PromptTemplate
from factory.records import Sample
from factory.teachers import Log, RequestSource, SampleRequest
from factory.teachers.vllm_offline import Completion, EngineRequest, VLLMEngine, Window, take

STEP_S = 0.2  # a replica's call returns after this long even when nothing completed, to be topped up
# Calls queued at each replica: the next one waits at the actor while the driver handles the last one's
# results, so the engine does not idle for the hop. Measured here (one replica, 96 prompts): 0.91 of the
# offline backend's tokens/s with one call at a time.
CALLS_QUEUED = 2
LOCAL_OBJECT_STORE = 256 * 2**20  # a local cluster's shared memory: results are small text


class EngineReplica:
    """The body of one replica's actor: a `VLLMEngine`, stepped by the driver's calls."""

    def __init__(self, config: TeacherConfig, seed: int | None) -> None:
        # The engine runs in the actor's own process: a killed actor leaves no engine process behind.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self._engine = VLLMEngine(config, seed, log=lambda line: print(line, flush=True))

    def ready(self) -> list[Completion]:
        return []

    def step(self, requests: list[EngineRequest]) -> list[Completion]:
        self._engine.add(requests)
        return self._engine.step(STEP_S)

    def abort(self) -> None:
        self._engine.abort()


@dataclass(eq=False)  # one per replica number, hashed by identity
class _Replica:
    number: int
    actor: Any
    window: Window | None = None
    # The ObjectRefs of its calls under way, oldest first (`ready` while it starts, else `step`).
    calls: collections.deque[Any] = dataclasses.field(default_factory=collections.deque)
    restarts: int = 0
    starting_since: float | None = None  # while it loads its model (started again after a loss)


class RayTeacher:
    backend = "ray"

    def __init__(
        self,
        config: TeacherConfig,
        sampling: SamplingConfig,
        log: Log,
        replica: type = EngineReplica,
    ) -> None:
        try:
            import ray
        except ImportError as error:
            raise FactoryError(
                f"teacher.backend ray needs Ray ({error}); install it with pip install -e '.[ray]'"
            ) from None
        self._ray = ray
        self.model = config.model
        self._config, self._settings = config, config.ray
        self._seed = sampling.seed
        self._window = config.window
        self._log = log
        self.faults: collections.Counter[str] = collections.Counter()
        self._cluster = None if ray.is_initialized() else _Cluster(ray, self._settings)
        self._num_gpus = _gpus_per_replica(ray, self._settings)
        self._actor_class = ray.remote(replica)
        log(
            f"ray: starting {self._settings.replicas} replica(s) of {config.model} "
            f"({self._num_gpus:g} GPU, {self._settings.num_cpus:g} CPU each)"
        )
        started = time.monotonic()
        self._replicas = [_Replica(number, self._start(number)) for number in range(self._settings.replicas)]
        self._wait_ready()
        log(f"ray: {len(self._replicas)} replica(s) ready in {time.monotonic() - started:.0f} s")

    def stream(
        self, source: RequestSource, template: PromptTemplate, sampling: SamplingConfig
    ) -> Iterator[list[Sample]]:
        ray = self._ray
        for replica in self._replicas:
            replica.window = Window(self.backend, self.model, template, sampling)
        asked_again: collections.deque[SampleRequest] = collections.deque()
        finished_source = False
        try:
            while True:
                open_ = [
                    replica
                    for replica in self._replicas
                    if replica.starting_since is None and len(replica.calls) < CALLS_QUEUED
                ]
                if open_:
                    finished_source = self._top_up(open_, source, asked_again, finished_source)
                held = any(replica.window for replica in self._replicas)
                if finished_source and not held and not asked_again:
                    return
                oldest = {replica.calls[0]: replica for replica in self._replicas if replica.calls}
                if not oldest:
                    continue
                # A timeout, so that requests the source has meanwhile (an adaptive round) reach a free
                # replica while the others are busy.
                ready, _ = ray.wait(list(oldest), num_returns=1, timeout=STEP_S)
                for ref in ready:
                    replica = oldest[ref]
                    replica.calls.popleft()
                    try:
                        completions = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        asked_again.extend(self._lost(replica, error))
                        continue
                    replica.starting_since = None
                    for completion in completions:
                        yield replica.window.done(completion)
                self._check_starts(asked_again)
        finally:
            for replica in self._replicas:
                if replica.window and replica.starting_since is None:  # stopped early (an error, Ctrl-C)
                    with contextlib.suppress(Exception):
                        replica.actor.abort.remote()
                replica.window = None

    def _top_up(
        self,
        ready: list[_Replica],
        source: RequestSource,
        asked_again: collections.deque[SampleRequest],
        finished_source: bool,
    ) -> bool:
        """Fill the started replicas with room for another call: the requests of lost replicas first, then
        the source's, each to the replica with the most free room; queue each one's next call."""
        room = {replica: self._window - len(replica.window) for replica in ready}
        wanted = sum(room.values())
        batch = [asked_again.popleft() for _ in range(min(wanted, len(asked_again)))]
        if not finished_source and len(batch) < wanted:
            idle = not batch and not any(replica.window for replica in self._replicas)
            more, finished_source = take(source, wanted - len(batch), idle)
            batch += more
        given: dict[_Replica, list[SampleRequest]] = {replica: [] for replica in ready}
        for request in batch:
            replica = max(ready, key=room.__getitem__)
            room[replica] -= 1
            given[replica].append(request)
        for replica in ready:
            if given[replica] or replica.window:
                replica.calls.append(replica.actor.step.remote(replica.window.put(given[replica])))
        return finished_source

    def _lost(self, replica: _Replica, error: BaseException) -> list[SampleRequest]:
        """A replica that died: its requests in flight, to ask the others; it starts again if it may."""
        requests = replica.window.clear()
        replica.calls.clear()  # the dead actor's other calls fail too: nothing to wait for
        self.faults["replica_lost"] += 1
        self.faults["requests_asked_again"] += len(requests)
        with contextlib.suppress(Exception):  # an engine that failed leaves its actor alive, and broken
            self._ray.kill(replica.actor)
        what = f"ray: replica {replica.number} was lost ({_reason(error)}); its {len(requests)} request(s) go to the others"
        if replica.restarts < self._settings.max_restarts:
            replica.restarts += 1
            replica.actor = self._start(replica.number)
            replica.calls.append(replica.actor.ready.remote())
            replica.starting_since = time.monotonic()
            self.faults["replica_restarted"] += 1
            self._log(f"{what}; starting it again ({replica.restarts} of {self._settings.max_restarts})")
        else:
            self._replicas.remove(replica)
            self._log(f"{what}; it has been started {replica.restarts} time(s) already: going on without it")
        if not self._replicas:
            raise FactoryError(
                f"teacher: every Ray replica was lost ({_reason(error)}); finished samples are saved: "
                "run the same command again to go on"
            )
        return requests

    def _check_starts(self, asked_again: collections.deque[SampleRequest]) -> None:
        """A replica started again that has not loaded within `start_timeout_s` counts as lost again."""
        now = time.monotonic()
        for replica in list(self._replicas):
            since = replica.starting_since
            if since is not None and now - since > self._settings.start_timeout_s:
                asked_again.extend(
                    self._lost(replica, TimeoutError(f"not started in {self._settings.start_timeout_s:g} s"))
                )

    def _start(self, number: int) -> Any:
        options: dict[str, Any] = {"num_cpus": self._settings.num_cpus, "num_gpus": self._num_gpus}
        config = self._config
        if self._settings.tensor_parallel_size > 1:
            engine_args = {"tensor_parallel_size": self._settings.tensor_parallel_size, **config.engine_args}
            config = dataclasses.replace(config, engine_args=engine_args)
        return self._actor_class.options(**options).remote(config, self._seed)

    def _wait_ready(self) -> None:
        """Every replica loaded, or one line saying why not (a replica that cannot start stops the run
        here, before any request: every restart would fail alike)."""
        ray = self._ray
        calls = {replica.actor.ready.remote(): replica for replica in self._replicas}
        ready, waiting = ray.wait(list(calls), num_returns=len(calls), timeout=self._settings.start_timeout_s)
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as error:
                self.close()
                raise FactoryError(
                    f"teacher: Ray replica {calls[ref].number} could not start: {_reason(error)}"
                ) from None
        if waiting:
            available = ray.available_resources()
            self.close()
            raise FactoryError(
                f"teacher.ray: {len(waiting)} of {len(calls)} replica(s) did not start within "
                f"{self._settings.start_timeout_s:g} s; each asks for {self._num_gpus:g} GPU and "
                f"{self._settings.num_cpus:g} CPU, the cluster has {available.get('GPU', 0):g} GPU and "
                f"{available.get('CPU', 0):g} CPU free: lower teacher.ray.replicas or its resources"
            )

    def close(self) -> None:
        replicas, self._replicas = self._replicas, []
        for replica in replicas:
            with contextlib.suppress(Exception):
                self._ray.kill(replica.actor)
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()


class _Cluster:
    """This process's connection to Ray, held by a thread of its own until `close`. A local cluster's
    processes share the fate of the thread that started them (Linux's parent-death signal is per thread):
    started from a teacher's thread, they were killed when that thread ended, before the run shut them down,
    and left Ray's agents behind for a minute."""

    def __init__(self, ray: Any, settings: RayConfig) -> None:
        self._ray = ray
        self._done = threading.Event()
        connected = threading.Event()
        errors: list[BaseException] = []

        def hold() -> None:
            try:
                _connect(ray, settings)
            except BaseException as error:  # raised in the caller's thread below
                errors.append(error)
                return
            finally:
                connected.set()
            self._done.wait()
            ray.shutdown()

        self._thread = threading.Thread(target=hold, name="factory-ray-cluster", daemon=True)
        self._thread.start()
        connected.wait()
        if errors:
            raise errors[0]

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=60)


def _connect(ray: Any, settings: RayConfig) -> None:
    """Join the cluster at `address`, or start a local one."""
    local = settings.address is None
    try:
        ray.init(
            address=settings.address,
            logging_level=logging.WARNING,
            log_to_driver=False,  # the engines' own output stays in Ray's log folder
            include_dashboard=False,
            **({"object_store_memory": LOCAL_OBJECT_STORE} if local else {}),
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise FactoryError(
            f"teacher.ray.address: cannot join the Ray cluster at {settings.address!r} ({_reason(error)}); "
            "start one with `ray start --head` or leave address out for a local cluster"
        ) from None


def _gpus_per_replica(ray: Any, settings: RayConfig) -> float:
    if settings.num_gpus is not None:
        return settings.num_gpus
    return float(settings.tensor_parallel_size) if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def _reason(error: BaseException) -> str:
    """Why a replica failed, in one line. A Ray error's text is a report whose last line says it (the
    exception the replica raised, or how its actor died)."""
    cause = getattr(error, "cause", None)  # a failed call's: the exception the replica raised
    if isinstance(cause, FactoryError):
        return str(cause)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if type(error).__module__.startswith("ray") else f"{type(error).__name__}: {last}"
