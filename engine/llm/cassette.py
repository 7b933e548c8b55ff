"""The cassette: an append-only JSONL record of every LLM exchange of a run.

One line per exchange, written with flush + fsync before the answer is used, so a crash loses at most
the line being written; a torn last line is dropped on read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.ground.fileio import atomic_write_bytes

CASSETTE_NAME = "cassette.jsonl"

log = structlog.get_logger(__name__)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatRequest(_Frozen):
    """Everything that decides what is sent to the endpoint (the API key excepted)."""

    model: str
    messages: tuple[dict[str, str], ...]
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = True
    # {"name", "schema"} of the answer, sent as a JSON-schema response format (structured answers); None when
    # the schema is in the prompt instead. Left out of the record when None, so older cassettes keep their hashes.
    response_schema: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_schema(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.response_schema is None:
            data.pop("response_schema", None)
        return data

    def digest(self, purpose: str) -> str:
        payload = {"purpose": purpose, "request": self.model_dump(mode="json")}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Usage(_Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class CassetteEntry(_Frozen):
    seq: int = Field(ge=1)
    purpose: str
    request_hash: str
    request: ChatRequest
    response: str
    finish_reason: str | None = None
    usage: Usage
    cost_usd: float
    latency_s: float
    attempts: int
    recorded_at: str


class Cassette:
    """One cassette file. Reading tolerates a torn last line; truncation is atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_run(cls, run_dir: Path) -> Cassette:
        return cls(Path(run_dir) / CASSETTE_NAME)

    def read(self) -> list[CassetteEntry]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = raw.split(b"\n")
        entries: list[CassetteEntry] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = CassetteEntry.model_validate(json.loads(line))
            except (ValueError, ValidationError) as exc:
                if number == len(lines):  # the last line, with no newline: torn by a crash
                    log.warning("cassette_torn_line_dropped", path=str(self.path), line=number)
                    break
                raise RunDirError(
                    f"{self.path}: line {number} is not a cassette entry ({type(exc).__name__})",
                    "the cassette was edited or corrupted; restore it or start a new run",
                ) from None
            if entry.seq != len(entries) + 1:
                raise RunDirError(
                    f"{self.path}: line {number} has exchange number {entry.seq}, expected {len(entries) + 1}",
                    "the cassette was edited or corrupted; restore it or start a new run",
                )
            entries.append(entry)
        return entries

    def append(self, entry: CassetteEntry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = entry.model_dump_json() + "\n"
        with open(self.path, "ab") as fh:
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def drop_torn_tail(self) -> list[CassetteEntry]:
        """Remove a torn last line (from a crash mid-write) so appends start on a clean line."""
        entries = self.read()
        if self.path.exists() and self.path.stat().st_size and not _ends_with_newline(self.path):
            self.write_all(entries)
        return entries

    def truncate(self, keep: int) -> None:
        """Keep the first `keep` entries, replacing the file atomically."""
        entries = self.read()[:keep]
        self.write_all(entries)

    def write_all(self, entries: list[CassetteEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, b"".join((e.model_dump_json() + "\n").encode("utf-8") for e in entries))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"

