"""A hook call sends a mechanism's worker only the trials it does not hold yet.

The worker (`sandbox/guest/worker.py`) keeps the history of the last ctx it was sent. When a call's
ctx history extends that one (the very same trial dicts, then more), the request leaves the
history out of the ctx and carries `history_base` (how many trials the worker must hold) and
`history_new` (the trials after them), so a call costs the same at iteration 1,000 as at 30. Any
other ctx (the first call to a fresh worker, a shorter or rewritten history, a feed forced to full
sends) carries the whole history, and the worker keeps that instead: the protocol as it was.

"The very same": by identity. The engine dumps each trial once and its consecutive ctxs share
those dicts (`engine/mechanisms/ctx_json.py`); a caller that builds fresh dicts for every call
(the replay) gets full sends. A trial dict, once in a ctx handed to a host, is never changed.

A worker that holds another count than the request assumed answers `history_mismatch` instead of
calling the hook; the feed then sends the whole history once, within the same deadline. That
answer comes from the worker, so it is untrusted: it buys one full send and nothing more (a second
one is passed on as the failed call it says it is).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Sequence
from typing import Any

Send = Callable[[dict[str, Any], float], dict[str, Any]]  # (worker request, limit in s) -> worker reply


class HistoryFeed:
    """What one worker holds of the history, and the call requests that top it up."""

    def __init__(self, incremental: bool = True) -> None:
        self.incremental = incremental
        self._held: tuple[dict[str, Any], ...] = ()  # the trial dicts the worker holds, in order

    def call(self, send: Send, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any],
             limit_s: float) -> dict[str, Any]:
        """The worker's reply to one hook call, sent with `send` (at most twice, within `limit_s`)."""
        deadline = time.monotonic() + limit_s
        reply = send(self.request(hook, ctx, seed, args), limit_s)
        if reply.get("ok") is False and reply.get("history_mismatch") is True:
            remaining = max(0.0, deadline - time.monotonic())
            reply = send(self.request(hook, ctx, seed, args, whole=True), remaining)
        return reply

    def request(self, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any], *,
                whole: bool = False) -> dict[str, Any]:
        """The worker request for one hook call; from then on the feed counts the worker as holding
        this ctx's history."""
        history: Sequence[dict[str, Any]] = ctx.get("history") or ()
        base = None if whole or not self.incremental else self._extended_from(history)
        self._held = tuple(history)
        if base is None:
            return {**args, "op": "call", "hook": hook, "ctx": ctx, "seed": seed}
        head = {key: value for key, value in ctx.items() if key != "history"}
        return {**args, "op": "call", "hook": hook, "ctx": head, "seed": seed, "history_base": base,
                "history_new": list(history[base:])}

    def _extended_from(self, history: Sequence[dict[str, Any]]) -> int | None:
        """How many trials the worker holds, when `history` starts with exactly those; else None."""
        held = len(self._held)
        if len(history) >= held and all(map(operator.is_, self._held, history)):
            return held
        return None
