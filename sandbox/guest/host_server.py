"""The mechanism host's server: the init process of one mechanism's container. Standard library only.

    /opt/venv/bin/python -I -m bilevel_evolve.sandbox.guest.host_server

Each active mechanism has a container of its own (sandbox/hosts/container.py), and this server is
its pid 1: it keeps the mechanism's one worker process (sandbox/guest/worker.py) and passes
requests to it. Protocol: one request per line on stdin, one reply per line on stdout. A line is a
JSON header, optionally followed by a TAB and a payload (JSON text never holds a raw TAB or newline):
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
"ok": false, "kind": K, "reason": TEXT} with K in timeout/died/garbage/over-budget when it did not;
that worker is then killed.

A hook's ctx.llm request (sandbox/guest/worker.py) goes up to the engine in the middle of call N, as
    {"id": N, "llm": true} TAB REQUEST          (the worker's request bytes, passed on as they came)
and the server waits for the engine's answer on stdin before it reads anything else:
    {"id": N, "op": "llm_answer"} TAB ANSWER    (passed down to the worker as it came)
The engine makes the model call; nothing of it (no key, no network) is in this container. One more
request than interface.MAX_LLM_CALLS in one call is over-budget: the worker is killed, not answered.
The call's deadline does not count the time the engine's answer takes.

Why the server is the container's init (no docker-init above it): it makes itself non-dumpable,
and a non-dumpable process's /proc entries (its fds, its memory, its environment) are closed to
processes of the same uid without CAP_SYS_PTRACE, which the container has none of. So the
mechanism's code can neither write into this channel (the container's stdout is held by this
process alone: the worker's own stdout is a capped pipe) nor read the server's memory. And the
kernel delivers to a pid namespace's init only the signals it handles, so the mechanism cannot
kill or stop it either. As init it also reaps the orphans a mechanism leaves (setsid daemons).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
from typing import Any

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.sandbox.guest.worker_link import BadReply, TooManyLlmCalls, Worker, WorkerDied, WorkerTimeout

MECHANISM_DIR = "/tmp/mechanism"
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


class Requests:
    """The engine's lines on stdin: requests, and the answers to ctx.llm requests in the middle of one."""

    def __init__(self, orphans: Orphans | None = None) -> None:
        self.orphans = orphans
        self.buffer = bytearray()

    def read(self, keep: int | None) -> bytes | None:
        """The next line; None when the engine closed the channel; Fault when a line is over the cap.
        Exited children are reaped while it waits, all but `keep` (the worker's pid)."""
        while (newline := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > MAX_REQUEST_BYTES:
                raise Fault("garbage", "a request over the size cap")
            watched = [0] if self.orphans is None else [0, self.orphans.fd]
            readable, _, _ = select.select(watched, [], [])
            if self.orphans is not None and self.orphans.fd in readable:
                self.orphans.reap(keep)
            if 0 not in readable:
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line = bytes(self.buffer[:newline])
        del self.buffer[: newline + 1]
        return line


class Server:
    """One mechanism's worker, and the requests for it."""

    def __init__(self, requests: Requests | None = None) -> None:
        self.mech: str | None = None
        self.worker: Worker | None = None
        self.requests = requests or Requests()
        self.request_id: Any = None  # the engine's request being answered now

    def handle(self, req: dict[str, Any], payload: bytes | None) -> bytes:
        """The worker reply line that answers `req` (Fault when there is none)."""
        op = req.get("op")
        if op == "ping":
            return json.dumps({"ok": True, "loaded": [self.mech] if self.worker else []}).encode()
        mech = req.get("mech")
        if not isinstance(mech, str) or not mech:
            raise Fault("garbage", "the request names no mechanism")
        if op == "unload":
            if mech == self.mech:
                self.stop()
            return b'{"ok": true}'
        if op == "load":
            return self._load(mech, req)
        if mech != self.mech:
            raise Fault("died", "the mechanism is not loaded in its container")
        limit = float(req["limit_s"])
        if op == "call" and payload is not None:  # the engine's request to the worker, passed on as is
            return self._ask(payload, limit, str(req["hook"]), llm=True)
        if op == "state_dict":
            return self._ask(b'{"op": "state_dict"}', limit, "state_dict")
        raise Fault("garbage", f"unknown op {op!r}")

    def _load(self, mech: str, req: dict[str, Any]) -> bytes:
        if self.mech not in (None, mech):
            raise Fault("garbage", "this container already holds another mechanism")
        self.stop()
        source = str(req["source"]).encode("utf-8", "surrogatepass")
        if len(source) > MAX_SOURCE_BYTES:
            raise Fault("garbage", f"the source is {len(source)} bytes; at most {MAX_SOURCE_BYTES}")
        os.makedirs(MECHANISM_DIR, mode=0o700, exist_ok=True)
        path = os.path.join(MECHANISM_DIR, "mechanism.py")
        with open(path, "wb") as fh:
            fh.write(source)
        try:
            self.worker = Worker(path)
        except OSError as exc:  # e.g. the container's pids limit
            raise Fault("died", f"could not start the mechanism's process: {exc}") from None
        self.mech = mech
        load_s, call_s = float(req["limit_s"]), float(req["call_limit_s"])
        steps = [(b'{"op": "import"}', load_s, "import"), (b'{"op": "new"}', load_s, "MECHANISM()")]
        if req.get("state_json") is not None:
            line = json.dumps({"op": "load_state_dict", "state_json": str(req["state_json"])}).encode()
            steps.append((line, call_s, "load_state_dict"))
        info = b""
        for line, limit, label in steps:
            answer = self._ask(line, limit, label)
            if label == "import":
                info = answer
            if not _succeeded(answer):
                self.stop()
                return answer
        return info

    def _ask(self, line: bytes, limit_s: float, label: str, *, llm: bool = False) -> bytes:
        """The worker's reply line to `line`; only a hook call (`llm`) may ask ctx.llm on the way."""
        worker = self.worker
        if worker is None:
            raise Fault("died", "the mechanism is not loaded in its container")
        try:  # the reply line is passed on undecoded: the engine decodes it as untrusted
            return worker.exchange(line, limit_s, label, on_llm=self._ask_engine if llm else None)
        except TooManyLlmCalls as exc:
            self.stop()
            raise Fault("over-budget", str(exc)) from None
        except WorkerTimeout as exc:
            self.stop()
            raise Fault("timeout", str(exc)) from None
        except WorkerDied as exc:
            reason = f"{exc}{_excerpt(worker)}"
            self.stop()
            raise Fault("died", reason) from None
        except BadReply as exc:
            self.stop()
            raise Fault("garbage", str(exc)) from None
        except Fault:  # the channel to the engine failed while the worker waited for ctx.llm
            self.stop()
            raise

    def _ask_engine(self, request: bytes) -> bytes:
        """Pass a ctx.llm request up to the engine and return its answer for the worker."""
        write_reply(json.dumps({"id": self.request_id, "llm": True}).encode() + b"\t" + request)
        line = self.requests.read(self.worker_pid())
        if line is None:
            raise Fault("died", "the engine closed the channel while the mechanism waited for ctx.llm")
        header, tab, answer = line.partition(b"\t")
        try:
            envelope = json.loads(header)
        except (ValueError, RecursionError):
            envelope = None
        if not tab or not isinstance(envelope, dict) or envelope.get("op") != "llm_answer" \
                or envelope.get("id") != self.request_id:
            raise Fault("garbage", "the engine's answer to ctx.llm was out of turn")
        return answer

    def stop(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError):  # the worker leads its own session: take its children too
            os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.stop()

    def worker_pid(self) -> int | None:
        return None if self.worker is None else self.worker.proc.pid


def _excerpt(worker: Worker) -> str:
    summary = worker.output.summary(wait_s=0.1)
    text = (summary["tail"] or summary["head"]).strip()
    return f"; its last output: {text[-OUTPUT_EXCERPT:]!r}" if text else ""


def _nondumpable() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class Orphans:
    """As the container's init, the server inherits what a mechanism forked and left behind. When a
    child exits (SIGCHLD), the signal wakes the serve loop through a pipe (`signal.set_wakeup_fd`), which
    then waits for every exited child but the worker (its Worker waits for that one): between requests,
    never in the middle of one."""

    def __init__(self) -> None:
        self.fd, wake = os.pipe()
        for fd in (self.fd, wake):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wakeup fd is written

    def reap(self, keep: int | None) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 512):
                pass
        reap_orphans(keep)


