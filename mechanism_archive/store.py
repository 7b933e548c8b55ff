"""Content-addressed object directories: `objects/<id[:2]>/<id>/` with the source, record and reports.

An object directory is written whole in a private temp directory, fsynced, then renamed into place,
so a reader (or a crash) sees either no object or a complete one. Callers hold the index's write
lock around `write` and `clear_temp`, which is what makes "a temp dir exists" mean "its writer died".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.ground.fileio import fsync_dir
from bilevel_evolve.mechanism_archive.models import RecordFile

OBJECTS_DIR = "objects"
TEMP_DIR = ".tmp"
SOURCE_FILE = "source.py"
RECORD_FILE = "record.json"
REPORT_FILES = {"gate": "gate.json", "box": "box.json"}
ID_RE = re.compile(r"^[0-9a-f]{64}$")
_BUCKET_RE = re.compile(r"^[0-9a-f]{2}$")
VERIFY_FIX = "run `evolve archive verify` to list every problem; restore the archive from a backup"


def corrupt(mechanism_id: str, what: str) -> EvolveError:
    return EvolveError(f"archive record {mechanism_id[:12]} is corrupted: {what}", VERIFY_FIX)


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / OBJECTS_DIR
        self.temp = root / TEMP_DIR

    def path(self, mechanism_id: str) -> Path:
        return self.objects / mechanism_id[:2] / mechanism_id

    def exists(self, mechanism_id: str) -> bool:
        return self.path(mechanism_id).is_dir()

    # ---- writing (caller holds the index write lock) ---------------------------------------
    def write(self, source: bytes, record: RecordFile, reports: dict[str, dict[str, Any] | None]) -> bool:
        """Store a new object; return False (writing nothing) when an intact one already exists."""
        final = self.path(record.id)
        if final.exists():
            existing = self._read_bytes(record.id, SOURCE_FILE)
            if existing != source:
                raise corrupt(record.id, "its stored source.py does not match its id")
            return False
        self.temp.mkdir(parents=True, exist_ok=True)
        tmp = self.temp / uuid.uuid4().hex
        tmp.mkdir()
        try:
            _write_synced(tmp / SOURCE_FILE, source)
            _write_synced(tmp / RECORD_FILE, record.model_dump_json(indent=2).encode())
            for which, report in reports.items():
                if report is not None:
                    data = json.dumps(report, indent=2, allow_nan=False, sort_keys=True).encode()
                    _write_synced(tmp / REPORT_FILES[which], data)
            fsync_dir(tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.parent.is_symlink():  # the rename would move the object out of the archive
                raise EvolveError(f"{final.parent} is a symbolic link; an archive never follows one out of itself",
                                  VERIFY_FIX)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(final.parent)
        return True

    def clear_temp(self) -> int:
        """Remove temp directories left by writers that died before their rename."""
        if not self.temp.is_dir():
            return 0
        removed = 0
        for entry in self.temp.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        return removed

    # ---- reading ----------------------------------------------------------------------------
    def read_source(self, mechanism_id: str) -> bytes:
        return self._read_bytes(mechanism_id, SOURCE_FILE)

    def read_record(self, mechanism_id: str) -> RecordFile:
        raw = self._read_bytes(mechanism_id, RECORD_FILE)
        try:
            return RecordFile.model_validate_json(raw)
        except ValidationError as exc:
            raise corrupt(mechanism_id, f"{RECORD_FILE} is not a valid record ({_first_error(exc)})") from None

    def read_report(self, mechanism_id: str, which: str) -> dict[str, Any] | None:
        path = self.path(mechanism_id) / REPORT_FILES[which]
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise corrupt(mechanism_id, f"{path.name} is unreadable ({exc})") from None
        if not isinstance(data, dict):
            raise corrupt(mechanism_id, f"{path.name} is not a JSON object")
        return data

    def iter_entries(self) -> Iterator[tuple[str, Path]]:
        """Every entry under objects/ as (name, path), including ones that are not valid object dirs."""
        if not self.objects.is_dir():
            return
        for bucket in sorted(self.objects.iterdir()):
            if not bucket.is_dir() or not _BUCKET_RE.match(bucket.name):
                yield bucket.name, bucket
                continue
            for entry in sorted(bucket.iterdir()):
                yield entry.name, entry

    def _read_bytes(self, mechanism_id: str, name: str) -> bytes:
        path = self.path(mechanism_id) / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            missing = name if path.parent.is_dir() else f"its directory {path.parent.relative_to(self.root)}"
            raise corrupt(mechanism_id, f"{missing} is missing") from None
        except OSError as exc:
            raise corrupt(mechanism_id, f"{name} is unreadable ({exc.strerror})") from None


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "file"
    return f"{where}: {err['msg']}"
