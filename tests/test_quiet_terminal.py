"""Quiet by default: what engines and libraries print goes to the run folder's logs/engine.log; the terminal
shows factory's own lines, one progress bar and the summary. Captured as a terminal shows it, on a pty."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from killable import as_at_a_terminal

from factory.cli import main
from factory.golds import GoldTally
from factory.job import Summary

# What vLLM, torch and the libraries under it print; none of it may reach the terminal.
ENGINE_LINE = re.compile(
    r"Triton|NUMA|tcmalloc|FutureWarning|DeprecationWarning|UserWarning|Loading safetensors|"
    r"\bINFO\b|\bWARNING\b|\[W\d+|it/s\]"
)
ROWS, COLUMNS = 30, 100


def in_terminal(
    command: list[str], env: dict[str, str], timeout: float, interrupt_when: Callable[[], bool] | None = None
) -> tuple[int, list[str]]:
    """Run `command` on a pty of ROWS x COLUMNS; its exit code and the rows a terminal would show (a row
    redrawn with \\r shows its last drawing). Once `interrupt_when()` is true, its whole process group gets
    SIGINT, as Ctrl-C at a terminal sends it (the engine's and the verifier's processes too)."""
    controller, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        command,
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        env=env,
        start_new_session=interrupt_when is not None,
        preexec_fn=as_at_a_terminal,
    )
    os.close(child_side)
    output = bytearray()
    while True:
        if interrupt_when is not None and interrupt_when():
            os.killpg(process.pid, signal.SIGINT)
            interrupt_when = None
        if not select.select([controller], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every holder of the pty's other side has closed it
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    returncode = process.wait(timeout=timeout)
    text = output.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return returncode, [row.rsplit("\r", 1)[-1].rstrip() for row in text.rstrip("\n").split("\n")]


# Writes what an engine writes, in every way it writes it, inside `quiet`; then fails inside it twice.
ENGINE_LIKE = textwrap.dedent(
    r"""
    import ctypes, logging, os, subprocess, sys, warnings
    from pathlib import Path
    from factory import terminal
    from factory.errors import FactoryError

    logs = Path(sys.argv[1])
    with terminal.quiet(logs, "factory run one.yaml"):
        terminal.echo("starting the engine")
        os.write(2, b"[W1123 utils.cpp:85] NUMA binding: from C++ on fd 2\n")
        os.write(1, b"INFO vllm on fd 1\n")
        ctypes.CDLL(None).printf(b"buffered by C stdio, from C\n")
        print("print to stdout")
        warnings.warn("a deprecated argument", FutureWarning)
        logging.getLogger("vllm").warning("WARNING from a Python logger")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('an engine child process\\n')"])
        terminal.echo("engine ready")
    print("the summary, on stdout")
    os.write(2, b"fd 2 is the terminal again\n")
    for engine_wrote in (True, False):
        try:
            with terminal.quiet(logs, "factory run two.yaml"):
                if engine_wrote:
                    os.write(2, b"engine traceback: the root cause\n")
                raise FactoryError("vLLM could not load")
        except FactoryError as error:
            terminal.echo(f"error: {error}")
    """
)


def test_engine_output_goes_to_the_log_and_factory_lines_to_the_terminal(tmp_path):
    logs = tmp_path / "run" / "logs"
    returncode, rows = in_terminal([sys.executable, "-c", ENGINE_LIKE, str(logs)], dict(os.environ), 60)
    assert returncode == 0
    assert rows == [
        "starting the engine",
        "engine ready",
        "the summary, on stdout",
        "fd 2 is the terminal again",
        f"error: vLLM could not load (engine output: {logs / 'engine.log'})",  # the engine's account is there
        "error: vLLM could not load",  # nothing in the log to point to
    ]
    log = (logs / "engine.log").read_text()
    assert log.count("=====") == 3 * 2 and "factory run one.yaml (pid " in log  # a header per invocation
    for line in (
        "NUMA binding: from C++ on fd 2",
        "INFO vllm on fd 1",
        "buffered by C stdio, from C",
        "print to stdout",
        "FutureWarning: a deprecated argument",
        "WARNING from a Python logger",
        "an engine child process",
        "engine traceback: the root cause",
    ):
        assert line in log
    assert "starting the engine" not in log and "error:" not in log


def test_without_a_terminal_factory_lines_go_to_stderr_and_the_summary_to_stdout(tmp_path):
    logs = tmp_path / "logs"
    command = [sys.executable, "-c", ENGINE_LIKE, str(logs)]
    ran = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "the summary, on stdout\n"
    assert ran.stderr.splitlines() == [
        "starting the engine",
        "engine ready",
        "fd 2 is the terminal again",
        f"error: vLLM could not load (engine output: {logs / 'engine.log'})",
        "error: vLLM could not load",
    ]


@pytest.mark.parametrize("verbose", [False, True])
def test_a_run_logs_in_its_folder_unless_verbose_and_its_errors_stay_one_line(tmp_path, verbose):
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"id": "a", "problem": "1 + 1", "answer": "2"}\n{broken\n')
    config = tmp_path / "run.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\nproblems: {{paths: [{problems}]}}\n")
    result = CliRunner().invoke(main, ["run", str(config), *(["-v"] if verbose else [])])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {problems}:2: ") and result.output.count("\n") == 1
    log = tmp_path / "run" / "logs" / "engine.log"
    assert log.exists() is not verbose
    if not verbose:  # a header, and no pointer to a log that has nothing else
        assert f"factory run {config} (pid " in log.read_text() and "engine output" not in result.output


def expected_summary(run_dir: Path) -> list[str]:
    recorded = json.loads((run_dir / "summary.json").read_text())
    fields = {field.name: recorded[field.name] for field in dataclasses.fields(Summary)}
    fields["golds"] = GoldTally(**fields["golds"])
    return Summary(**fields).lines()


@pytest.mark.engine
@pytest.mark.parametrize("on_a_terminal", [True, False], ids=["pty", "pipes"])
def test_the_quickstart_shows_no_engine_line_and_ends_with_the_summary(
    tmp_path, embedded_model, on_a_terminal
):
    run_dir = tmp_path / "quickstart"
    small = ("run_dir=" + str(run_dir), "problems.limit_per_file=1", "sampling.max_tokens=64")
    command = [sys.executable, "-m", "factory.cli", "run", "configs/quickstart.yaml"]
    command += [arg for value in small for arg in ("--set", value)]
    # As a user's shell has it: the test suite's own quieting of vLLM left out.
    env = {name: value for name, value in os.environ.items() if name != "VLLM_LOGGING_LEVEL"}
    if on_a_terminal:
        returncode, rows = in_terminal(command, env, 600)
    else:
        ran = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, env=env)
        returncode, rows = ran.returncode, (ran.stderr + ran.stdout).splitlines()
        assert ran.stdout.splitlines() == expected_summary(run_dir)
    assert returncode == 0, "\n".join(rows)
    assert [row for row in rows if ENGINE_LINE.search(row)] == []
    assert len(rows) <= 25, "\n".join(rows)  # one screen
    assert rows[-len(expected_summary(run_dir)) :] == expected_summary(run_dir)
    assert any(row.startswith("vLLM ready in") for row in rows)
    log = (run_dir / "logs" / "engine.log").read_text()
    assert "factory run configs/quickstart.yaml" in log and "INFO" in log  # vLLM's start-up, in full


@pytest.mark.engine
def test_ctrl_c_at_a_terminal_mid_generation_ends_in_one_line_and_the_same_command_goes_on(
    tmp_path, embedded_model
):
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "factory.cli",
        "run",
        "configs/quickstart.yaml",
        "--set",
        f"run_dir={run_dir}",
    ]
    command += ["--set", "problems.limit_per_file=8", "--set", "sampling.max_tokens=64"]  # 32 draws
    env = {name: value for name, value in os.environ.items() if name != "VLLM_LOGGING_LEVEL"}

    def generating() -> bool:
        return any(part.stat().st_size for part in (run_dir / "samples").glob("part-*.jsonl"))

    returncode, rows = in_terminal(command, env, 600, interrupt_when=generating)
    assert returncode == 130, "\n".join(rows)
    assert [row for row in rows if "Traceback" in row or "KeyboardInterrupt" in row] == [], "\n".join(rows)
    assert "interrupted: finished work is saved; run the same command again to continue" in rows[-2:]
    # The engine runs every request at once: the first journal write may already hold all of them.
    saved = sum(1 for part in (run_dir / "samples").glob("part-*.jsonl") for _ in part.open())
    again = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["samples"], summary["generated_now"]) == (32, 32 - saved)  # what was saved stays