def reap_orphans(keep: int | None) -> None:
    """Wait for every exited child of this process but `keep`."""
    me = str(os.getpid()).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == keep:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state, parent = fh.read().rsplit(b")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if state == b"Z" and parent == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry), os.WNOHANG)


def serve(server: Server) -> None:
    while True:
        try:
            line = server.requests.read(server.worker_pid())
        except Fault as fault:
            write_reply(_fault(None, fault.kind, fault.reason))
            return
        if line is None:
            return  # the engine closed the channel: the run is over
        write_reply(_answer(server, line))


def _answer(server: Server, line: bytes) -> bytes:
    header, _, payload = line.partition(b"\t")
    req_id: Any = None
    server.request_id = None
    try:
        req = json.loads(header)
        if not isinstance(req, dict):
            raise Fault("garbage", "a request that is not a JSON object")
        req_id = server.request_id = req.get("id")
        answer = server.handle(req, payload or None)
        return json.dumps({"id": req_id, "ok": True}).encode() + b"\t" + answer
    except Fault as fault:
        return _fault(req_id, fault.kind, fault.reason)
    except Exception as exc:  # a malformed request: answer it, keep serving
        return _fault(req_id, "garbage", f"bad request: {type(exc).__name__}: {exc}")


def _fault(req_id: Any, kind: str, reason: str) -> bytes:
    return json.dumps({"id": req_id, "ok": False, "kind": kind, "reason": reason}).encode()


def _succeeded(answer: bytes) -> bool:
    try:
        return json.loads(answer).get("ok") is True
    except (ValueError, AttributeError, RecursionError):
        return False


def main() -> int:
    _nondumpable()
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    os.makedirs(MECHANISM_DIR, mode=0o700, exist_ok=True)
    server = Server(Requests(Orphans()))
    try:
        serve(server)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
