"""Typed, frozen records shared by the loop, agents, domains and mechanisms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.ground.space import Scalar, SearchSpace

TrialStatus = Literal["ok", "failed", "crashed", "timeout", "invalid", "rejected"]
Direction = Literal["minimize", "maximize"]
Strategy = Literal["explore", "exploit", "focused"]


def gain(new: float, old: float, direction: Direction) -> float:
    """How much better `new` is than `old` in this direction (negative when worse)."""
    return old - new if direction == "minimize" else new - old


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrialResult(_Frozen):
    """What a domain returns for one trial."""

    status: TrialStatus
    value: float | None = None
    duration_s: float = 0.0
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)


class TrialRecord(_Frozen):
    """One evaluated trial as the history (and every mechanism) sees it."""

    iteration: int
    params: dict[str, Scalar]
    status: TrialStatus
    value: float | None
    accepted: bool
    source: str = "agent"
    duration_s: float = 0.0


class Proposal(_Frozen):
    params: dict[str, Scalar]
    rationale: str = ""
    source: str = "agent"


class Hints(_Frozen):
    """Merged guide() output of the active mechanisms, read by the proposer."""

    focus: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class SearchConfig(_Frozen):
    """Level 1.5's control surface over the inner loop."""

    frozen: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()
    strategy: Strategy = "exploit"
    step_scale: float = Field(default=1.0, gt=0, le=10)
    guidance: str = ""
    mechanisms_enabled: bool = True


@dataclass(frozen=True)
class SearchContext:
    """Read-only view of the search that agents receive each iteration. Mechanisms get its JSON
    form, rebuilt by ground/contract/ctx.py with a `rng` seeded from (run seed, iteration, hook)."""

    space: SearchSpace
    direction: Direction
    iteration: int
    history: tuple[TrialRecord, ...]
    incumbent: TrialRecord | None
    config: SearchConfig
    hints: Hints = field(default_factory=Hints)

    def better(self, a: float, b: float) -> bool:
        """True when value a is strictly better than value b in this direction."""
        return gain(a, b, self.direction) > 0

    def to_json(self, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The serializable form sent to sandboxed mechanisms and recorded for replay. A caller
        that keeps its trials' dumps passes them as `history` (`[t.model_dump() for t in
        self.history]`, made earlier) rather than having every trial dumped again."""
        return {
            "space": self.space.to_dict(),
            "direction": self.direction,
            "iteration": self.iteration,
            "history": [t.model_dump() for t in self.history] if history is None else history,
            "incumbent": self.incumbent.model_dump() if self.incumbent else None,
            "config": self.config.model_dump(),
            "hints": self.hints.model_dump(),
        }
