"""The run's progress display: a live line on a terminal, plain lines otherwise, with an ETA."""

from __future__ import annotations

import io

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


def test_a_terminal_gets_one_line_rewritten_in_place():
    screen = io.StringIO()
    lines: list[str] = []
    progress = Progress(3, lines.append, stream=screen, live=True)
    progress.teacher_started()
    progress.generated(2, 50)
    assert screen.getvalue().startswith("\r\x1b[K" + "problems 0/3 | samples 2")
    assert lines == []
    progress.finish()
    assert lines[-1].startswith("progress: problems 0/3 | samples 2")  # the last state stays on screen
