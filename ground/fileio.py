"""Crash-safe file primitives: atomic replace and append-only JSON lines."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write data to path so that readers see either the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    """Keep the first `keep` complete lines of path (atomically); return how many were dropped."""
    lines = list(iter_complete_lines(path))
    raw_size = path.stat().st_size if path.exists() else 0
    kept = b"".join(lines[:keep])
    if len(kept) == raw_size:
        return 0
    atomic_write_bytes(path, kept)
    return max(0, len(lines) - keep)
