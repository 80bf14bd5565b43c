"""Files on disk between stages: atomic writes, JSON lines, and stage-completion markers.

Every file is written to a temporary name and renamed into place, so a crash never leaves a torn file
under a name a later run would read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from factory.errors import FactoryError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


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
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("x", encoding="utf-8")
        self._handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a journal; a torn last line (no newline: the writer was killed) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                return  # torn by a crash mid-write; its results are generated again
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise FactoryError(
                        f"{path}:{number}: not a JSON line ({error.msg}); the file is damaged, "
                        "delete it to generate its samples again"
                    ) from None


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
