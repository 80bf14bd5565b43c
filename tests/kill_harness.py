"""A run on the scripted teacher that kills itself (SIGKILL, no clean-up) at a chosen point, for the kill
tests of tests/test_curate_pipeline.py. `python tests/kill_harness.py RUN_SPEC POINT COUNT`: RUN_SPEC is a
JSON file {"tmp": folder, "curate": {...}, "package": {...}}; POINT is where to die, at its COUNT-th time:

    samples   half-way through appending to the sample journal (a torn line)
    verdicts  half-way through appending to the verdict journal (a torn line)
    curated   half-way through appending a problem's curation line (a torn line)
    row       on adding a row to a shard (the shard is still a hidden temporary file)
    excluded  on writing a line of excluded.jsonl (still under its temporary name)
    mark      just before the package stage records that the shards are done
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from curation_script import PROBLEMS, SCRIPT
from scripted_teacher import ScriptedTeacher, run_config

import factory.package
from factory.run import run
from factory.storage import Journal, StageMarkers


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, count: int) -> None:
    seen = {"n": 0}

    def due() -> bool:
        seen["n"] += 1
        return seen["n"] >= count

    if point in ("samples", "verdicts", "curated"):
        append = Journal.append

        def torn_append(self, rows):
            rows = list(rows)
            if self.path.parent.name == point and due():
                append(self, [])  # opens the file
                text = "".join(json.dumps(row) + "\n" for row in rows)
                self._handle.write(text[: len(text) // 2])
                self._handle.flush()
                die()
            append(self, rows)

        Journal.append = torn_append
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


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 2:
        arm(sys.argv[2], int(sys.argv[3]))
    config = run_config(Path(spec["tmp"]), PROBLEMS, {}, curate=spec["curate"], package=spec["package"])
    run(config, lambda line: None, start_teacher=lambda: ScriptedTeacher(SCRIPT))
