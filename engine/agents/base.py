"""The proposer contract (Level 1): given the search context, propose the next parameters."""

from __future__ import annotations

from typing import Any, Protocol

from engine.models import Proposal, SearchContext


class Agent(Protocol):
    name: str

    def propose(self, ctx: SearchContext) -> Proposal:
        """Return a full parameter dict for the next trial (the loop validates it again)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state, saved in every checkpoint."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
