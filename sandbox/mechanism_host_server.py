"""The mechanism host's main process, inside the long-lived container. Standard library only.

    /opt/venv/bin/python -I /opt/harness/mechanism_host_server.py

Protocol (one JSON object per line, both ways; each reply carries its request's "id"):
    {"id": 1, "op": "ping"}
    {"id": 2, "op": "load", "mech": ID, "source": TEXT, "state_json": TEXT|null, "limit_s": 60, "call_limit_s": 5}
    {"id": 3, "op": "call", "mech": ID, "hook": "observe", "ctx": {...}, "seed": 7, "args": {...}, "limit_s": 5}
    {"id": 4, "op": "state_dict", "mech": ID, "limit_s": 5}
    {"id": 5, "op": "unload", "mech": ID}
Replies: {"id": N, "ok": true, "reply": WORKER_REPLY} when the mechanism's worker answered (the
worker reply says whether the mechanism itself raised), or {"id": N, "ok": false, "kind": K,
"reason": TEXT} with K in timeout/died/garbage when it did not; that worker is then killed.

Each mechanism runs in its own worker process (sandbox/harness_worker.py) whose stdout/stderr are
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
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness_worker_client import BadReply, Worker, WorkerDied, WorkerTimeout

MECHANISM_ROOT = "/tmp/mechanisms"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_SOURCE_BYTES = 64 * 1024
OUTPUT_EXCERPT = 300
PR_SET_DUMPABLE = 4


class Fault(Exception):
    """The worker did not answer properly; `kind` is what the engine's HookFailure will say."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def write_reply(reply: dict[str, Any]) -> None:
    data = json.dumps(reply, separators=(",", ":")).encode() + b"\n"
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


class Server:
    def __init__(self) -> None:
        self.workers: dict[str, Worker] = {}

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "ping":
            return {"ok": True, "reply": {"ok": True, "loaded": sorted(self.workers)}}
        mech = req.get("mech")
        if not isinstance(mech, str) or not mech:
            raise Fault("garbage", "the request names no mechanism")
        if op == "unload":
            self._stop(mech)
            return {"ok": True, "reply": {"ok": True}}
        if op == "load":
            return {"ok": True, "reply": self._load(mech, req)}
        limit = float(req["limit_s"])
        if op == "call":
            hook = str(req["hook"])
            worker_req = {**req["args"], "op": "call", "hook": hook, "ctx": req["ctx"], "seed": int(req["seed"])}
            return {"ok": True, "reply": self._ask(mech, worker_req, limit, hook)}
        if op == "state_dict":
            return {"ok": True, "reply": self._ask(mech, {"op": "state_dict"}, limit, "state_dict")}
        raise Fault("garbage", f"unknown op {op!r}")

    def _load(self, mech: str, req: dict[str, Any]) -> dict[str, Any]:
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
        info = self._ask(mech, {"op": "import"}, load_s, "import")
        if info.get("ok"):
            created = self._ask(mech, {"op": "new"}, load_s, "MECHANISM()")
            if created.get("ok") and req.get("state_json") is not None:
                created = self._ask(mech, {"op": "load_state_dict", "state_json": str(req["state_json"])},
                                    call_s, "load_state_dict")
            if not created.get("ok"):
                info = created
        if not info.get("ok"):
            self._stop(mech)
        return info

    def _ask(self, mech: str, worker_req: dict[str, Any], limit_s: float, label: str) -> dict[str, Any]:
        worker = self.workers.get(mech)
        if worker is None:
            raise Fault("died", "the mechanism is not loaded in the mechanism host")
        try:
            return worker.request(worker_req, limit_s, label)
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
                write_reply({"id": None, "ok": False, "kind": "garbage", "reason": "a request over the size cap"})
                return
            chunk = os.read(0, 1 << 20)
            if not chunk:
                return  # the engine closed the channel: the run is over
            buffer += chunk
            continue
        line = bytes(buffer[:newline])
        del buffer[: newline + 1]
        req_id: Any = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise Fault("garbage", "a request that is not a JSON object")
            req_id = req.get("id")
            reply = server.handle(req)
        except Fault as fault:
            reply = {"ok": False, "kind": fault.kind, "reason": fault.reason}
        except Exception as exc:  # a malformed request: answer it, keep serving the others
            reply = {"ok": False, "kind": "garbage", "reason": f"bad request: {type(exc).__name__}: {exc}"}
        write_reply({"id": req_id, **reply})


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
