"""Crash-safe file primitives: atomic replace and append-only JSON lines."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write data to path so that readers see either the old file or the new one, never a mix."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new private file next to path: named by this process (cheap; a checkpoint is written every
    step), or a random name when that one exists (another thread's write, a crashed attempt's leftover)."""
    tmp = os.path.join(path.parent, f".{path.name}.{os.getpid()}.tmp")
    try:
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), tmp
    except FileExistsError:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_complete_lines(path: Path) -> Iterator[bytes]:
    """Yield the lines of a JSON-lines file, dropping a torn last line left by a crash."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield line


def truncate_lines(path: Path, keep: int) -> int:
    """Keep the first `keep` complete lines of path; return how many were dropped. The file is read as a
    stream and cut in one truncate call, which leaves the kept lines untouched whenever it is interrupted."""
    if not path.exists():
        return 0
    kept_bytes, lines = 0, 0
    for line in iter_complete_lines(path):
        if lines < keep:
            kept_bytes += len(line)
        lines += 1
    if kept_bytes == path.stat().st_size:
        return 0
    os.truncate(path, kept_bytes)
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    return max(0, lines - keep)
