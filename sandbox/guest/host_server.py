"""The mechanism host's main process, inside the long-lived container. Standard library only.

    /opt/venv/bin/python -I -m bilevel_evolve.sandbox.guest.host_server

Protocol: one request per line on stdin, one reply per line on stdout. A line is a JSON header,
optionally followed by a TAB and a payload (JSON text never holds a raw TAB or newline):
    {"id": 1, "op": "ping"}
    {"id": 2, "op": "load", "mech": ID, "source": TEXT, "state_json": TEXT|null, "limit_s": 60, "call_limit_s": 5}
    {"id": 3, "op": "call", "mech": ID, "hook": "observe", "limit_s": 5} TAB {"op": "call", "hook": ..., "ctx": ...}
    {"id": 4, "op": "state_dict", "mech": ID, "limit_s": 5}
    {"id": 5, "op": "unload", "mech": ID}
A call's payload is the worker request (sandbox/guest/worker.py's protocol), passed on byte for
byte, so the ctx is not decoded and re-encoded here; the worker keeps the history, so the payload
usually carries only the trials it lacks. Replies: {"id": N, "ok": true} TAB WORKER_REPLY
when the mechanism's worker answered (the worker reply, again passed on as is, says whether the
mechanism itself raised; for load it is the import's answer: class, name, hooks), or {"id": N,
"ok": false, "kind": K, "reason": TEXT} with K in timeout/died/garbage when it did not; that worker
is then killed.

Each mechanism runs in its own worker process (sandbox/guest/worker.py) whose stdout/stderr are
captured and capped by `Worker`, so nothing a mechanism prints reaches this channel. Every worker
request has a deadline; a stalled worker is killed at its deadline, so one mechanism can delay the
others by at most one deadline. This process makes itself non-dumpable so a mechanism (same uid)
can open neither its stdin/stdout through /proc nor its memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import signal
import sys
import time
from typing import Any

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.sandbox.guest.worker_link import BadReply, Worker, WorkerDied, WorkerTimeout

MECHANISM_ROOT = "/tmp/mechanisms"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
OUTPUT_EXCERPT = 300
PR_SET_DUMPABLE = 4


class Fault(Exception):
    """The worker did not answer properly; `kind` is what the engine's HookFailure will say."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def write_reply(line: bytes) -> None:
    view = memoryview(line + b"\n")
    while view:
        view = view[os.write(1, view):]


