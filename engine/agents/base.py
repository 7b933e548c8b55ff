"""The proposer contract (Level 1): given the search context, propose the next parameters."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from bilevel_evolve.ground.records import Proposal, SearchContext
from bilevel_evolve.ground.space import Scalar


class Agent(Protocol):
    name: str

    def propose(self, ctx: SearchContext) -> Proposal:
        """Return a full parameter dict for the next trial (the loop validates it again)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state, saved in every checkpoint."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class BatchAgent(Agent, Protocol):
    """A proposer with a batch form: n distinct proposals at once, for n workers starting together.
    Proposal i is for iteration ctx.iteration + i, distinct from ctx.pending and from proposals 0..i-1."""

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]: ...


def start_point(ctx: SearchContext) -> dict[str, Scalar]:
    """Where a proposal starts from: the incumbent's parameters, or the defaults before one is kept."""
    return dict(ctx.incumbent.params) if ctx.incumbent is not None else ctx.space.defaults()
