"""Run one trial subprocess: own process group, wall-clock deadline, size-capped log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict

_KILL_GRACE_S = 2.0
_CHUNK = 65536


class ProcessOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    returncode: int | None  # None when it was killed at the deadline
    timed_out: bool
    duration_s: float
    output: str  # what the log holds: the head, and the tail when the output passed the cap

    def tail(self, n_chars: int = 2000) -> str:
        return self.output[-n_chars:]


class _CappedLog:
    """Writes the first half of the cap to disk as it comes, keeps a rolling tail for the rest."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._file = path.open("wb")
        self._head_left = max_bytes // 2
        self._tail_cap = max_bytes - max_bytes // 2
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._closed = False
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._head_left > 0:
            part, data = data[: self._head_left], data[self._head_left :]
            self._file.write(part)
            self._file.flush()
            self._head += part
            self._head_left -= len(part)
        if data:
            self._tail += data
            excess = len(self._tail) - self._tail_cap
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def close(self) -> str:
        with self._lock:
            self._closed = True
            return self._finish()

    def _finish(self) -> str:
        if self._dropped:
            marker = f"\n[... {self._dropped} bytes of output omitted ...]\n".encode()
            self._file.write(marker)
            self._head += marker
        self._file.write(self._tail)
        self._file.close()
        return (bytes(self._head) + bytes(self._tail)).decode("utf-8", errors="replace")


# The GPUs of the trial running in this thread (a tuple of device ids; empty: none), or None: the trial
# sees whatever the engine sees. The engine's trial executors set it around each run_trial call.
_TRIAL_DEVICES: ContextVar[tuple[str, ...] | None] = ContextVar("trial_devices", default=None)
_running: set[subprocess.Popen[bytes]] = set()  # every trial subprocess in flight, for kill_running_trials
_running_lock = threading.Lock()


@contextlib.contextmanager
def trial_devices(devices: Sequence[str] | None) -> Iterator[None]:
    """Run the trials started inside this block (in this thread) on these GPUs only."""
    token = _TRIAL_DEVICES.set(None if devices is None else tuple(devices))
    try:
        yield
    finally:
        _TRIAL_DEVICES.reset(token)


def trial_env(trial_dir: Path, seed: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A trial subprocess's environment: the engine's, then `extra`, then EVOLVE_SEED,
    EVOLVE_TRIAL_DIR and unbuffered Python output; CUDA_VISIBLE_DEVICES set to the trial's own GPUs
    when the engine assigned it some (an empty value: no GPU at all)."""
    env = {**os.environ, **(extra or {}), "EVOLVE_SEED": str(seed),
           "EVOLVE_TRIAL_DIR": str(Path(trial_dir).resolve()), "PYTHONUNBUFFERED": "1"}
    devices = _TRIAL_DEVICES.get()
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    return env


def kill_running_trials() -> None:
    """Kill the process group of every trial subprocess still running (the engine is stopping)."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def run_captured(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    log_path: Path,
    max_log_bytes: int,
) -> ProcessOutcome:
    """Run argv with stdout and stderr merged into log_path; kill its whole group at the deadline.

    Raises OSError when the program cannot be started at all (a set-up error, not a bad trial).
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    with _running_lock:
        _running.add(proc)
    try:
        return _supervise(proc, start, timeout_s=timeout_s, log_path=log_path, max_log_bytes=max_log_bytes)
    finally:
        with _running_lock:
            _running.discard(proc)


def _supervise(proc: subprocess.Popen[bytes], start: float, *, timeout_s: float, log_path: Path,
               max_log_bytes: int) -> ProcessOutcome:
    """Log the started process's output, wait for it up to the deadline, and leave nothing of its group behind."""
    try:
        log = _CappedLog(log_path, max_log_bytes)
    except OSError:
        _kill_group(proc)
        raise
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, log), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    finally:
        if proc.poll() is None:  # interrupted (e.g. KeyboardInterrupt): leave no orphans
            _kill_group(proc)
    # Background children the trial left behind in its group die with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    # A grandchild that left the process group could hold the pipe open: do not wait forever.
    reader.join(timeout=_KILL_GRACE_S)
    if not reader.is_alive():
        proc.stdout.close()
    duration = time.monotonic() - start
    output = log.close()
    return ProcessOutcome(
        returncode=None if timed_out else proc.returncode, timed_out=timed_out,
        duration_s=duration, output=output,
    )


def _pump(stream: IO[bytes], log: _CappedLog) -> None:
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    while chunk := read(_CHUNK):
        log.write(chunk)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group, give it a grace period, then SIGKILL whatever of the group is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_KILL_GRACE_S)
