"""Bounded verification (issue 22): a hostile answer costs at most its deadline, `factory verify` never writes
over its input, and it exits cleanly every time."""

from __future__ import annotations

import json
import os
import signal
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.verify_traces import CHUNK_ROWS
from filters import EXTRACTION_MODES, VerifyConfig, find_answer, verify, verify_many
from filters.verify import IN_PROCESS_CHARS, shared_pool

FACTORY = Path(sys.executable).with_name("factory")


def letters(size: int) -> str:
    """Letters without spaces: one word as long as the answer."""
    return (string.ascii_letters * (size // len(string.ascii_letters) + 1))[:size]


def filled(head: str, unit: str, tail: str = "", size: int = IN_PROCESS_CHARS) -> str:
    """`head`, `unit` repeated, `tail`: `size` characters at most, the most read in process."""
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


# Before, each took from seconds to hours (measured at 8 KB and scaled) or grew exponentially; now each is
# read in about 0.1 s.
HOSTILE = {
    "letters without spaces": letters(IN_PROCESS_CHARS),  # quadratic: 0.6 s at 16 KB, 142 s at 256 KB
    "a long run of spaces": filled("x", " ", "x"),  # 9 s at 8 KB
    "a long run of blank lines": filled("1", "\n", "x"),  # 5 s at 8 KB
    "the word for answer and spaces": filled("答案", " ", "x"),  # 8 s at 8 KB
    "sign-offs before a last word": filled("", "Good luck ", "x"),  # exponential: 22 of them took 8 s
    "nested boxes": "\\boxed{" * (IN_PROCESS_CHARS // 8 - 1) + "1" + "}" * (IN_PROCESS_CHARS // 8 - 1),
    "boxes never closed": filled("", "\\boxed{"),
    "opening answer tags": filled("", "<answer>"),
    "a number grouped by spaces": filled("1", " 000"),
    "a value restated": filled("The answer is ", "$k$ is ", "1"),
    "negations": filled("The answer is ", "not 1, it is ", "2"),
    "an answer line, then spaces": filled("A:", " ", "x\ny"),
    "calls in a word": filled("", "f", "('"),
    "dollar signs": filled("", "$"),
}


@pytest.mark.parametrize("mode", EXTRACTION_MODES)
@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_extraction_reads_a_hostile_64_kb_answer_within_a_second(text, mode):
    assert len(text) <= IN_PROCESS_CHARS  # read in process, outside any deadline
    started = time.monotonic()
    find_answer(text, mode=mode)
    assert time.monotonic() - started < 1.0


@pytest.fixture(scope="module")
def warm_pool():
    """verify()'s pool, warm with its spare: a deadline does not count a pool's start, a test's clock does."""
    pool = shared_pool()
    pool.start()
    yield pool
    pool.close()


@pytest.mark.parametrize("mode", EXTRACTION_MODES)
def test_a_256_kb_answer_is_verified_within_its_timeout(warm_pool, mode):
    config = VerifyConfig(timeout_s=2.0, extraction=mode)
    started = time.monotonic()
    verdict = verify("42", letters(256 * 1024), config)
    assert time.monotonic() - started < config.timeout_s + 1.0
    assert (verdict.status, verdict.reason) == ("cannot_tell", "no_answer")


@pytest.mark.parametrize("mode", EXTRACTION_MODES)
def test_an_answer_read_past_its_deadline_is_cannot_tell_timed_out(warm_pool, mode):
    warm_pool.start()  # the previous case's kill left a spare warming up
    config = VerifyConfig(timeout_s=0.2, extraction=mode)
    started = time.monotonic()
    verdict = verify("42", "x" + " " * 4 * 1024 * 1024 + "x", config)  # seconds to read, even linearly
    assert time.monotonic() - started < config.timeout_s + 1.0
    assert (verdict.status, verdict.reason) == ("cannot_tell", "timed_out")


def test_a_long_answer_among_others_keeps_its_verdict_and_theirs(warm_pool):
    warm_pool.start()
    # Past IN_PROCESS_CHARS: found and compared in the pool.
    long_response = "Let me think. " * 10 * 1024 + "So the answer is \\boxed{\\sqrt{8}}."
    pairs = [("7", "\\boxed{7}"), ("2\\sqrt{2}", long_response), ("5", "\\boxed{6}")]
    verdicts = verify_many(pairs, VerifyConfig(timeout_s=5.0), workers=1)
    assert [(v.status, v.reason, v.found_by) for v in verdicts] == [
        ("correct", "exact_match", "boxed"),
        ("correct", "equal_value", "boxed"),
        ("incorrect", "wrong_answer", "boxed"),
    ]


TRACE = {"id": "q1", "answer": "7", "response": "3 + 4 = 7, so \\boxed{7}"}


def same_path(path: Path) -> Path:
    return path


def spelled_otherwise(path: Path) -> Path:
    return path.parent / "." / path.name


def symlink(path: Path) -> Path:
    link = path.with_name("link.jsonl")
    link.symlink_to(path)
    return link


def hard_link(path: Path) -> Path:
    link = path.with_name("link.jsonl")
    link.hardlink_to(path)
    return link


@pytest.mark.parametrize("out_for", [same_path, spelled_otherwise, symlink, hard_link])
def test_verdicts_never_replace_the_input(tmp_path, out_for):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(TRACE) + "\n")
    before = path.read_bytes()
    out = out_for(path)
    result = CliRunner().invoke(main, ["verify", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == f"error: the output {out} is the input file {path}; name another file with -o\n"
    assert path.read_bytes() == before


def test_a_summary_that_would_replace_the_input_is_refused(tmp_path):
    path = tmp_path / "traces.summary.json"  # what `-o traces.jsonl` would write its summary to
    path.write_text(json.dumps(TRACE) + "\n")
    out = tmp_path / "traces.jsonl"
    result = CliRunner().invoke(main, ["verify", str(path), "--format", "jsonl", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output == f"error: the output {path} is the input file {path}; name another file with -o\n"
    assert not out.exists()


DECIDED_IN_PROCESS = {"id": "q", "answer": "7", "response": "so \\boxed{7}"}
NEEDS_SYMPY = {"id": "s", "answer": "2\\sqrt{2}", "response": "so \\boxed{\\sqrt{8}}"}
NO_RESPONSE = {"id": "x", "answer": "1"}
MISSING = (
    "field 'response' is missing (columns present: id, answer); "
    "name the response column with --response-field"
)

# (rows, exit code, the line on stderr, given the file's path). A file whose first chunk needs sympy starts
# the pool and its spare; the command then ends (or fails on the next chunk) while the spare is still
# starting: what hung 1 run in 10 before.
RUNS = {
    "decided in process": ([DECIDED_IN_PROCESS] * 20, 0, lambda path: ""),
    "a missing column on the first row": ([NO_RESPONSE], 1, lambda path: f"error: {path}:1: {MISSING}\n"),
    "the pool just started": ([DECIDED_IN_PROCESS] * (CHUNK_ROWS - 1) + [NEEDS_SYMPY], 0, lambda path: ""),
    "a missing column just after the pool started": (
        [DECIDED_IN_PROCESS] * (CHUNK_ROWS - 1) + [NEEDS_SYMPY, NO_RESPONSE],
        1,
        lambda path: f"error: {path}:{CHUNK_ROWS + 1}: {MISSING}\n",
    ),
}
# A run takes 0.3 s, 2-3 s with the pool; a hang lasted 10 minutes and more.
RUN_TIMEOUT_S = 60


def run_factory_verify(path: Path, out: Path) -> tuple[int | None, str]:
    """Exit code (None if it did not exit in time) and stderr of the real command."""
    command = [str(FACTORY), "verify", str(path), "--workers", "1", "-o", str(out)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its pool's workers too
        _, stderr = process.communicate()
        return None, stderr
    return process.returncode, stderr


@pytest.mark.reliability
def test_factory_verify_exits_cleanly_every_time(tmp_path, reliability_tally):
    files = {}
    for name, (rows, code, line) in RUNS.items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        files[name] = (path, code, line(path))
    names = [name for _ in range(50 // len(RUNS) + 1) for name in RUNS][:50]

    def run(at: int) -> tuple[str, int | None, str]:
        path = files[names[at]][0]
        return (names[at], *run_factory_verify(path, tmp_path / f"verdicts-{at}.jsonl"))

    with ThreadPoolExecutor(2) as runs:
        results = list(runs.map(run, range(len(names))))
    wrong = [(name, code, stderr) for name, code, stderr in results if (code, stderr) != files[name][1:]]
    reliability_tally("`factory verify` runs that hung or did not end cleanly", len(wrong), len(results))
    assert not wrong, wrong