class Server:
    def __init__(self) -> None:
        self.workers: dict[str, Worker] = {}

    def handle(self, req: dict[str, Any], payload: bytes | None) -> bytes:
        """The worker reply line that answers `req` (Fault when there is none)."""
        op = req.get("op")
        if op == "ping":
            return json.dumps({"ok": True, "loaded": sorted(self.workers)}).encode()
        mech = req.get("mech")
        if not isinstance(mech, str) or not mech:
            raise Fault("garbage", "the request names no mechanism")
        if op == "unload":
            self._stop(mech)
            return b'{"ok": true}'
        if op == "load":
            return self._load(mech, req)
        limit = float(req["limit_s"])
        if op == "call" and payload is not None:  # the engine's request to the worker, passed on as is
            return self._ask(mech, payload, limit, str(req["hook"]))
        if op == "state_dict":
            return self._ask(mech, b'{"op": "state_dict"}', limit, "state_dict")
        raise Fault("garbage", f"unknown op {op!r}")

    def _load(self, mech: str, req: dict[str, Any]) -> bytes:
        self._stop(mech)
        source = str(req["source"]).encode("utf-8", "surrogatepass")
        if len(source) > MAX_SOURCE_BYTES:
            raise Fault("garbage", f"the source is {len(source)} bytes; at most {MAX_SOURCE_BYTES}")
        folder = os.path.join(MECHANISM_ROOT, hashlib.sha256(mech.encode()).hexdigest()[:32])
        os.makedirs(folder, mode=0o700, exist_ok=True)
        path = os.path.join(folder, "mechanism.py")
        with open(path, "wb") as fh:
            fh.write(source)
        try:
            self.workers[mech] = Worker(path)
        except OSError as exc:  # e.g. the container's pids limit
            raise Fault("died", f"could not start the mechanism's process: {exc}") from None
        load_s, call_s = float(req["limit_s"]), float(req["call_limit_s"])
        steps = [(b'{"op": "import"}', load_s, "import"), (b'{"op": "new"}', load_s, "MECHANISM()")]
        if req.get("state_json") is not None:
            line = json.dumps({"op": "load_state_dict", "state_json": str(req["state_json"])}).encode()
            steps.append((line, call_s, "load_state_dict"))
        info = b""
        for line, limit, label in steps:
            answer = self._ask(mech, line, limit, label)
            if label == "import":
                info = answer
            if not _succeeded(answer):
                self._stop(mech)
                return answer
        return info

    def _ask(self, mech: str, line: bytes, limit_s: float, label: str) -> bytes:
        worker = self.workers.get(mech)
        if worker is None:
            raise Fault("died", "the mechanism is not loaded in the mechanism host")
        deadline = time.monotonic() + limit_s
        try:  # Worker's own line I/O, without decoding and re-encoding what passes through
            worker._write(line + b"\n", deadline, label, limit_s)
            return worker._read_line(deadline, label, limit_s)
        except WorkerTimeout as exc:
            self._stop(mech)
            raise Fault("timeout", str(exc)) from None
        except WorkerDied as exc:
            reason = f"{exc}{_excerpt(worker)}"
            self._stop(mech)
            raise Fault("died", reason) from None
        except BadReply as exc:
            self._stop(mech)
            raise Fault("garbage", str(exc)) from None

    def _stop(self, mech: str) -> None:
        worker = self.workers.pop(mech, None)
        if worker is None:
            return
        with contextlib.suppress(OSError):  # the worker leads its own session: take its children too
            os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.stop()

    def stop_all(self) -> None:
        for mech in list(self.workers):
            self._stop(mech)


def _excerpt(worker: Worker) -> str:
    summary = worker.output.summary(wait_s=0.1)
    text = (summary["tail"] or summary["head"]).strip()
    return f"; its last output: {text[-OUTPUT_EXCERPT:]!r}" if text else ""


def _nondumpable() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def serve(server: Server) -> None:
    buffer = bytearray()
    while True:
        newline = buffer.find(b"\n")
        if newline < 0:
            if len(buffer) > MAX_REQUEST_BYTES:
                write_reply(_fault(None, "garbage", "a request over the size cap"))
                return
            chunk = os.read(0, 65536)
            if not chunk:
                return  # the engine closed the channel: the run is over
            buffer += chunk
            continue
        line = bytes(buffer[:newline])
        del buffer[: newline + 1]
        header, _, payload = line.partition(b"\t")
        req_id: Any = None
        try:
            req = json.loads(header)
            if not isinstance(req, dict):
                raise Fault("garbage", "a request that is not a JSON object")
            req_id = req.get("id")
            answer = server.handle(req, payload or None)
            reply = json.dumps({"id": req_id, "ok": True}).encode() + b"\t" + answer
        except Fault as fault:
            reply = _fault(req_id, fault.kind, fault.reason)
        except Exception as exc:  # a malformed request: answer it, keep serving the others
            reply = _fault(req_id, "garbage", f"bad request: {type(exc).__name__}: {exc}")
        write_reply(reply)


def _fault(req_id: Any, kind: str, reason: str) -> bytes:
    return json.dumps({"id": req_id, "ok": False, "kind": kind, "reason": reason}).encode()


def _succeeded(answer: bytes) -> bool:
    try:
        return json.loads(answer).get("ok") is True
    except (ValueError, AttributeError):
        return False


def main() -> int:
    _nondumpable()
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    os.makedirs(MECHANISM_ROOT, mode=0o700, exist_ok=True)
    server = Server()
    try:
        serve(server)
    finally:
        server.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
