"""Files on disk between stages: atomic writes, JSON lines, stage-completion markers, and the lock that
keeps a run folder to one writer.

Every file is written to a temporary name and renamed into place, so a crash never leaves a torn file
under a name a later run would read. A disk that fills up stops the run with one line naming the file
(`disk_full`); what was written before stays, and the same command goes on once there is room.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from factory.errors import FactoryError

# A full disk and a full quota have the same remedy.
_NO_ROOM = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


@contextmanager
def disk_full(path: Path) -> Iterator[None]:
    """Turn a write refused for want of space, inside the block, into one line naming `path`."""
    try:
        yield
    except OSError as error:
        if error.errno not in _NO_ROOM:
            raise
        raise FactoryError(
            f"{_NO_ROOM[error.errno]} writing {path}; free space and run the same command again"
        ) from None


@contextmanager
def creating(path: Path) -> Iterator[None]:
    """Turn a refusal to make `path` inside the block (a file where its folder should be, a folder where it
    should be, a read-only or forbidden folder) into one line naming what is in the way. A full disk is
    `disk_full`'s."""
    try:
        yield
    except OSError as error:
        if error.errno in _NO_ROOM:
            raise
        if isinstance(error, (FileExistsError, NotADirectoryError)):
            blocking = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), path.parent)
            problem = f"{blocking} is a file, not a folder; move it away"
        elif isinstance(error, IsADirectoryError):
            problem = "it is a folder; move it away"
        else:
            reason = os.strerror(error.errno) if error.errno else str(error)
            problem = f"{reason}; make {path.parent} writable"
        raise FactoryError(f"cannot write {path}: {problem} and run the same command again") from None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block ends without error. The file gets the
    permissions the umask gives, as one made by `open` would."""
    with disk_full(path):
        with creating(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = _new_file_beside(path)
        try:
            yield temporary
            with creating(path):
                os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


def _new_file_beside(path: Path) -> Path:
    """An empty file of a new name beside `path`. Made with `os.open` and mode 0666, which the kernel narrows
    by the umask: `tempfile.mkstemp` makes 0600 whatever the umask, and a published card, manifest or report
    would be unreadable to everyone else (reading the umask instead would set it: `os.umask` is both)."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue  # a name drawn twice
        return temporary


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


class Journal:
    """An append-only JSON-lines file for results that must survive a crash the moment they exist.

    Each `append` writes whole lines and fsyncs them. A crash can leave at most one torn last line, which
    `read_journal` never returns. A journal is never reopened: a later run starts a new file. The file is
    made on the first append, so an invocation with nothing to record leaves none behind.

    Unbuffered: an append that fails (a full disk) leaves nothing in a buffer for `close` to write after
    it, so the file ends at most in one torn line, which the next invocation cuts off.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        data = memoryview("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode())
        with disk_full(self.path):
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("xb", buffering=0)
            while data:
                data = data[self._file.write(data) :]
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def numbered_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each complete line of a journal; a torn last line (no newline: the
    writer was killed) is skipped."""
    # Bytes, each line decoded alone: a line that is not UTF-8 (damaged by hand or by a disk) is named
    # with its number, as a line that is not JSON is.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return  # torn by a crash mid-write; its results are generated again
            if raw.strip():
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as error:
                    why = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
                    raise FactoryError(
                        f"{path}:{number}: not a JSON line ({why}); the file is damaged, "
                        "delete it to generate its samples again"
                    ) from None
                yield number, row


def read_journal(path: Path) -> Iterator[Any]:
    """The complete lines of a journal, parsed (see `numbered_rows`)."""
    for _, row in numbered_rows(path):
        yield row


def drop_torn_tail(path: Path) -> None:
    """Cut a journal back to its last complete line (a crash mid-write leaves a torn one)."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        handle.truncate(data.rfind(b"\n") + 1)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: Path, data: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, default=str)
        handle.write("\n")


def fingerprint(*parts: Any) -> str:
    """A short hash of JSON-able values: what a stage's output depends on."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class StageMarkers:
    """`run_dir/stages/NAME.done` holds the fingerprint of the config a folder of results was made with."""

    def __init__(self, run_dir: Path) -> None:
        self._dir = run_dir / "stages"

    def is_done(self, name: str, inputs: str) -> bool:
        marker = self._dir / f"{name}.done"
        return marker.exists() and marker.read_text().strip() == inputs

    def mark_done(self, name: str, inputs: str) -> None:
        with atomic_open(self._dir / f"{name}.done") as handle:
            handle.write(inputs + "\n")


LOCK_FILE = "run.lock"


@contextmanager
def sole_writer(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir` for this process while the block runs; another process asking for it meanwhile stops
    with one line naming this one.

    A POSIX record lock (`lockf`) rather than `flock`: it belongs to this process alone, so a child forked
    from it (an engine's worker) never keeps the folder locked after it, and the kernel lets go of it the
    moment the process ends, however it ends: no stale lock to remove by hand after a crash.
    """
    path = run_dir / LOCK_FILE
    with disk_full(path):
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    with handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FactoryError(
                f"{run_dir} is in use by {holder}; wait for it to finish or stop it, then run the command again"
            ) from None
        with disk_full(path):
            handle.seek(0)
            handle.truncate()
            handle.write(f"factory (pid {os.getpid()} on {socket.gethostname()})\n")
            handle.flush()
        yield
