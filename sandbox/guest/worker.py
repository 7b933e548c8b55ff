"""The child process of the smoke test: imports the mechanism and calls its hooks on request.

Runs inside the container as a fresh interpreter started by harness.py with a clean environment;
it never sees the run's nonce. Requests arrive one JSON line at a time on --cmd-fd, replies leave on
--res-fd; the mechanism's own stdout/stderr go to a pipe the parent caps. Standard library only.

A call's ctx either holds the whole history (`SearchContext.to_json()`; the worker keeps it), or
leaves it out and the request carries the trials appended since: `history_base`, the count the
worker must already hold, and `history_new` (sandbox/hosts/history.py sends them). A worker that
holds another count answers `history_mismatch` instead of calling the hook, and the host sends
the whole history. The hook gets the same ctx either way.

In the middle of a call, a hook's `ctx.llm(...)` sends a line of its own on --res-fd: LLM_FRAME, then
the request as JSON ({"prompt", "system", "max_tokens"}), and blocks until the parent writes the answer
on --cmd-fd: {"ok": true, "text": "..."} (or {"ok": false, "error": "..."}, which ctx.llm raises as a
RuntimeError). The parent answers it (sandbox/guest/worker_link.py: the smoke test's stand-in, the
host server passing it up to the engine) and counts it against the cap of interface.MAX_LLM_CALLS.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import sys
import traceback
from dataclasses import replace
from typing import Any

from bilevel_evolve.ground.contract.ctx import Context, Trial, build_context
from bilevel_evolve.ground.contract.interface import HOOKS, STATE_HOOKS

MECHANISM_FILE = "mechanism.py"
LLM_FRAME = b"LLM "  # starts a ctx.llm request line (a reply line starts with "{")


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars (np.float64, np.bool_): ordinary numeric mechanism code."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{text[:117]}... ({type(value).__name__})" if len(text) > 120 else f"{text} ({type(value).__name__})"


def _error(exc: BaseException) -> dict[str, Any]:
    """One-line reason plus the mechanism's own frame (file line and function), never host paths."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.basename(frame.filename) == MECHANISM_FILE:
            where = f"{MECHANISM_FILE} line {frame.lineno} in {frame.name}"
    message = str(exc)
    if len(message) > 500:
        message = message[:497] + "..."
    if isinstance(exc, SystemExit):
        message = f"the mechanism called sys.exit({exc.code!r})"
    return {"ok": False, "error": f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
            "where": where}


class Lines:
    """The worker's two pipes: requests (and ctx.llm answers) in, replies (and ctx.llm requests) out."""

    def __init__(self, commands: Any, replies: Any) -> None:
        self._commands, self._replies = commands, replies
        self._buffer = b""

    def read(self) -> bytes | None:
        """The next line, or None when the parent closed the channel."""
        while b"\n" not in self._buffer:
            chunk = self._commands.read(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def write(self, data: bytes) -> None:
        self._replies.write(data + b"\n")

    def ask(self, request: dict[str, Any]) -> str:
        """ctx.llm's way out: send the request, wait for the answer."""
        self.write(LLM_FRAME + json.dumps(request).encode())
        line = self.read()
        if line is None:
            raise RuntimeError("ctx.llm: the channel closed before the answer came")
        answer = json.loads(line)
        if not isinstance(answer, dict) or answer.get("ok") is not True or not isinstance(answer.get("text"), str):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise RuntimeError(f"ctx.llm: {error or 'no answer'}")
        return str(answer["text"])


class Session:
    def __init__(self, path: str, lines: Lines | None = None) -> None:
        self.path = path
        self.lines = lines
        self.cls: Any = None
        self.instance: Any = None
        self.history: tuple[Trial, ...] = ()  # the history of the last call's ctx

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "import":
            return self._import()
        if op == "new":
            self.instance = self.cls()
            return {"ok": True}
        if op == "call":
            return self._call(req)
        if op == "state_dict":
            state = self.instance.state_dict()
            try:  # strict: the engine writes checkpoints with the json module
                text = json.dumps(state)
            except (TypeError, ValueError) as exc:
                return {"ok": True, "unencodable": f"{_describe(state)}: {exc}"}
            return {"ok": True, "value_json": text}
        if op == "load_state_dict":
            self.instance.load_state_dict(json.loads(req["state_json"]))
            return {"ok": True}
        raise ValueError(f"unknown op {op!r}")

    def _import(self) -> dict[str, Any]:
        spec = importlib.util.spec_from_file_location("mechanism", self.path)
        if spec is None or spec.loader is None:
            return {"ok": False, "error": f"cannot load {self.path}", "where": ""}
        module = importlib.util.module_from_spec(spec)
        sys.modules["mechanism"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            return {**_error(exc), "import_failed": True}
        cls = getattr(module, "MECHANISM", None)
        if not isinstance(cls, type):
            return {"ok": False, "where": "",
                    "error": f"MECHANISM must name the mechanism class, got {_describe(cls)}"}
        self.cls = cls
        name = getattr(cls, "name", cls.__name__)
        return {"ok": True, "class": cls.__name__, "name": name if isinstance(name, str) else cls.__name__,
                "hooks": [h for h in HOOKS + STATE_HOOKS if callable(getattr(cls, h, None))]}

    def _call(self, req: dict[str, Any]) -> dict[str, Any]:
        hook = req["hook"]
        ctx = self._context(req, hook)
        if ctx is None:
            return {"ok": False, "history_mismatch": True, "where": "",
                    "error": f"the call assumed {req['history_base']} trials of history; the worker holds "
                             f"{len(self.history)}"}
        args: list[Any] = []
        if hook == "review":
            args = [dict(req["proposal"])]
        elif hook == "stage":
            args = [str(req["draft"])]
        elif hook == "observe":
            args = [Trial.from_json(req["trial"])]
        elif hook == "accept":
            incumbent = req["incumbent"]
            args = [Trial.from_json(req["trial"]), Trial.from_json(incumbent) if incumbent else None]
        value = getattr(self.instance, hook)(*args, ctx)
        try:
            return {"ok": True, "value_json": json.dumps(value, default=_plain, sort_keys=True)}
        except (TypeError, ValueError):
            return {"ok": True, "unencodable": _describe(value)}

    def _context(self, req: dict[str, Any], hook: str) -> Context | None:
        """The call's ctx, its history completed from the one kept; None when the call assumed a
        history of another length than the one kept."""
        seed = int(req["seed"])
        ask = self.lines.ask if self.lines is not None else None
        if "history_base" not in req:  # the whole history
            ctx = build_context(req["ctx"], seed=seed, hook=hook, ask=ask)
        elif int(req["history_base"]) != len(self.history):
            return None
        else:
            history = self.history + tuple(Trial.from_json(t) for t in req["history_new"])
            ctx = replace(build_context(req["ctx"], seed=seed, hook=hook, ask=ask), history=history)
        self.history = ctx.history
        return ctx


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cmd-fd", type=int, required=True)
    parser.add_argument("--res-fd", type=int, required=True)
    parser.add_argument("--mechanism", required=True)
    args = parser.parse_args()
    try:  # volunteer as the first victim of the OOM killer, so the parent survives to report
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    # Line-buffered, so what the mechanism printed survives even when it is killed mid-way.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    lines = Lines(os.fdopen(args.cmd_fd, "rb", buffering=0), os.fdopen(args.res_fd, "wb", buffering=0))
    session = Session(args.mechanism, lines)
    while (line := lines.read()) is not None:
        try:
            reply = session.handle(json.loads(line))
        except BaseException as exc:
            reply = _error(exc)
        lines.write(json.dumps(reply).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
