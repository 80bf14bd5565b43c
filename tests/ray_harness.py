"""What the Ray tests share: a local cluster for a module, and a Ray teacher whose replicas are killed
mid-run (`ray.kill`, as a lost node ends them)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import ray

from factory.teachers.ray_pool import RayTeacher


def local_cluster(num_cpus: int = 2) -> Iterator[None]:
    """A module's cluster (a RayTeacher joins one already started, and leaves it running)."""
    ray.init(logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False, num_cpus=num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


class Killing:
    """`teacher`, with the replicas numbered `numbers` killed once `after` requests have come back and
    they hold requests (an idle replica's loss is only seen when it is next asked)."""

    def __init__(self, teacher: RayTeacher, after: int, numbers: tuple[int, ...]) -> None:
        self.teacher, self.after, self.numbers = teacher, after, numbers
        self.backend, self.model = teacher.backend, teacher.model
        self.faults = teacher.faults
        self.killed: list[int] = []  # how many requests each replica killed held

    def stream(self, source, template, sampling):
        for count, samples in enumerate(self.teacher.stream(source, template, sampling), start=1):
            yield samples
            victims = [replica for replica in self.teacher._replicas if replica.number in self.numbers]
            if count >= self.after and not self.killed and all(replica.window for replica in victims):
                for replica in victims:
                    self.killed.append(len(replica.window))
                    ray.kill(replica.actor)

    def close(self) -> None:
        self.teacher.close()
