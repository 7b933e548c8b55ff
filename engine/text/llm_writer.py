"""The model writer: each stage of the revision pipeline is one LLM call whose prompt is a file.

    engine/prompts/text_system.md       the editor's role (every stage)
    engine/prompts/text_<stage>.md      the stage's instructions, with $criteria, $lessons, $override, ...

Every answer is JSON validated against the stage's schema and the rubric (criterion ids, the plan's
size, the draft's size), with one repair round (engine/llm/client.py); an answer still unusable makes
the step invalid and the run goes on. A Level 1.5 override is added to its stage's prompt. The lessons
go to analysis, hypotheses and planning; never to the judge (engine/text/llm_judge.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.domains.text.article import MAX_DRAFT_BYTES
from bilevel_evolve.domains.text.rubric import Rubric
from bilevel_evolve.engine.llm.budget import Messages, PromptBudget, fit_messages
from bilevel_evolve.engine.llm.client import LLMClient
from bilevel_evolve.engine.llm.prompts import prompt_messages
from bilevel_evolve.engine.text.lessons import Lessons
from bilevel_evolve.engine.text.pipeline import PlanItem, Work
from bilevel_evolve.engine.text.settings import Stage
from bilevel_evolve.ground.untrusted import clean_text, for_prompt

T = TypeVar("T", bound=BaseModel)
PURPOSE = "propose"  # a stage's exchanges count as the proposer's: "propose/analysis", ...
LINE_CHARS = 400  # one weakness, hypothesis or plan item, as kept
LESSONS_CHARS = 8000
_LESSON_RUNGS = (8, 3, 0)  # lessons shown, ever fewer until the prompt fits its budget


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Weakness(_Answer):
    criterion: str
    problem: str


class AnalysisAnswer(_Answer):
    weaknesses: list[Weakness]
    strengths: list[str] = Field(default_factory=list)


class Idea(_Answer):
    criterion: str
    change: str
    expected: str = ""


class HypothesesAnswer(_Answer):
    hypotheses: list[Idea]


class Step(_Answer):
    criterion: str
    edit: str


class PlanAnswer(_Answer):
    plan: list[Step]


class Veto(_Answer):
    index: int
    why: str


class AssessmentAnswer(_Answer):
    approved: list[int]
    vetoed: list[Veto] = Field(default_factory=list)


class RevisionAnswer(_Answer):
    draft: str
    changes: list[str] = Field(default_factory=list)


def _line(text: str) -> str:
    return clean_text(text, LINE_CHARS, one_line=True)


class LLMWriter:
    name = "llm"

    def __init__(self, client: LLMClient, rubric: Rubric, prompt_tokens: int) -> None:
        self.client = client
        self.rubric = rubric
        self.budget = PromptBudget(max_tokens=prompt_tokens)
        self.ids = {c.id for c in rubric.criteria}

    def run_stage(self, stage: Stage, work: Work) -> None:
        {"analysis": self._analysis, "hypotheses": self._hypotheses, "planning": self._planning,
         "assessment": self._assessment, "revision": self._revision}[stage](work)

    # ---- the stages -------------------------------------------------------------------------------------
    def _analysis(self, work: Work) -> None:
        answer = self._ask(work, "analysis", AnalysisAnswer, lambda a: self._unknown(w.criterion for w in a.weaknesses),
                           draft=True)
        work.notes["analysis"] = "; ".join(f"{w.criterion}: {_line(w.problem)}" for w in answer.weaknesses) or \
            "no weakness found"

    def _hypotheses(self, work: Work) -> None:
        answer = self._ask(work, "hypotheses", HypothesesAnswer,
                           lambda a: self._unknown(h.criterion for h in a.hypotheses),
                           analysis=work.notes.get("analysis", "(the analysis stage is off)"))
        work.notes["hypotheses"] = "; ".join(f"{h.criterion}: {_line(h.change)}" for h in answer.hypotheses)

    def _planning(self, work: Work) -> None:
        limit = work.settings.edits

        def problems(a: PlanAnswer) -> list[str]:
            out = self._unknown(s.criterion for s in a.plan)
            if not a.plan:
                out.append("'plan' is empty: give at least one edit")
            if len(a.plan) > limit:
                out.append(f"'plan' holds {len(a.plan)} edits; at most {limit}")
            return out

        answer = self._ask(work, "planning", PlanAnswer, problems, edits=limit,
                           hypotheses=work.notes.get("hypotheses") or work.notes.get("analysis")
                           or "(no earlier stage ran: plan from the rubric and the lessons)")
        work.plan = [PlanItem(s.criterion, "revise", _line(s.edit)) for s in answer.plan]
        work.notes["planning"] = "; ".join(item.line() for item in work.plan)

    def _assessment(self, work: Work) -> None:
        plan = self._plan(work)
        if not plan:
            work.approved = []
            work.notes["assessment"] = "nothing was planned"
            return

        def problems(a: AssessmentAnswer) -> list[str]:
            return [f"index {i} is not a planned edit (0-{len(plan) - 1})" for i in a.approved
                    if not 0 <= i < len(plan)]

        answer = self._ask(work, "assessment", AssessmentAnswer, problems, draft=True, plan=_numbered(plan))
        work.approved = [plan[i] for i in dict.fromkeys(answer.approved)]
        work.vetoed = len(plan) - len(work.approved)
        vetoes = "; ".join(f"{v.index}: {_line(v.why)}" for v in answer.vetoed)
        work.notes["assessment"] = f"approved {len(work.approved)} of {len(plan)}" + (f"; vetoed {vetoes}"
                                                                                        if vetoes else "")

    def _revision(self, work: Work) -> None:
        items = work.approved if work.approved is not None else self._plan(work)
        if not items:  # everything vetoed: the draft is judged again as it is
            return

        def problems(a: RevisionAnswer) -> list[str]:
            size = len(a.draft.encode("utf-8"))
            if not a.draft.strip():
                return ["'draft' is empty: give the whole revised article"]
            return [f"'draft' is {size:,} bytes; at most {MAX_DRAFT_BYTES:,}"] if size > MAX_DRAFT_BYTES else []

        answer = self._ask(work, "revision", RevisionAnswer, problems, draft=True, edits=_numbered(items),
                           max_bytes=MAX_DRAFT_BYTES)
        work.draft = answer.draft
        work.edits = [f"{item.action} -> {item.criterion}: {item.detail}" for item in items]
        work.notes["revision"] = "; ".join(_line(c) for c in answer.changes)

    # ---- plumbing --------------------------------------------------------------------------------------
    def _plan(self, work: Work) -> list[PlanItem]:
        """The plan; without a planning stage, one edit per weakness the analysis named (or one general one)."""
        if work.plan or "planning" in work.stages:
            return work.plan
        return [PlanItem("general", "revise", "raise the weakest criteria of the rubric")]

    def _unknown(self, criteria: Iterable[str]) -> list[str]:
        return [f"criterion {c!r} is not one of the rubric's ids ({', '.join(sorted(self.ids))})"
                for c in criteria if c not in self.ids]

    def _ask(self, work: Work, stage: Stage, schema: type[T], check: Callable[[T], list[str]], *,
             draft: bool = False, **values: object) -> T:
        def build(rung: int) -> Messages:
            return prompt_messages(
                "text_system", f"text_{stage}", criteria="\n".join(f"- {c.describe()}" for c in self.rubric.criteria),
                lessons=_lessons(work.lessons, _LESSON_RUNGS[rung]), override=_override(work.override(stage)),
                draft=for_prompt("draft", work.draft, MAX_DRAFT_BYTES) if draft else "", **values)

        messages = fit_messages(build, len(_LESSON_RUNGS), self.budget, f"{PURPOSE}/{stage}", schema)
        return self.client.complete_json(messages, schema, f"{PURPOSE}/{stage}", check=check)


def _lessons(lessons: Lessons, shown: int) -> str:
    if not shown:
        return "(left out: the prompt's budget has no room for them)"
    return for_prompt("lessons", lessons.summary(shown), LESSONS_CHARS)


def _override(text: str) -> str:
    return f"\n## Instructions for this stage from the search configuration\n{text}\n" if text else ""


def _numbered(items: list[PlanItem]) -> str:
    return "\n".join(f"{i}. {item.line()}" for i, item in enumerate(items))
