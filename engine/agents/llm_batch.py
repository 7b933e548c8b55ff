"""The `llm` proposer with several workers: the trials in flight in its prompt, and n points in one call.

With one worker nothing here changes a prompt: the in-flight section is added only when trials are
in flight, and a batch is asked only when several workers start together.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.agents.base import start_point
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.summary import format_params
from bilevel_evolve.ground.records import Proposal, SearchContext
from bilevel_evolve.ground.space import Scalar

Messages = list[dict[str, str]]
PointProblems = Callable[[dict[str, Scalar]], list[str]]  # the proposer's own rules for one point


class PointAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    params: dict[str, Scalar]
    rationale: str = ""


class BatchAnswer(BaseModel):
    """The JSON the model answers a batch with: one entry per point, in the order they will run."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    proposals: list[PointAnswer]


def with_in_flight(messages: Messages, ctx: SearchContext) -> Messages:
    """The prompt, with the trials running now listed after it (none running: the prompt unchanged)."""
    if not ctx.pending:
        return messages
    lines = "\n".join(f"- {format_params(p.params)} (iteration {p.iteration})" for p in ctx.pending)
    section = (f"\n\n## Trials running now ({len(ctx.pending)}; results not known yet)\n{lines}\n\n"
               "Do not propose any of these again: pick points that complement them.")
    return _extend_last_user(messages, section)


def batch_messages(messages: Messages, ctx: SearchContext, n: int) -> Messages:
    ask = (f"\n\n## {n} workers start now\nPropose {n} distinct points at once: they run at the same time, so "
           "none learns from another; spread them so that together they teach the most. Answer with "
           f'"proposals": a list of exactly {n} objects, each with "params" and "rationale" as above.')
    return _extend_last_user(with_in_flight(messages, ctx), ask)


def propose_batch(client: LLMClient, messages: Messages, ctx: SearchContext, n: int,
                  point_problems: PointProblems) -> list[Proposal]:
    """n distinct proposals from one call (with the client's repair round for an unusable answer)."""
    base = start_point(ctx)

    def problems(answer: BatchAnswer) -> list[str]:
        if len(answer.proposals) != n:
            return [f'"proposals" must hold exactly {n} points; it holds {len(answer.proposals)}']
        found: list[str] = []
        taken = [dict(p.params) for p in ctx.pending]
        for i, point in enumerate(answer.proposals, 1):
            wrong = point_problems(point.params)
            found += [f"proposal {i}: {problem}" for problem in wrong]
            if wrong:
                continue
            merged = ctx.space.complete(point.params, base)
            if merged in taken:
                found.append(f"proposal {i} repeats a point that is running or proposed above: {format_params(merged)}")
            taken.append(merged)
        return found

    answer = client.complete_json(batch_messages(messages, ctx, n), BatchAnswer, "propose_batch", check=problems)
    return [Proposal(params=ctx.space.complete(point.params, base), rationale=point.rationale.strip(), source="llm")
            for point in answer.proposals]


def _extend_last_user(messages: Messages, text: str) -> Messages:
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] += text
            return out
    return [*out, {"role": "user", "content": text.strip()}]
