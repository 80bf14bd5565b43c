"""Running a run that kills itself (SIGKILL) in a child process, for the kill tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path


def run_killable(script: Path, args: list[str], log: Path, timeout: float = 120) -> int:
    """Run `python script args...` and return its exit status (negative: the signal that ended it).

    Output goes to `log` (appended), not a pipe: the verifier's pool workers outlive a killed run for a
    moment and would hold a pipe open. The child has its own session, so that they go with it."""
    with log.open("a") as handle:
        process = subprocess.Popen(
            [sys.executable, str(script), *args], stdout=handle, stderr=handle, start_new_session=True
        )
        try:
            return process.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
