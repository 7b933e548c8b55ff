"""Where mechanism code runs. The engine never imports a mechanism itself: it talks to a host.

Both hosts speak the smoke-test worker's protocol (`sandbox/guest/worker.py`): one worker process
per mechanism, one JSON request and reply per hook call, a deadline on every call. The worker keeps
the history, so a call sends only the trials it lacks (`sandbox/hosts/history.py`;
`incremental_history=False` sends the whole history every time, as the smoke test does). Both
decode what a worker answers in one place (`sandbox/hosts/replies.py`), as untrusted input, and
both answer a hook's ctx.llm requests through `sandbox/hosts/llm_bridge.py` with the engine's
`llm_service` (None: a request fails the mechanism).
- `ContainerHost` (default) gives every mechanism a hardened container of its own.
- `LocalProcessHost` runs the workers as plain processes on the host: unconfined, for trusted code
  only, behind an explicit flag and with a warning on every run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from bilevel_evolve.ground.contract.interface import MAX_RETURN_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.guest.worker_link import (
    BadReply,
    LlmAnswer,
    TooManyLlmCalls,
    Worker,
    WorkerDied,
    WorkerTimeout,
)
from bilevel_evolve.sandbox.hosts import replies
from bilevel_evolve.sandbox.hosts.history import HistoryFeed
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmBridge, LlmService
from bilevel_evolve.sandbox.hosts.outcomes import HookFailure as HookFailure
from bilevel_evolve.sandbox.hosts.outcomes import Loaded as Loaded

DEFAULT_CALL_LIMIT_S = 5.0
LOAD_LIMIT_S = 60.0  # importing torch inside a fresh worker takes seconds


class MechanismHost(Protocol):
    kind: str
    llm_service: LlmService | None  # what answers the hooks' ctx.llm requests (set by the engine)

    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded: ...

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any: ...

    def state_json(self, mech_id: str) -> str: ...

    def unload(self, mech_id: str) -> None: ...

    def close(self) -> None: ...


class LocalProcessHost:
    """Workers as host processes. No confinement: only for mechanisms you trust."""

    kind = "host"

    def __init__(self, work_dir: Path, *, call_limit_s: float = DEFAULT_CALL_LIMIT_S,
                 incremental_history: bool = True, max_return_bytes: int = MAX_RETURN_BYTES,
                 llm_service: LlmService | None = None) -> None:
        self.work_dir = work_dir.absolute()  # the workers run in another directory
        self.llm_service = llm_service
        self.call_limit_s = call_limit_s
        self.incremental_history = incremental_history
        self.max_return_bytes = max_return_bytes
        self._workers: dict[str, Worker] = {}
        self._feeds: dict[str, HistoryFeed] = {}  # one per worker: what it holds of the history

    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        self.unload(mech_id)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / f"m_{mech_id[:16]}" / "mechanism.py"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(source.data)
        self._workers[mech_id] = Worker(str(path))
        self._feeds[mech_id] = HistoryFeed(self.incremental_history)
        info = self._request(mech_id, {"op": "import"}, "import", LOAD_LIMIT_S)
        replies.raise_failure(mech_id, "import", info)
        loaded = replies.loaded(mech_id, info)
        replies.raise_failure(mech_id, "MECHANISM()", self._request(mech_id, {"op": "new"}, "MECHANISM()",
                                                                    LOAD_LIMIT_S))
        if state_json is not None:
            request = {"op": "load_state_dict", "state_json": state_json}
            replies.raise_failure(mech_id, "load_state_dict",
                                  self._request(mech_id, request, "load_state_dict", self.call_limit_s))
        return loaded

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        feed = self._feeds.get(mech_id)
        if feed is None:
            raise HookFailure(mech_id, hook, "died", "the mechanism is not loaded")
        bridge = LlmBridge(self.llm_service, mech_id, hook)
        try:
            reply = feed.call(lambda request, limit_s: self._request(mech_id, request, hook, limit_s, bridge),
                              hook, ctx, seed, args, self.call_limit_s)
        except BaseException:  # its worker may be waiting for a ctx.llm answer that will not come
            self.unload(mech_id)
            raise
        return replies.hook_value(mech_id, hook, reply, self.max_return_bytes)

    def state_json(self, mech_id: str) -> str:
        return replies.state_text(mech_id, self._request(mech_id, {"op": "state_dict"}, "state_dict",
                                                         self.call_limit_s))

    def unload(self, mech_id: str) -> None:
        self._feeds.pop(mech_id, None)
        worker = self._workers.pop(mech_id, None)
        if worker is not None:
            worker.stop()

    def close(self) -> None:
        for mech_id in list(self._workers):
            self.unload(mech_id)

    def _request(self, mech_id: str, req: dict[str, Any], hook: str, limit_s: float,
                 on_llm: LlmAnswer | None = None) -> dict[str, Any]:
        """The worker's reply to one request, decoded (HookFailure when there is none)."""
        worker = self._workers.get(mech_id)
        if worker is None:
            raise HookFailure(mech_id, hook, "died", "the mechanism is not loaded")
        try:
            line = worker.exchange(json.dumps(req).encode(), limit_s, hook, on_llm)
        except TooManyLlmCalls as exc:
            raise HookFailure(mech_id, hook, "over-budget", str(exc)) from None
        except WorkerTimeout as exc:
            raise HookFailure(mech_id, hook, "timeout", str(exc)) from None
        except WorkerDied as exc:
            raise HookFailure(mech_id, hook, "died", str(exc)) from None
        except BadReply as exc:
            raise HookFailure(mech_id, hook, "garbage", str(exc)) from None
        return replies.worker_reply(mech_id, hook, line)
