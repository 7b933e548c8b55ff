"""What a scientist hands the research session: hypotheses and candidate mechanism sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bilevel_evolve.engine.analysis.diagnosis import Diagnosis

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.research.evolution import SessionPlan
    from bilevel_evolve.engine.outer.research.memory import ArchiveMemory
    from bilevel_evolve.engine.outer.view import LoopView
from bilevel_evolve.ground.contract.source import MechanismSource


@dataclass(frozen=True)
class Hypothesis:
    bottleneck: str
    idea: str
    evidence: str
    impact: float
    feasibility: float
    complexity: float
    recipe: str | None = None  # the catalog recipe that implements it (offline scientist)

    @property
    def score(self) -> float:
        """The paper's critique score: impact x feasibility / complexity."""
        return self.impact * self.feasibility / max(self.complexity, 1e-6)

    def to_json(self) -> dict[str, Any]:
        return {"bottleneck": self.bottleneck, "idea": self.idea, "evidence": self.evidence,
                "impact": self.impact, "feasibility": self.feasibility, "complexity": self.complexity,
                "score": round(self.score, 4)}


@dataclass(frozen=True)
class Candidate:
    name: str
    source: MechanismSource
    origin: str  # "offline-recipe" | "llm" | "user"
    session: dict[str, Any]  # the recipe and diagnosis, or the prompts and responses
    parents: tuple[str, ...] = ()
    extra_imports: tuple[str, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResearchInput:
    diagnosis: Diagnosis
    active: tuple[str, ...]  # names of the mechanisms active now
    tried: frozenset[str]  # recipe / mechanism names already tried in this run
    session_number: int
    space_text: str
    history_text: str
    loop: LoopView | None = None  # the loop itself, for a scientist that reads more of it (the LLM one)
    memory: ArchiveMemory | None = None  # what earlier runs measured (None: nothing, as with a fresh archive)
    plan: SessionPlan | None = None  # what to write: a child of which parents (None: a fresh mechanism)


class Scientist(Protocol):
    origin: str

    def hypothesize(self, data: ResearchInput) -> list[Hypothesis]: ...

    def write(self, hypothesis: Hypothesis, data: ResearchInput) -> Candidate | None: ...

    def repair(self, candidate: Candidate, report: str, round_number: int, data: ResearchInput) -> Candidate | None:
        ...
