"""The `llm` proposer: asks a language model for the next point, validated against the space.

`--agent replay:RUN_DIR` is the same agent over a client built with replay_from (no network).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.agents.base import start_point
from bilevel_evolve.engine.agents.llm_batch import propose_batch, with_in_flight
from bilevel_evolve.engine.llm.briefing import Briefing
from bilevel_evolve.engine.llm.budget import Messages, fit_messages
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.prompts import prompt_messages
from bilevel_evolve.engine.llm.summary import (
    format_config,
    format_failures,
    format_hints,
    format_params,
    format_space,
    format_trials,
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


# Ever shorter renderings, tried in order until the prompt fits its budget:
# (recent trials shown, best trials shown, failure reasons shown, share of the brief's budget).
_RUNGS = ((20, 5, 8, 1.0), (10, 5, 5, 1.0), (10, 3, 3, 0.5), (5, 3, 3, 0.25), (3, 1, 2, 0.1), (1, 1, 1, 0.0))


def proposer_messages(ctx: SearchContext, briefing: Briefing, *, budget_tokens: int | None = None,
                      brief_text: str | None = None) -> Messages:
    """The proposer's prompt for this context, within the budget. Another level that quotes it inside its
    own prompt gives budget_tokens (its share) and brief_text (what stands in for the brief it already has)."""
    return fit_messages(lambda rung: _render(ctx, briefing, *_RUNGS[rung], brief_text=brief_text), len(_RUNGS),
                        briefing.budget, "propose", ProposalAnswer, limit=budget_tokens)


def _render(ctx: SearchContext, briefing: Briefing, recent: int, best: int, failures: int, share: float,
            brief_text: str | None = None) -> Messages:
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
        metric=briefing.metric,
        brief=briefing.brief_text(share) if brief_text is None else brief_text,
        space=format_space(ctx.space, ctx.config.frozen),
        incumbent=incumbent,
        trial_count=len(ctx.history),
        history=format_trials(ctx.history, ctx.space, ctx.direction, recent=recent, best=best),
        failures=format_failures(ctx.history, failures),
        usage=format_usage(ctx.history, ctx.space),
        config=format_config(ctx.config),
        hints=format_hints(ctx.hints),
    )


class LLMAgent:
    name = "llm"

    def __init__(self, client: LLMClient, briefing: Briefing | None = None) -> None:
        self.client = client
        self.briefing = briefing or Briefing()
        self.proposals = 0

    def messages(self, ctx: SearchContext) -> Messages:
        return proposer_messages(ctx, self.briefing)

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
