"""The archive directory itself: where it is by default, and its `archive.json` format marker."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.mechanism_archive.index import INDEX_FILE, LOCK_SUFFIX, newer_format
from bilevel_evolve.mechanism_archive.models import FORMAT_VERSION
from bilevel_evolve.mechanism_archive.store import OBJECTS_DIR, TEMP_DIR

MARKER_FILE = "archive.json"
ARCHIVE_ENV = "EVOLVE_ARCHIVE"
DEFAULT_ARCHIVE_DIR = Path("runs") / "archive"
_OURS = {MARKER_FILE, INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm", f"{INDEX_FILE}-journal",
         f"{INDEX_FILE}{LOCK_SUFFIX}",
         OBJECTS_DIR, TEMP_DIR}


def _ours(name: str) -> bool:
    # `.archive.json.*.tmp` is a concurrent creator's marker on its way in.
    return name in _OURS or (name.startswith(f".{MARKER_FILE}.") and name.endswith(".tmp"))


def default_archive_dir() -> Path:
    """$EVOLVE_ARCHIVE when set, else runs/archive."""
    env = os.environ.get(ARCHIVE_ENV, "").strip()
    return Path(env) if env else DEFAULT_ARCHIVE_DIR


def prepare_root(root: Path, *, create: bool) -> None:
    """Check (or create) the archive directory and its format marker; raise a clear error otherwise."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file, not an archive directory", "pass a directory with --archive")
    marker = root / MARKER_FILE
    if not marker.exists():
        if not create:
            raise UsageError(
                f"no mechanism archive at {root}",
                f"pass --archive DIR (or set {ARCHIVE_ENV}); a run with --levels including 2 creates one")
        strangers = sorted(p.name for p in root.iterdir() if not _ours(p.name)) if root.exists() else []
        if strangers:
            raise UsageError(f"{root} is not a mechanism archive and not empty (holds {', '.join(strangers[:5])})",
                             "pass an empty or new directory as the archive")
        root.mkdir(parents=True, exist_ok=True)
        write_marker(root)
    links = sorted(p.name for p in root.iterdir() if p.is_symlink())
    if links:  # a write or a temp-folder cleanup through one would land outside the archive
        raise UsageError(f"the archive at {root} holds symbolic links ({', '.join(links[:5])}); an archive never "
                         "follows one out of itself", "replace them with the real files or folders")
    version = read_format_version(root)
    if version > FORMAT_VERSION:
        raise newer_format(root, version)
    if not create and not (root / INDEX_FILE).is_file():
        raise EvolveError(f"the archive at {root} has no {INDEX_FILE}",
                          "restore it from a backup; the objects/ directory alone does not hold the event history")


def write_marker(root: Path) -> None:
    """archive.json at this version's format. Concurrent writers write identical bytes and the replace is
    atomic, so either copy is fine; an older archive's marker is rewritten once its index is migrated."""
    atomic_write_bytes(root / MARKER_FILE, json.dumps({"format_version": FORMAT_VERSION}).encode() + b"\n")


def read_format_version(root: Path) -> int:
    marker = root / MARKER_FILE
    try:
        data = json.loads(marker.read_bytes())
    except (OSError, ValueError) as exc:
        raise EvolveError(f"{marker} is unreadable: {exc}",
                          f'it must read {{"format_version": {FORMAT_VERSION}}}; restore it from a backup') from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EvolveError(f"{marker} holds no valid format_version",
                          f'it must read {{"format_version": {FORMAT_VERSION}}}; restore it from a backup')
    return version
