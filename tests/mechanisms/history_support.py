"""A mechanism that answers with everything its ctx holds, and the ctxs of a growing run, to check
that incremental history sends hand hooks exactly the ctx full sends do."""

from __future__ import annotations

import json
from typing import Any

from bilevel_evolve.engine.mechanisms.ctx_json import CtxJson
from bilevel_evolve.ground.contract.ctx import build_context
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord

from .conftest import SPACE, trial_record

ECHO = MechanismSource(b"""
class Echo:
    name = "echo"

    def guide(self, ctx):
        return {"iteration": ctx.iteration, "direction": ctx.direction, "space": ctx.space,
                "history": [trial(t) for t in ctx.history],
                "incumbent": trial(ctx.incumbent) if ctx.incumbent else None,
                "config": [ctx.config.frozen, ctx.config.focus, ctx.config.strategy, ctx.config.step_scale],
                "hints": [ctx.hints.focus, ctx.hints.avoid, ctx.hints.notes], "draw": ctx.rng.random()}


def trial(t):
    return [t.iteration, dict(t.params), t.status, t.value, t.accepted, t.source, t.duration_s]


MECHANISM = Echo
""")


def echoed(ctx_json: dict[str, Any], seed: int) -> Any:
    """What ECHO's guide answers for this ctx when the worker builds it from the whole history."""
    ctx = build_context(ctx_json, seed=seed, hook="guide")

    def trial(t: Any) -> list[Any]:
        return [t.iteration, dict(t.params), t.status, t.value, t.accepted, t.source, t.duration_s]

    value = {"iteration": ctx.iteration, "direction": ctx.direction, "space": ctx.space,
             "history": [trial(t) for t in ctx.history], "incumbent": trial(ctx.incumbent) if ctx.incumbent else None,
             "config": [ctx.config.frozen, ctx.config.focus, ctx.config.strategy, ctx.config.step_scale],
             "hints": [ctx.hints.focus, ctx.hints.avoid, ctx.hints.notes], "draw": ctx.rng.random()}
    return json.loads(json.dumps(value))


def trials(count: int) -> list[TrialRecord]:
    return [trial_record(i, (i % 7) - 3.0) for i in range(count)]


def growing_ctxs(history: list[TrialRecord], start: int = 0) -> list[dict[str, Any]]:
    """The JSON ctxs of iterations start..len(history), as the engine makes them (`CtxJson`)."""
    as_json = CtxJson()
    return [as_json(SearchContext(space=SPACE, direction="minimize", iteration=n, history=tuple(history[:n]),
                                  incumbent=history[0] if n else None, config=SearchConfig()))
            for n in range(start, len(history) + 1)]
