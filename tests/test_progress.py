"""The run's progress display: a bar on a terminal, plain lines otherwise, with an ETA; and the timeline file
of its counters that `factory report` plots."""

from __future__ import annotations

import io
import json
import time

from tqdm import tqdm

from factory.progress import Progress


def test_plain_lines_report_counts_rate_and_eta():
    lines: list[str] = []
    progress = Progress(10, lines.append, live=False, every_s=0)
    progress.generated(4, 100)
    assert lines == []  # nothing before the teacher is ready: engine start-up is not generation time
    progress.teacher_started()
    progress.problem_finished(reused=True)  # found finished on disk
    progress.generated(4, 100)
    progress.checked(4, 1)
    progress.problem_finished()
    progress.generated(4, 60)
    line = lines[-1]
    assert line.startswith("progress: problems 2/10 | samples 12 | kept 1 (25%) |")
    assert "tok/s" in line and "| ETA " in line  # 8 problems left at the pace of the one made now


def test_a_terminal_gets_one_bar_redrawn_in_place_and_lines_above_it():
    screen = io.StringIO()
    lines: list[str] = []
    progress = Progress(3, lines.append, stream=screen, live=True)
    progress.teacher_started()
    progress.generated(2, 50)
    progress.problem_finished()
    tqdm.write("a line of factory's own", file=screen)  # what `terminal.echo` does
    progress.finish()
    frames = screen.getvalue().split("\r")
    assert frames[1].startswith("problems 0/3 | samples 0 | kept 0 (0%) |")  # drawn when the teacher is ready
    assert "a line of factory's own\n" in frames  # the bar is cleared for it, then drawn again below it
    assert frames[-1].startswith("problems 1/3 | samples 2 | kept 0 (0%) |")  # the last state stays on screen
    assert screen.getvalue().count("\n") == 2 and frames[-1].endswith("|\n")  # otherwise redrawn in place
    assert lines == []


class Clock:
    """time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def read_points(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_timeline_gets_a_point_every_2_s_while_the_terminal_stays_quiet(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    lines: list[str] = []
    timeline = tmp_path / "timeline.jsonl"
    progress = Progress(4, lines.append, live=False, timeline=timeline)  # prints every 10 s
    progress.teacher_started()
    for _ in range(5):  # 10 s of generation, an update each second
        clock.now += 1
        progress.generated(2, 30)
        progress.checked(2, 1)
    progress.problem_finished()
    progress.finish()
    points = read_points(timeline)
    assert [point["t"] for point in points] == [0, 1, 3, 5, 5]  # start, every 2 s, and the end
    assert points[0] == {"t": 0, "problems_done": 0, "samples": 0, "tokens": 0, "verified": 0, "kept": 0}
    assert points[-1] == {"t": 5, "problems_done": 1, "samples": 10, "tokens": 150, "verified": 10, "kept": 5}
    assert len(lines) == 2  # one line at the first update, one at the end: as quiet as without a timeline


def test_a_timeline_that_cannot_be_written_costs_the_timeline_not_the_run(tmp_path):
    lines: list[str] = []
    progress = Progress(1, lines.append, live=False, every_s=0, timeline=tmp_path / "missing" / "t.jsonl")
    progress.teacher_started()
    progress.generated(1, 10)
    progress.finish()
    assert sum("cannot append to" in line for line in lines) == 1  # said once, then no more tries
    assert lines[-1].startswith("progress: problems 0/1 | samples 1")
