"""The run directory: config.json (once), trace.jsonl (append-only), checkpoint.json (atomic)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilevel_evolve.engine.run.events import Event, parse_event
from bilevel_evolve.engine.wiring.run_config import FORMAT_VERSION, RunConfig
from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.ground.fileio import atomic_write_bytes, iter_complete_lines, truncate_lines
from bilevel_evolve.ground.records import SearchConfig

CONFIG_FILE = "config.json"
TRACE_FILE = "trace.jsonl"
CHECKPOINT_FILE = "checkpoint.json"
TRIALS_DIR = "trials"


class Checkpoint(BaseModel):
    """Live loop state after `steps_done` steps; the history itself lives in the trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format_version: int = FORMAT_VERSION
    steps_done: int
    trace_lines: int
    status: str = "running"
    incumbent_step: int | None = None
    noise_floor: float = 0.0
    search_config: SearchConfig = SearchConfig()
    agent_state: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)


class RunStore:
    """Owns one run directory. Writes are ordered so a crash anywhere leaves a resumable state:
    events are appended (flushed to the OS) before the checkpoint that counts them is replaced.
    fsync happens at most every `durable_every_s` seconds and at the end: a killed *process*
    loses nothing either way, only a power loss can roll back to the last fsynced checkpoint.
    """

    def __init__(self, path: Path, *, durable_every_s: float = 1.0) -> None:
        self.path = path
        self.durable_every_s = durable_every_s
        self._trace_fh: Any = None
        self._trace_lines = 0
        self._last_sync = 0.0

    # ---- creation and opening -------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: RunConfig) -> RunStore:
        if path.exists() and any(path.iterdir()):
            raise RunDirError(
                f"run directory {path} already exists and is not empty",
                f"continue it with `evolve resume {path}`, or pick a new --run-dir",
            )
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path / CONFIG_FILE, config.model_dump_json(indent=2).encode())
        store = cls(path)
        store._open_trace()
        return store

    @classmethod
    def open(cls, path: Path) -> RunStore:
        if not path.is_dir():
            raise RunDirError(f"{path} is not a directory",
                              "pass the run directory that `evolve run` printed")
        if not (path / CONFIG_FILE).is_file():
            raise RunDirError(
                f"{path} is not a run directory (no {CONFIG_FILE})",
                "pass a directory created by `evolve run` (default: runs/<run-id>)",
            )
        store = cls(path)
        store.config()  # validates early
        return store

    def config(self) -> RunConfig:
        raw = self._read_json(self.path / CONFIG_FILE)
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise RunDirError(
                f"{self.path} was written by a newer Bilevel Evolve (format {version} > {FORMAT_VERSION})",
                "upgrade bilevel-evolve to resume or report this run",
            )
        try:
            return RunConfig.model_validate(raw)
        except ValidationError as exc:
            raise RunDirError(f"{self.path / CONFIG_FILE} is invalid: {exc.errors()[0]['msg']}",
                              "restore config.json from a backup or start a new run") from None

    # ---- trace --------------------------------------------------------------------------------
    def _open_trace(self) -> None:
        self._trace_fh = (self.path / TRACE_FILE).open("ab")

    def append(self, event: Event) -> None:
        if self._trace_fh is None:
            self._open_trace()
        self._trace_fh.write(event.model_dump_json().encode() + b"\n")
        self._trace_fh.flush()
        self._trace_lines += 1

    @property
    def trace_lines(self) -> int:
        return self._trace_lines

    def events(self, limit: int | None = None) -> list[Event]:
        out: list[Event] = []
        for n, line in enumerate(iter_complete_lines(self.path / TRACE_FILE)):
            if limit is not None and n >= limit:
                break
            try:
                out.append(parse_event(line))
            except ValidationError:
                raise RunDirError(
                    f"{self.path / TRACE_FILE} line {n + 1} is not a valid event",
                    "the trace was edited or corrupted; restore it, or start a new run",
                ) from None
        return out

    def rewind_trace(self, keep_lines: int) -> tuple[list[Event], list[Event]]:
        """Cut the trace back to the checkpoint. Returns (kept events, discarded tail events)."""
        all_events = self.events()
        kept, tail = all_events[:keep_lines], all_events[keep_lines:]
        if len(kept) < keep_lines:
            raise RunDirError(
                f"{self.path / TRACE_FILE} has {len(kept)} events but the checkpoint counts {keep_lines}",
                "the trace was truncated by hand; restore it, or start a new run",
            )
        if self._trace_fh is not None:
            self._trace_fh.close()
        truncate_lines(self.path / TRACE_FILE, keep_lines)
        self._trace_lines = keep_lines
        self._open_trace()
        return kept, tail

    # ---- checkpoint ---------------------------------------------------------------------------
    def save_checkpoint(self, checkpoint: Checkpoint, *, force_durable: bool = False) -> None:
        now = time.monotonic()
        durable = force_durable or now - self._last_sync >= self.durable_every_s
        if durable and self._trace_fh is not None:
            os.fsync(self._trace_fh.fileno())  # the trace must be durable before the checkpoint
        atomic_write_bytes(self.path / CHECKPOINT_FILE, checkpoint.model_dump_json().encode(), fsync=durable)
        if durable:
            self._last_sync = now

    def load_checkpoint(self) -> Checkpoint | None:
        path = self.path / CHECKPOINT_FILE
        if not path.exists():
            return None
        raw = self._read_json(path)
        try:
            return Checkpoint.model_validate(raw)
        except ValidationError:
            raise RunDirError(f"{path} is invalid", "restore it from a backup or start a new run") from None

    def trial_dir(self, step: int) -> Path:
        return self.path / TRIALS_DIR / f"{step:05d}"

    def close(self) -> None:
        if self._trace_fh is not None:
            self._trace_fh.flush()
            os.fsync(self._trace_fh.fileno())
            self._trace_fh.close()
            self._trace_fh = None

    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(f"cannot read {path}: {exc}", "restore the file or start a new run") from None
