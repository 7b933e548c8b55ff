"""The archive as the dashboard reads it: opened once it exists, never recovered or written by us."""

from __future__ import annotations

import threading
from pathlib import Path

from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.index import INDEX_FILE
from bilevel_evolve.mechanism_archive.layout import MARKER_FILE


class ArchiveReader:
    """Opens the archive lazily (a live run may create it after the dashboard starts)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._archive: Archive | None = None
        self._lock = threading.Lock()

    def get(self) -> Archive | None:
        if self.path is None:
            return None
        with self._lock:
            if self._archive is None and (self.path / MARKER_FILE).is_file() and (self.path / INDEX_FILE).is_file():
                # recover_now=False: cleaning up after a killed writer is the writer's job, not a viewer's
                self._archive = Archive.open(self.path, recover_now=False)
            return self._archive

    def stamp(self) -> tuple[int, ...]:
        """Changes whenever the index does (its WAL file takes every write before a checkpoint)."""
        if self.path is None:
            return ()
        out: list[int] = []
        for name in (INDEX_FILE, f"{INDEX_FILE}-wal"):
            try:
                st = (self.path / name).stat()
            except FileNotFoundError:
                out += [0, 0]
                continue
            out += [st.st_size, st.st_mtime_ns]
        return tuple(out)

    def close(self) -> None:
        with self._lock:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
