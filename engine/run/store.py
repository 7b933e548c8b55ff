"""The run directory: config.json (atomic; rewritten only when a resume raises the run's limits),
trace.jsonl (append-only), checkpoint.json (atomic).

The trace is read as a stream (`iter_events`), never whole, so resuming or reporting a long run takes
memory for its state, not for its trace. A run directory never follows a symbolic link out of itself:
one among its entries, or as trials/ or a trial's folder, is refused before anything is written or
deleted through it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

from bilevel_evolve.engine.run.events import Event, fitted_fields, parse_event
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

    def to_json(self) -> bytes:
        """The checkpoint as JSON. A state a host reported may hold text JSON cannot encode (a lone
        surrogate in a mechanism's name): only then are its texts made encodable, and nothing is cut or
        dropped, since every value of a checkpoint is needed whole to resume. The common case costs one
        encoding, not a walk over every value at every step."""
        try:
            return self.model_dump_json().encode()
        except (PydanticSerializationError, UnicodeEncodeError):
            unlimited = sys.maxsize
            fitted = fitted_fields(Checkpoint, self.model_dump(), text_limit=unlimited, text_budget=unlimited,
                                   max_items=unlimited, max_depth=unlimited)
            return Checkpoint.model_validate(fitted).model_dump_json().encode()


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
        if path.is_symlink() and not path.exists():
            raise RunDirError(f"run directory {path} is a dangling symbolic link", "pick a new --run-dir")
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
        _refuse_links(path)
        store = cls(path)
        store.config()  # validates early
        return store

    def replace_config(self, config: RunConfig) -> None:
        """Record the run's raised limits (`evolve resume --iterations/--max-cost`): the whole file is
        replaced at once and made durable, so a reader sees the old config or the new one, never a mix."""
        if config.run_id != self.config().run_id:
            raise ValueError("a run's config may change its limits, not its id")
        atomic_write_bytes(self.path / CONFIG_FILE, config.model_dump_json(indent=2).encode(), fsync=True)

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

    def iter_events(self, limit: int | None = None) -> Iterator[Event]:
        """The trace's events in order, one line at a time (at most `limit` of them)."""
        for n, line in enumerate(iter_complete_lines(self.path / TRACE_FILE)):
            if limit is not None and n >= limit:
                return
            try:
                yield parse_event(line)
            except ValidationError:
                raise RunDirError(
                    f"{self.path / TRACE_FILE} line {n + 1} is not a valid event",
                    "the trace was edited or corrupted; restore it, or start a new run",
                ) from None

    def events(self, limit: int | None = None) -> list[Event]:
        """The whole trace in memory: for callers that need it all at once (prefer iter_events)."""
        return list(self.iter_events(limit))

    def rewind_trace(self, keep_lines: int) -> tuple[TraceEvents, list[Event]]:
        """Cut the trace back to the checkpoint. Returns (the kept events, read again on each iteration,
        and the discarded tail events). Every line is checked before anything is cut."""
        kept, tail = 0, []
        for event in self.iter_events():
            if kept < keep_lines:
                kept += 1
            else:
                tail.append(event)
        if kept < keep_lines:
            raise RunDirError(
                f"{self.path / TRACE_FILE} has {kept} events but the checkpoint counts {keep_lines}",
                "the trace was truncated by hand; restore it, or start a new run",
            )
        if self._trace_fh is not None:
            self._trace_fh.close()
        truncate_lines(self.path / TRACE_FILE, keep_lines)
        self._trace_lines = keep_lines
        self._open_trace()
        return TraceEvents(self, keep_lines), tail

    # ---- checkpoint ---------------------------------------------------------------------------
    def save_checkpoint(self, checkpoint: Checkpoint, *, force_durable: bool = False) -> None:
        now = time.monotonic()
        durable = force_durable or now - self._last_sync >= self.durable_every_s
        if durable and self._trace_fh is not None:
            os.fsync(self._trace_fh.fileno())  # the trace must be durable before the checkpoint
        atomic_write_bytes(self.path / CHECKPOINT_FILE, checkpoint.to_json(), fsync=durable)
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
        """Where step's trial runs (an interrupted attempt's folder is deleted first): never through a link."""
        trials = self.path / TRIALS_DIR
        path = trials / f"{step:05d}"
        for entry in (trials, path):
            if os.path.islink(entry):  # os.path: a step's cost, pathlib's is_symlink costs more
                raise _link_error(entry)
        return path

    def close(self) -> None:
        if self._trace_fh is not None:
            self._trace_fh.flush()
            os.fsync(self._trace_fh.fileno())
            self._trace_fh.close()
            self._trace_fh = None

    def _read_json(self, path: Path) -> Any:
        if path.is_symlink():
            raise _link_error(path)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(f"cannot read {path}: {exc}", "restore the file or start a new run") from None


class TraceEvents:
    """The first `lines` events of a run's trace, streamed from the file each time they are iterated."""

    def __init__(self, store: RunStore, lines: int) -> None:
        self._store, self._lines = store, lines

    def __iter__(self) -> Iterator[Event]:
        return self._store.iter_events(self._lines)

    def __len__(self) -> int:
        return self._lines


def _refuse_links(run_dir: Path) -> None:
    """A symbolic link among a run directory's entries would let a write or a delete land outside it."""
    for entry in run_dir.iterdir():
        if entry.is_symlink():
            raise _link_error(entry)


def _link_error(entry: Path) -> RunDirError:
    return RunDirError(f"{entry} is a symbolic link (to {os.readlink(entry)}); a run directory never follows one "
                       "out of itself", "replace it with the real file or folder, or start a new run")
