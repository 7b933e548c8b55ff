"""What a trial left in its folder (trials/NNNNN/): each file, with the tail of the text ones."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bilevel_evolve.engine.run.store import RunStore

TAIL_BYTES = 8192
TEXT_SUFFIXES = (".log", ".txt", ".out", ".err", ".json", ".jsonl", ".csv")


def trial_files(run_dir: Path, step: int) -> dict[str, Any]:
    folder = RunStore(run_dir).trial_dir(step)
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    files = []
    for path in entries:
        if path.is_symlink() or not path.is_file():  # a trial's link could point anywhere on the host
            continue
        size = path.stat().st_size
        tail = _tail(path, size) if path.suffix in TEXT_SUFFIXES else None
        files.append({"name": path.name, "bytes": size, "tail": tail, "truncated": tail is not None and
                      size > TAIL_BYTES})
    return {"step": step, "folder": str(folder), "files": files}


def _tail(path: Path, size: int) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        return fh.read(TAIL_BYTES).decode("utf-8", "replace")
