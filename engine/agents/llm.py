"""The `llm` proposer: asks a language model for the next point, validated against the space.

`--agent replay:RUN_DIR` is the same agent over a client built with replay_from (no network).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.agents.base import start_point
from bilevel_evolve.engine.agents.llm_batch import propose_batch, with_in_flight
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.prompts import prompt_messages
from bilevel_evolve.engine.llm.summary import (
    format_config,
    format_hints,
    format_history,
    format_params,
    format_space,
    format_usage,
)
from bilevel_evolve.ground.errors import SpaceError
from bilevel_evolve.ground.records import Proposal, SearchContext
from bilevel_evolve.ground.space import Scalar


class ProposalAnswer(BaseModel):
    """The JSON the model answers with: the parameters it changes (or all of them) and why."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    params: dict[str, Scalar]
    rationale: str = ""


class LLMAgent:
    name = "llm"

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self.proposals = 0

    def messages(self, ctx: SearchContext) -> list[dict[str, str]]:
        base = start_point(ctx)
        incumbent = (
            f"{format_params(base)} -> value {ctx.incumbent.value:.6g} (iteration {ctx.incumbent.iteration})"
            if ctx.incumbent is not None and ctx.incumbent.value is not None
            else f"none yet; the defaults are {format_params(base)}"
        )
        return prompt_messages(
            "propose_system",
            "propose",
            iteration=ctx.iteration,
            direction=ctx.direction,
            space=format_space(ctx.space, ctx.config.frozen),
            incumbent=incumbent,
            trial_count=len(ctx.history),
            history=format_history(ctx.history, ctx.space),
            usage=format_usage(ctx.history, ctx.space),
            config=format_config(ctx.config),
            hints=format_hints(ctx.hints),
        )

    def propose(self, ctx: SearchContext) -> Proposal:
        base = start_point(ctx)

        def problems(answer: ProposalAnswer) -> list[str]:
            return _problems(ctx, base, answer.params)

        answer = self.client.complete_json(with_in_flight(self.messages(ctx), ctx), ProposalAnswer, "propose",
                                           check=problems)
        self.proposals += 1
        params = ctx.space.complete(answer.params, base)
        return Proposal(params=params, rationale=answer.rationale.strip(), source="llm")

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]:
        """n distinct points in one call, for n workers starting together (engine.agents.llm_batch)."""
        base = start_point(ctx)
        proposals = propose_batch(self.client, self.messages(ctx), ctx, n, lambda params: _problems(ctx, base, params))
        self.proposals += n
        return proposals

    def state_dict(self) -> dict[str, Any]:
        return {"proposals": self.proposals, "client": self.client.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proposals = int(state.get("proposals", 0))
        if "client" in state:
            self.client.load_state_dict(state["client"])


def _problems(ctx: SearchContext, base: dict[str, Scalar], params: dict[str, Scalar]) -> list[str]:
    if not params:
        return ['"params" is empty: give at least one parameter to change']
    try:
        merged = ctx.space.complete(params, base)
    except SpaceError as exc:
        return [exc.problem]
    return [
        f"{name} is frozen and must stay {base[name]!r} (you gave {merged[name]!r})"
        for name in ctx.config.frozen
        if name in merged and merged[name] != base[name]
    ]
