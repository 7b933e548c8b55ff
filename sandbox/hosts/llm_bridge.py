"""What a mechanism may ask of the engine in the middle of a hook call: `ctx.llm`, for every host.

A hook's ctx.llm request leaves the worker as a line of its own (sandbox/guest/worker.py), comes to the
host (through the host server and the container's channel, or straight from a local worker) and is
answered here, one `LlmBridge` per hook call: the request is decoded as untrusted (replies.llm_request:
size before parsing, strict JSON, the contract's limits), counted against MAX_LLM_CALLS, and handed
to the engine's `LlmService`, which makes the call with the run's client (or answers offline); the
answer goes back down cut and cleaned (replies.llm_answer). The model, its key and the network stay on
the engine's side: the mechanism sends text and receives text.

A request that is not one, one over the cap, or one to a host with no service fails the mechanism
(HookFailure; the host then discards its worker, which waits for an answer that will not come). An
exception the service raises (the run's --max-cost spent, the endpoint gone) is the run's, not the
mechanism's: it passes through, and the host discards the worker all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS
from bilevel_evolve.sandbox.hosts import replies
from bilevel_evolve.sandbox.hosts.outcomes import HookFailure


@dataclass(frozen=True)
class LlmRequest:
    mechanism: str  # the mechanism's archive id
    hook: str
    index: int  # 1 for the hook call's first request
    prompt: str  # as the mechanism wrote them: untrusted, the service fences them as data
    system: str | None
    max_tokens: int


LlmService = Callable[[LlmRequest], str]  # the engine's: a request -> the model's answer


class LlmBridge:
    """Answers the ctx.llm requests of one hook call (`__call__` is the worker link's on_llm)."""

    def __init__(self, service: LlmService | None, mech_id: str, hook: str) -> None:
        self.service = service
        self.mech_id = mech_id
        self.hook = hook
        self.calls = 0
        self.waited_s = 0.0  # in the service: the model's time, not the mechanism's

    def __call__(self, data: bytes) -> bytes:
        self.calls += 1
        if self.calls > MAX_LLM_CALLS:
            raise HookFailure(self.mech_id, self.hook, "over-budget",
                              f"called ctx.llm more than {MAX_LLM_CALLS} times in one call "
                              f"(at most {MAX_LLM_CALLS} per hook call)")
        request = replies.llm_request(self.mech_id, self.hook, data)
        if self.service is None:
            raise HookFailure(self.mech_id, self.hook, "invalid",
                              "called ctx.llm where no model answers (this host has no model service)")
        started = time.monotonic()
        try:
            text = self.service(LlmRequest(self.mech_id, self.hook, self.calls, request["prompt"], request["system"],
                                           request["max_tokens"]))
        finally:
            self.waited_s += time.monotonic() - started
        return replies.llm_answer(text)
