"""Drives a mechanism's hooks over a trace, the way the inner loop would, and checks every answer.

A trace is either recorded (trials replayed as they happened; what the hooks return is checked but
not applied) or synthetic (each iteration samples a point, lets propose/review change it, and scores
it on a cheap deterministic objective; iteration 4 fails, as real trials sometimes do).
There is no engine here, so a hook's ctx.llm gets the deterministic stand-in's answer
(ground/contract/llm.stand_in_answer), under the same cap as in a run: a hook that asks more than
MAX_LLM_CALLS times in one call, or asks what ctx.llm may not, is rejected here.
Standard library only (runs inside the container).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bilevel_evolve.ground.contract.ctx import derive_seed
from bilevel_evolve.ground.contract.interface import HOOKS, MAX_STATE_BYTES
from bilevel_evolve.ground.contract.llm import request_shape_problems, stand_in_answer
from bilevel_evolve.ground.contract.returns import check_return
from bilevel_evolve.ground.contract.unit_space import from_unit, to_unit
from bilevel_evolve.sandbox.guest.worker_link import TooManyLlmCalls, Worker

FAILED_ITERATION = 4
# What a stage hook (text runs) is given in a smoke test: a short markdown draft, different each iteration.
SMOKE_DRAFT = (
    "# A smoke-test draft\n\n"
    "In order to utilize the cache, it is important to note that the application first checks it, and if the "
    "data is there, which is called a cache hit, it returns at once.\n\n"
    "## How it works\n\n"
    "A cache has a limited capacity; when it is full, an entry is evicted to make room for a new one.\n"
)


class HookProblem(Exception):
    """The mechanism broke the contract; the message is the rejection reason."""


@dataclass
class HookStats:
    calls: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0

    def add(self, ms: float) -> None:
        self.calls += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)

    def to_json(self) -> dict[str, Any]:
        mean = self.total_ms / self.calls if self.calls else 0.0
        return {"calls": self.calls, "max_ms": round(self.max_ms, 3), "mean_ms": round(mean, 3)}


@dataclass
class Driver:
    worker: Worker
    space: dict[str, Any]
    direction: str
    seed: int
    iterations: int
    per_call_s: float
    hooks: list[str]
    recorded: list[dict[str, Any]] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, HookStats] = field(default_factory=dict)
    llm_calls: int = 0  # the ctx.llm requests the stand-in answered

    # -- one request, timed and checked ---------------------------------------------------------
    def _request(self, req: dict[str, Any], label: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            reply = self.worker.request(req, self.per_call_s, label, on_llm=lambda data: self._stand_in(data, label))
        except TooManyLlmCalls as exc:
            raise HookProblem(f"{label}: {exc}") from None
        if req["op"] != "new":
            name = req.get("hook", req["op"])
            self.stats.setdefault(name, HookStats()).add((time.perf_counter() - started) * 1000)
        if not reply["ok"]:
            where = f" ({reply['where']})" if reply.get("where") else ""
            raise HookProblem(f"{label} raised {reply.get('error', 'an error')}{where}")
        return reply

    def _stand_in(self, data: bytes, label: str) -> bytes:
        """The answer to one ctx.llm request: the stand-in's, deterministic."""
        try:
            request = json.loads(data)
        except (ValueError, RecursionError):
            raise HookProblem(f"{label} sent a ctx.llm request that is not JSON") from None
        problems = request_shape_problems(request)
        if problems:
            raise HookProblem(f"{label} sent a ctx.llm request that ctx.llm may not make: {'; '.join(problems)}")
        self.llm_calls += 1
        return json.dumps({"ok": True, "text": stand_in_answer(request["prompt"], request["max_tokens"])}).encode()

    def _call(self, hook: str, ctx: dict[str, Any], iteration: int, **extra: Any) -> Any:
        label = f"hook {hook} at iteration {iteration}"
        reply = self._request({"op": "call", "hook": hook, "ctx": ctx, "seed": self.seed, **extra}, label)
        if "unencodable" in reply:
            raise HookProblem(f"hook {hook} returned {reply['unencodable']}, which is not JSON data")
        value = json.loads(reply["value_json"])
        problems = check_return(hook, value, self.space)
        if problems:
            raise HookProblem(f"{'; '.join(problems)} (iteration {iteration})")
        return value

    def new_instance(self) -> None:
        self._request({"op": "new"}, "MECHANISM()")

    def state_dict(self) -> str:
        reply = self._request({"op": "state_dict"}, "hook state_dict")
        if "unencodable" in reply:
            raise HookProblem(f"hook state_dict returned {reply['unencodable']}: not JSON-serializable")
        text = reply["value_json"]
        if not isinstance(text, str):
            raise HookProblem("hook state_dict: the worker's reply carries no JSON text")
        if len(text) > MAX_STATE_BYTES:
            raise HookProblem(f"hook state_dict returned {len(text)} bytes of JSON (at most {MAX_STATE_BYTES})")
        if not isinstance(json.loads(text), dict):
            raise HookProblem(f"hook state_dict returned {text[:80]!r}, expected a JSON object (dict)")
        return text

    def load_state_dict(self, state_json: str) -> None:
        self._request({"op": "load_state_dict", "state_json": state_json}, "hook load_state_dict")

    # -- the trace ------------------------------------------------------------------------------
    def _ctx(self, iteration: int, history: list[dict[str, Any]], incumbent: dict[str, Any] | None) -> dict[str, Any]:
        return {"space": self.space, "direction": self.direction, "iteration": iteration,
                "history": history, "incumbent": incumbent, "config": self.config, "hints": {}}

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "minimize" else a > b

    def _score(self, params: dict[str, Any]) -> float:
        # A smooth bowl with its optimum off-centre; deterministic, cheap, defined for every space.
        total = sum((to_unit(spec, params[name]) - 0.3) ** 2 for name, spec in self.space.items())
        return round(total if self.direction == "minimize" else -total, 12)

    def run(self, *, reload_at: int | None = None) -> list[str]:
        """One pass over the trace from a fresh instance; returns every hook output, canonical JSON.

        With reload_at, the instance is replaced by a fresh one loaded from state_dict() after that
        many iterations (what a resumed run does)."""
        outputs: list[str] = []
        self.new_instance()
        history: list[dict[str, Any]] = []
        incumbent: dict[str, Any] | None = None
        for i in range(self.iterations):
            if reload_at is not None and i == reload_at:
                state = self.state_dict()
                self.new_instance()
                self.load_state_dict(state)
            ctx = self._ctx(i, history, incumbent)
            trial = self._iteration(i, ctx, incumbent, outputs)
            history.append(trial)
            if trial["accepted"] and trial["status"] == "ok":
                incumbent = trial
        return outputs

    def _iteration(self, i: int, ctx: dict[str, Any], incumbent: dict[str, Any] | None,
                   outputs: list[str]) -> dict[str, Any]:
        def record(hook: str, value: Any) -> Any:
            outputs.append(f"{hook}@{i}:{json.dumps(value, sort_keys=True)}")
            return value

        if "guide" in self.hooks:
            record("guide", self._call("guide", ctx, i))
        if "stage" in self.hooks:
            record("stage", self._call("stage", ctx, i, draft=f"{SMOKE_DRAFT}\nIteration {i}.\n"))
        if self.recorded is not None:
            proposal = dict(self.recorded[i]["params"])
        else:
            rng = random.Random(derive_seed(self.seed, i, "trace"))
            proposal = {name: from_unit(spec, rng.random()) for name, spec in self.space.items()}
        if "propose" in self.hooks:
            proposed = record("propose", self._call("propose", ctx, i))
            if proposed is not None and self.recorded is None:
                proposal = proposed
        if "review" in self.hooks:
            verdict = record("review", self._call("review", ctx, i, proposal=proposal))
            if verdict and "replace" in verdict and self.recorded is None:
                proposal = verdict["replace"]
        trial = self._trial(i, proposal, incumbent)
        if "observe" in self.hooks:
            record("observe", self._call("observe", ctx, i, trial=trial))
        if "accept" in self.hooks:
            decision = record("accept", self._call("accept", ctx, i, trial=trial, incumbent=incumbent))
            if decision is not None and self.recorded is None:
                trial = {**trial, "accepted": decision}
        return trial

    def _trial(self, i: int, params: dict[str, Any], incumbent: dict[str, Any] | None) -> dict[str, Any]:
        if self.recorded is not None:
            return dict(self.recorded[i])
        if i == FAILED_ITERATION:
            return {"iteration": i, "params": params, "status": "failed", "value": None,
                    "accepted": False, "source": "agent", "duration_s": 0.0}
        value = self._score(params)
        better = incumbent is None or self._better(value, incumbent["value"])
        return {"iteration": i, "params": params, "status": "ok", "value": value, "accepted": better,
                "source": "mechanism" if "propose" in self.hooks else "agent", "duration_s": 0.0}


def first_difference(a: list[str], b: list[str]) -> str | None:
    for left, right in zip(a, b, strict=False):
        if left != right:
            hook_at = left.split(":", 1)[0].replace("@", " at iteration ")
            return (f"hook {hook_at} returned {left.split(':', 1)[1][:150]} in one run and "
                    f"{right.split(':', 1)[1][:150]} in another")
    if len(a) != len(b):
        return f"the two runs made {len(a)} and {len(b)} hook calls"
    return None


def defined_hooks(hooks: list[str]) -> list[str]:
    return [h for h in HOOKS if h in hooks]

