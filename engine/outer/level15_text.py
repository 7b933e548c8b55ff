"""Level 1.5 of a text run: every K iterations, retune the revision pipeline from what the last K taught.

The knobs are the pipeline's (engine/text/settings.py): stages switched on or off, a prompt override
per stage, the revision's boldness. The controller keeps the run's settings (its own store, saved in
its checkpoint state) and records every change as a `pipeline_changed` event with the settings before
and after and the reason. Two analysts: the offline one applies fixed rules, the model one is asked
with a prompt file (engine/prompts/text_level15*.md). Like the proposing stages it may read the
lessons; the judge never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.domains.text.domain import PARAM, TextDomain
from bilevel_evolve.domains.text.rubric import MAX_SCORE, Rubric
from bilevel_evolve.engine.outer.base import OuterController, cycle_due
from bilevel_evolve.engine.outer.decisions import Decisions, Record
from bilevel_evolve.engine.run.events import PipelineChanged
from bilevel_evolve.engine.text.lessons import PLANNED, VETOED, Lessons, learn
from bilevel_evolve.engine.text.settings import STAGES, SWITCHABLE, PipelineSettings, SettingsHolder, Stage

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.outer.view import LoopView

BOLDNESS_STEP = 0.25
WEAKEST_SHOWN = 2


@dataclass(frozen=True)
class PipelineDiagnosis:
    window: int  # search trials read
    kept: int
    failed: int  # invalid, failed, rejected
    planned: int  # edits the plans held (assessment's input)
    vetoed: int
    weakest: tuple[tuple[str, float], ...]  # the kept draft's lowest-scored criteria, lowest first
    lessons: Lessons

    @property
    def stuck(self) -> bool:
        return self.window > 0 and self.kept == 0

    def describe(self) -> str:
        weak = ", ".join(f"{cid} {score:.1f}" for cid, score in self.weakest) or "none below 10"
        return (f"{self.kept} of the last {self.window} drafts kept, {self.failed} failed; the assessment vetoed "
                f"{self.vetoed} of {self.planned} planned edits; weakest criteria of the kept draft: {weak}")


class PipelineDecision(BaseModel):
    """What an analyst answers (also the model's JSON schema)."""

    model_config = ConfigDict(extra="forbid")
    diagnosis: str
    boldness: float = Field(ge=0.0, le=1.0)
    disabled: list[Stage] = Field(default_factory=list)
    overrides: dict[Stage, str] = Field(default_factory=dict)


class PipelineAnalyst(Protocol):
    source: str

    def decide(self, d: PipelineDiagnosis, settings: PipelineSettings) -> PipelineDecision: ...


class OfflinePipelineAnalyst:
    """Bolder while edits pay, more careful when they start to cost; when nothing is kept, point the
    planner at the weakest criteria and stop an assessment that vetoes most of what is planned."""

    source = "offline"

    def decide(self, d: PipelineDiagnosis, settings: PipelineSettings) -> PipelineDecision:
        disabled = list(settings.disabled)
        overrides = dict(settings.overrides)
        weakest = [cid for cid, _ in d.weakest]
        if weakest:
            overrides["planning"] = f"Work on the weakest criteria first: {', '.join(weakest)}."
        else:
            overrides.pop("planning", None)
        if d.stuck:
            if settings.runs("assessment") and d.planned and d.vetoed * 2 >= d.planned:
                disabled.append("assessment")
                why = f"the assessment vetoed {d.vetoed} of {d.planned} planned edits: switched off"
                boldness = settings.boldness
            else:
                boldness = min(1.0, settings.boldness + BOLDNESS_STEP)
                why = "bolder revisions"
            return PipelineDecision(diagnosis=f"stuck: {d.describe()}; {why}", boldness=boldness,
                                    disabled=disabled, overrides=overrides)
        if d.kept * 2 >= d.window:
            return PipelineDecision(diagnosis=f"improving: {d.describe()}; bolder while edits pay",
                                    boldness=min(1.0, settings.boldness + BOLDNESS_STEP), disabled=disabled,
                                    overrides=overrides)
        if "assessment" in disabled:
            disabled.remove("assessment")
        return PipelineDecision(diagnosis=f"mixed: {d.describe()}; more careful revisions, the assessment on",
                                boldness=max(0.0, settings.boldness - BOLDNESS_STEP), disabled=disabled,
                                overrides=overrides)


class LLMPipelineAnalyst:
    source = "llm"

    def __init__(self, client: LLMClient, rubric: Rubric) -> None:
        self.client = client
        self.rubric = rubric

    def decide(self, d: PipelineDiagnosis, settings: PipelineSettings) -> PipelineDecision:
        from bilevel_evolve.engine.llm.prompts import prompt_messages
        from bilevel_evolve.engine.text.llm_writer import LESSONS_CHARS
        from bilevel_evolve.ground.untrusted import for_prompt

        def problems(answer: PipelineDecision) -> list[str]:
            return ["the revision stage writes the candidate: it cannot be disabled"] if "revision" in \
                answer.disabled else []

        messages = prompt_messages(
            "text_level15_system", "text_level15", stages=", ".join(STAGES), switchable=", ".join(SWITCHABLE),
            criteria="\n".join(f"- {c.describe()}" for c in self.rubric.criteria),
            settings=settings.model_dump_json(), diagnosis=d.describe(),
            lessons=for_prompt("lessons", d.lessons.summary(), LESSONS_CHARS))
        return self.client.complete_json(messages, PipelineDecision, "level15", check=problems)


class PipelineController(OuterController):
    name = "level15"

    def __init__(self, analyst: PipelineAnalyst, settings: SettingsHolder, domain: TextDomain, every: int = 5) -> None:
        self.analyst = analyst
        self.settings = settings
        self.domain = domain
        self.every = every
        self.changes = 0

    def before_step(self, view: LoopView) -> Decisions:
        iteration = view.iteration
        if not cycle_due(iteration, self.every):
            return ()
        before = self.settings.current
        decision = self.analyst.decide(self._diagnose(view), before)
        after = PipelineSettings(disabled=tuple(s for s in decision.disabled if s != "revision"),
                                 overrides=decision.overrides, boldness=round(decision.boldness, 4))
        if after == before:
            return ()
        self.settings.current = after
        self.changes += 1
        return (Record(PipelineChanged(step=view.step, iteration=iteration, before=before.model_dump(),
                                       after=after.model_dump(), reason=decision.diagnosis,
                                       source=self.analyst.source)),)

    def _diagnose(self, view: LoopView) -> PipelineDiagnosis:
        book = self.domain.book
        window = [t for t in view.history if t.source != "baseline"][-self.every:]
        planned = vetoed = 0
        for trial in window:
            meta = book.meta(int(trial.params.get(PARAM, 0)))
            if meta is not None:
                planned += len(meta.notes.get(PLANNED, ()))
                vetoed += int(meta.notes.get(VETOED, 0))
        incumbent = view.incumbent
        scores = book.mean_scores(int(incumbent.params.get(PARAM, 0))) if incumbent is not None else None
        weakest = tuple(sorted(((cid, s) for cid, s in (scores or {}).items() if s < MAX_SCORE),
                               key=lambda kv: (kv[1], kv[0]))[:WEAKEST_SHOWN])
        return PipelineDiagnosis(window=len(window), kept=sum(t.accepted for t in window),
                                 failed=sum(t.status != "ok" for t in window), planned=planned, vetoed=vetoed,
                                 weakest=weakest, lessons=learn(view.history, book))

    def state_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "settings": self.settings.current.model_dump()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.changes = int(state.get("changes", 0))
        if "settings" in state:
            self.settings.current = PipelineSettings.model_validate(state["settings"])
