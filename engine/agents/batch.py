"""n proposals at once: a proposer's batch form, or n calls of a proposer that has none."""

from __future__ import annotations

from dataclasses import replace

import structlog

from bilevel_evolve.engine.agents.base import Agent, BatchAgent
from bilevel_evolve.ground.errors import InvalidAgentOutput
from bilevel_evolve.ground.records import PendingTrial, Proposal, SearchContext

log = structlog.get_logger("bilevel_evolve.engine.agents.batch")
_told: set[str] = set()  # proposers already named in the log as having no batch form


def propose_many(agent: Agent, ctx: SearchContext, n: int) -> list[Proposal]:
    """Proposals for the next n steps (iterations ctx.iteration .. ctx.iteration + n - 1), all seeing
    ctx's history; n = 1 is the proposer's ordinary propose."""
    if n == 1:
        return [agent.propose(ctx)]
    if not isinstance(agent, BatchAgent):
        if agent.name not in _told:
            _told.add(agent.name)
            log.warning("proposer_cannot_batch", proposer=agent.name,
                        note=f"it has no batch form: it is called once per proposal ({n} now)")
        return one_by_one(agent, ctx, n)
    proposals = agent.propose_batch(ctx, n)
    if len(proposals) != n:
        raise InvalidAgentOutput(f"the proposer gave {len(proposals)} proposals for a batch of {n}")
    return proposals


def one_by_one(agent: Agent, ctx: SearchContext, n: int) -> list[Proposal]:
    """n calls of propose, each seeing the proposals before it as pending: ask without tell."""
    out: list[Proposal] = []
    for i in range(n):
        ahead = tuple(PendingTrial(iteration=ctx.iteration + k, params=p.params, source=p.source)
                      for k, p in enumerate(out))
        out.append(agent.propose(replace(ctx, iteration=ctx.iteration + i, pending=ctx.pending + ahead)))
    return out
