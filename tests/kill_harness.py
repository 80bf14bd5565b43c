"""A run on the scripted teacher in a child process, for the kill, signal and lock tests. It runs as
`factory run` does (through `factory.cli._guarded`), so its exit status and last line are the command's;
it can kill itself (SIGKILL, no clean-up) at a chosen point, or answer slowly so that a test can signal it
or start a second invocation beside it.

    python tests/kill_harness.py RUN_SPEC [POINT COUNT]

RUN_SPEC is a JSON file {"tmp": folder, "reject": {...}, "curate": {...}, "package": {...}, "copies": 1,
"pace": 0}: the problems of tests/curation_script.py, `copies` times over, answered by a teacher that takes
`pace` seconds a request. POINT is where to die, at its COUNT-th time, in the order a run reaches them:

    generate  when the teacher has made a request's samples, before the writer has them
    samples   half-way through writing the COUNT-th line of the sample journal (a torn line)
    verdicts  half-way through writing the COUNT-th line of the verdict journal (a torn line)
    curated   half-way through writing the COUNT-th line of the curation journal (a torn line)
    excluded  on writing the COUNT-th line of excluded.jsonl (still under its temporary name)
    row       on adding the COUNT-th row to a shard (the shard is still a hidden temporary file)
    mark      just before the package stage records that the shards are done
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from curation_script import PROBLEMS, SCRIPT
from scripted_teacher import ScriptedTeacher, run_config

import factory.package
from factory.cli import _guarded
from factory.records import Problem
from factory.job import run
from factory.storage import Journal, StageMarkers

STREAM_POINTS = ("generate", "samples", "verdicts", "curated")  # while the teachers generate
PACKAGE_POINTS = ("excluded", "row", "mark")  # once the stream has ended
JOURNALS = ("samples", "verdicts", "curated")


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, count: int) -> None:
    """Die at the `count`-th event of `point` (a journal's events are its lines)."""
    seen = {"n": 0}

    def due(events: int = 1) -> int:
        """0 while the `count`-th event is still ahead; else its place (from 1) among these `events`."""
        before = seen["n"]
        seen["n"] += events
        return count - before if seen["n"] >= count else 0

    if point in JOURNALS:
        append = Journal.append

        def torn_append(self, rows):
            rows = list(rows)
            place = due(len(rows)) if self.path.parent.name == point else 0
            if place:
                append(self, rows[: place - 1])
                line = json.dumps(rows[place - 1]) + "\n"
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line[: len(line) // 2])
                die()
            append(self, rows)

        Journal.append = torn_append
    elif point == "generate":
        stream = ScriptedTeacher.stream

        def dying_stream(self, source, template, sampling):
            for samples in stream(self, source, template, sampling):
                if due():
                    die()
                yield samples

        ScriptedTeacher.stream = dying_stream
    elif point == "row":
        add = factory.package.ShardWriter.add
        factory.package.ShardWriter.add = lambda self, row: die() if due() else add(self, row)
    elif point == "excluded":
        write = factory.package.write_exclusion
        factory.package.write_exclusion = lambda *args: die() if due() else write(*args)
    elif point == "mark":
        mark = StageMarkers.mark_done
        StageMarkers.mark_done = lambda self, name, inputs: (
            die() if name == "shards" and due() else mark(self, name, inputs)
        )
    else:
        raise SystemExit(f"unknown kill point {point}")


class PacedTeacher(ScriptedTeacher):
    """The scripted teacher, taking `pace` seconds a request: slow enough to be signalled mid-generation."""

    def __init__(self, script, pace: float) -> None:
        super().__init__(script)
        self.pace = pace

    def stream(self, source, template, sampling):
        for samples in super().stream(source, template, sampling):
            time.sleep(self.pace)
            yield samples


def copied(copies: int) -> tuple[list[Problem], dict]:
    """The curation problems and their script, `copies` times over under ids p1.0, p1.1..."""
    problems = [
        Problem(f"{p.id}.{copy}", f"{p.problem} (copy {copy})", p.answer, p.source)
        for copy in range(copies)
        for p in PROBLEMS
    ]
    return problems, {problem.id: SCRIPT[problem.id.split(".")[0]] for problem in problems}


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 2:
        arm(sys.argv[2], int(sys.argv[3]))
    problems, script = copied(spec.get("copies", 1))
    config = run_config(
        Path(spec["tmp"]), problems, spec.get("reject", {}), curate=spec["curate"], package=spec["package"]
    )
    teacher = PacedTeacher(script, spec.get("pace", 0))
    _guarded(lambda: run(config, lambda line: None, start_teacher=lambda: teacher))
