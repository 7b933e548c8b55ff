"""The proposer contract (Level 1): given the search context, propose the next parameters."""

from __future__ import annotations

from typing import Any, Protocol

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


def start_point(ctx: SearchContext) -> dict[str, Scalar]:
    """Where a proposal starts from: the incumbent's parameters, or the defaults before one is kept."""
    return dict(ctx.incumbent.params) if ctx.incumbent is not None else ctx.space.defaults()
