"""Parent side of the harness <-> worker channel: starts the worker, sends requests, enforces the
per-call deadline and the reply size cap, and keeps a capped copy of the mechanism's own output.
Standard library only: it runs inside the container (harness, mechanism host) and, for the trusted
`--mechanism-runtime host`, on the host.

A hook's ctx.llm requests arrive in the middle of a call (sandbox/guest/worker.py): `exchange` hands
each to its `on_llm` (the smoke test's stand-in, the host server's way up to the engine, the local
host's bridge), writes the answer back and reads on. It counts them: one more than
interface.MAX_LLM_CALLS in one call is `TooManyLlmCalls`, and the worker is not answered. The time
spent waiting for an answer is not the mechanism's: the call's deadline moves by it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS
from bilevel_evolve.sandbox.guest.worker import LLM_FRAME

MAX_REPLY_BYTES = 4 * 1024 * 1024
WORKER_MODULE = "bilevel_evolve.sandbox.guest.worker"
WORKER_ENV = {  # explicit and minimal: nothing from the parent's environment reaches the mechanism
    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


class WorkerTimeout(Exception):
    def __init__(self, op: str, limit_s: float) -> None:
        super().__init__(f"{op} took longer than the {limit_s:g} s limit")
        self.op = op
        self.limit_s = limit_s


class WorkerDied(Exception):
    pass


class BadReply(Exception):
    pass


class TooManyLlmCalls(BadReply):
    def __init__(self, label: str) -> None:
        super().__init__(f"called ctx.llm more than {MAX_LLM_CALLS} times in one call "
                         f"(at most {MAX_LLM_CALLS} per hook call)")
        self.label = label


# What answers a ctx.llm request: the request's JSON bytes as the worker sent them (untrusted) -> the
# answer line for the worker (JSON, no newline).
LlmAnswer = Callable[[bytes], bytes]


class OutputCapture:
    """Reads the mechanism's stdout+stderr; keeps the first and last `keep` bytes, counts the rest."""

    def __init__(self, stream: Any, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while chunk := self._stream.read1(65536):
            self.total += len(chunk)
            room = self.keep - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.keep:
                    del self.tail[: len(self.tail) - self.keep]

    def summary(self, wait_s: float = 0.2) -> dict[str, Any]:
        self._thread.join(wait_s)
        return {
            "bytes": self.total,
            "head": self.head.decode("utf-8", "replace"),
            "tail": self.tail.decode("utf-8", "replace") if self.total > len(self.head) else "",
        }


class Worker:
    def __init__(self, mechanism_path: str, *, output_keep: int = 2048) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-P", "-m", WORKER_MODULE, "--cmd-fd", str(cmd_r), "--res-fd", str(res_w),
             "--mechanism", mechanism_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(cmd_r, res_w), env=WORKER_ENV, cwd="/tmp", close_fds=True,
            start_new_session=True,
        )
        os.close(cmd_r)
        os.close(res_w)
        os.set_blocking(self._cmd_w, False)
        self.output = OutputCapture(self.proc.stdout, output_keep)
        self._buffer = b""

    def exchange(self, line: bytes, limit_s: float, label: str, on_llm: LlmAnswer | None = None) -> bytes:
        """Send one request line and return the reply line as it came, undecoded: mechanism code
        could have written it, so the caller decodes it as untrusted input. The ctx.llm requests on
        the way are answered by `on_llm` (without one, a request is a BadReply), at most MAX_LLM_CALLS;
        the deadline does not count the time their answers take."""
        deadline = time.monotonic() + limit_s
        self._write(line + b"\n", deadline, label, limit_s)
        asked = 0
        while (reply := self._read_line(deadline, label, limit_s)).startswith(LLM_FRAME):
            if on_llm is None:
                raise BadReply(f"{label}: called ctx.llm where nothing answers it")
            asked += 1
            if asked > MAX_LLM_CALLS:
                raise TooManyLlmCalls(label)
            started = time.monotonic()
            answer = on_llm(reply[len(LLM_FRAME):])
            deadline += time.monotonic() - started
            self._write(answer + b"\n", deadline, label, limit_s)
        return reply

    def request(self, req: dict[str, Any], limit_s: float, label: str, on_llm: LlmAnswer | None = None
                ) -> dict[str, Any]:
        line = self.exchange(json.dumps(req).encode(), limit_s, label, on_llm)
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than json can read
            raise BadReply(f"{label}: the worker sent something that is not JSON ({type(exc).__name__})") from None
        if not isinstance(reply, dict) or "ok" not in reply:
            raise BadReply(f"{label}: the worker sent a malformed reply")
        return reply

    def _write(self, data: bytes, deadline: float, label: str, limit_s: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout(label, limit_s)
            _, writable, _ = select.select([], [self._cmd_w], [], remaining)
            if writable:
                try:
                    view = view[os.write(self._cmd_w, view):]
                except BrokenPipeError:
                    raise WorkerDied(self._death()) from None

    def _read_line(self, deadline: float, label: str, limit_s: float) -> bytes:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout(label, limit_s)
            readable, _, _ = select.select([self._res_r], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._res_r, 65536)
            if not chunk:
                raise WorkerDied(self._death())
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise BadReply(f"{label}: a reply larger than {MAX_REPLY_BYTES} bytes")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its reply channel"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the mechanism's process was killed by {name}{hint}"
        return f"the mechanism's process exited with code {code} before answering"

    def _close_fd(self, attr: str) -> None:
        fd = getattr(self, attr)
        if fd >= 0:  # never close a number twice: it may belong to a newer file by then
            setattr(self, attr, -1)
            with contextlib.suppress(OSError):
                os.close(fd)

    def stop(self, grace_s: float = 0.0) -> None:
        """Close the channel; with grace_s, let the worker exit by itself first (it flushes its output)."""
        self._close_fd("_cmd_w")
        if grace_s > 0 and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        self._close_fd("_res_r")
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
