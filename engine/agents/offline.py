"""The offline proposer: a deterministic stand-in for an LLM's prior (the Group A baseline).

It behaves the way the paper describes an LLM-driven inner loop: it attends to the first few
parameters only, walks each in its "obvious" direction with a fixed step, stays on a parameter
while that pays off, moves to the next when it does not, and once nothing helps it cycles the same
few proposals forever. Level 1.5 (focus, frozen, strategy, step scale) and Level 2 mechanisms
(hints, proposals, reviews) are what break that pattern.
"""

from __future__ import annotations

from typing import Any

from bilevel_evolve.engine.agents.base import start_point
from bilevel_evolve.engine.agents.batch import one_by_one
from bilevel_evolve.ground.records import Proposal, SearchContext
from bilevel_evolve.ground.space import ChoiceParam, Scalar, SearchSpace

ATTENTION = 3  # how many parameters the "prior" ever considers, unless told otherwise
STEP = {"exploit": 0.12, "focused": 0.12, "explore": 0.3}


class OfflineAgent:
    name = "offline"

    def __init__(self) -> None:
        self._cursor = 0
        self._last_param: str | None = None
        self._seen = 0  # trials in the history at the last proposal

    def propose(self, ctx: SearchContext) -> Proposal:
        base = start_point(ctx)
        self._advance_after(ctx)
        candidates = self._attention(ctx)
        if not candidates:
            return Proposal(params=base, rationale="every parameter is frozen; re-run the incumbent",
                            source=self.name)
        step = STEP[ctx.config.strategy] * ctx.config.step_scale
        in_flight = [p.params for p in ctx.pending]
        # the parameter under the cursor; with several workers, the first move not in flight already:
        # the next parameters, then the same ones with a longer step
        for offset in range(len(candidates) * (len(in_flight) + 1)):
            name = candidates[(self._cursor + offset) % len(candidates)]
            params = dict(base)
            params[name] = _move(ctx.space, name, base[name], step * (1 + offset // len(candidates)))
            if params not in in_flight:
                break
        self._last_param = name
        return Proposal(params=params, source=self.name,
                        rationale=f"{name}: {base[name]!r} -> {params[name]!r} (obvious direction)")

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]:
        return one_by_one(self, ctx, n)

    def _advance_after(self, ctx: SearchContext) -> None:
        """Stay on a parameter after a kept trial; move the cursor on after a discarded one (once per
        new trial: with several workers, proposals can follow each other on the same history)."""
        grew, self._seen = len(ctx.history) > self._seen, len(ctx.history)
        if self._last_param is None or not ctx.history or not grew:
            return
        last = ctx.history[-1]
        if not last.accepted:
            self._cursor += 1

    def _attention(self, ctx: SearchContext) -> list[str]:
        names = [n for n in ctx.space.names if n not in ctx.config.frozen]
        avoid = set(ctx.hints.avoid)
        focus = [n for n in (*ctx.config.focus, *ctx.hints.focus) if n in names and n not in avoid]
        if ctx.config.strategy == "focused" and focus:
            return list(dict.fromkeys(focus))
        width = ATTENTION + (2 if ctx.config.strategy == "explore" else 0)
        rest = [n for n in names if n not in avoid and n not in focus]
        return list(dict.fromkeys(focus + rest))[: max(width, len(focus))]

    def state_dict(self) -> dict[str, Any]:
        return {"cursor": self._cursor, "last_param": self._last_param, "seen": self._seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._cursor = int(state.get("cursor", 0))
        self._last_param = state.get("last_param")
        self._seen = int(state.get("seen", 0))


def _move(space: SearchSpace, name: str, value: Scalar, step: float) -> Scalar:
    """One step in the parameter's obvious direction: towards the middle of its range, as a
    cautious human (or LLM) would; choices advance to the next option."""
    spec = space.params[name]
    if isinstance(spec, ChoiceParam):
        return spec.choices[(spec.choices.index(value) + 1) % len(spec.choices)]
    u = space.to_unit(name, value)
    direction = 1.0 if space.to_unit(name, spec.default) < 0.5 else -1.0
    target = min(1.0, max(0.0, u + direction * step))
    return space.from_unit(name, target)
