"""One step of a text run: the revision pipeline turns the kept draft into a candidate.

    analysis -> hypotheses -> planning -> assessment -> revision

Each stage reads what the stages before it wrote into the step's `Work` and adds its own part; the
revision stage writes the candidate. A writer does the stages: the offline one with deterministic
edit operators (engine/text/offline_writer.py), the model one with one LLM call per stage, each
prompt a file (engine/text/llm_writer.py). Level 1.5 switches stages off, adds prompt overrides and
sets the boldness (engine/text/settings.py); generated stages (Level 2) run at the positions they
were inserted at, each taking the draft and returning a draft (engine/text/stages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bilevel_evolve.domains.text.rubric import Rubric
from bilevel_evolve.engine.text.lessons import Lessons
from bilevel_evolve.engine.text.settings import STAGES, PipelineSettings, Stage


@dataclass
class PlanItem:
    criterion: str  # the rubric criterion the edit aims at
    action: str  # what kind of edit ("split_long_sentence", or the model's "revise")
    detail: str = ""  # what exactly (a section title, a term, the model's instruction)

    def line(self) -> str:
        return f"{self.action} -> {self.criterion}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Work:
    """What one step's stages share. `notes` holds each stage's own account, in the order they ran."""

    draft: str
    parent: int
    iteration: int
    rubric: Rubric
    lessons: Lessons
    settings: PipelineSettings
    notes: dict[str, str] = field(default_factory=dict)
    plan: list[PlanItem] = field(default_factory=list)
    approved: list[PlanItem] | None = None  # after assessment (None: it did not run, all of the plan goes)
    vetoed: int = 0  # planned edits the assessment turned down
    edits: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # a writer's own structured state between its stages

    def override(self, stage: Stage) -> str:
        return self.settings.overrides.get(stage, "")

    def summary(self) -> str:
        """The proposal's rationale: the plan and what the revision did, in a line or two."""
        did = "; ".join(self.edits) if self.edits else "no edit (the draft is judged again as it is)"
        return f"revision of draft {self.parent}: {did}"


class Writer(Protocol):
    name: str

    def run_stage(self, stage: Stage, work: Work) -> None:
        """Do one stage: add to work.notes / plan / approved, or (revision) set work.draft and work.edits."""
        ...


# A generated stage runs here: given the position ("after:revision") and the step's work, it may replace
# work.draft; it never raises for the stage's own failure (that stage is rolled back instead).
GeneratedStages = Callable[[str, Work], None]


def run_pipeline(writer: Writer, work: Work, generated: GeneratedStages | None = None) -> Work:
    for stage in STAGES:
        if generated is not None:
            generated(f"before:{stage}", work)
        if work.settings.runs(stage):
            writer.run_stage(stage, work)
            work.stages.append(stage)
        if generated is not None:
            generated(f"after:{stage}", work)
    return work
