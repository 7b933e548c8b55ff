"""The LLM scientist: the paper's four-round research session, with prompts in files.

Round 1 explores hypotheses from any field, round 2 critiques them (impact x feasibility /
complexity) and picks one, round 3 specifies the mechanism against the interface, round 4 writes
the code; a repair round shows the model the gate and box reports of its failed candidate. Where the
archive remembers earlier runs, round 1 is told what they measured, and rounds 3 and 4 the parents the
session builds on (their sources, measured effects and hook counts: evolution_prompt.py); the candidate
records those parents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bilevel_evolve.engine.llm.prompts import load_prompt, prompt_messages
from bilevel_evolve.engine.outer.research.candidates import Candidate, Hypothesis, ResearchInput
from bilevel_evolve.ground.contract.interface import MAX_LLM_CALLS, MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, SourceTooLarge
from bilevel_evolve.ground.untrusted import for_prompt, for_prompt_name

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.mechanism_archive.archive import Archive

# Ever shorter research prompts, tried in order until one fits the budget: (share of the brief's budget,
# how much of the loop is quoted (loop_reading.READINGS), trials shown).
_RUNGS = ((1.0, 0, 20), (0.75, 1, 15), (0.5, 2, 10), (0.25, 3, 5), (0.1, 4, 3), (0.0, 4, 1))


class _Idea(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bottleneck: str
    idea: str
    evidence: str = ""
    impact: float = Field(ge=0, le=1)
    feasibility: float = Field(ge=0, le=1)
    complexity: float = Field(gt=0, le=5)


class HypothesesAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hypotheses: list[_Idea] = Field(min_length=1, max_length=6)


class SpecAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,40}$")
    hooks: list[str]
    integration: str
    description: str


class CodeAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=20, max_length=MAX_SOURCE_BYTES)  # characters; the bytes are checked below

    @field_validator("code")
    @classmethod
    def _fits_in_a_mechanism(cls, code: str) -> str:
        """Non-ASCII code can pass the character count and still be too many bytes to be a mechanism."""
        size = len(code.encode("utf-8", "surrogatepass"))
        if size > MAX_SOURCE_BYTES:
            raise SourceTooLarge(size)
        return code


class LLMScientist:
    origin = "llm"

    def __init__(self, client: LLMClient, briefing: Briefing | None = None, archive: Archive | None = None) -> None:
        from bilevel_evolve.engine.llm.briefing import Briefing

        self.client = client
        self.briefing = briefing or Briefing()
        self.archive = archive  # where the active mechanisms' sources and this run's rollbacks are read

    def hypothesize(self, data: ResearchInput) -> list[Hypothesis]:
        messages = self._messages("research_explore", data, HypothesesAnswer)
        answer = self.client.complete_json(messages, HypothesesAnswer, "level2/explore")
        return [Hypothesis(h.bottleneck, h.idea, h.evidence, h.impact, h.feasibility, h.complexity)
                for h in answer.hypotheses]

    def write(self, hypothesis: Hypothesis, data: ResearchInput) -> Candidate | None:
        chosen = f"{hypothesis.bottleneck}: {hypothesis.idea}"
        spec_messages = self._messages("research_specify", data, SpecAnswer, hypothesis=chosen)
        spec = self.client.complete_json(spec_messages, SpecAnswer, "level2/specify")
        code_messages = self._messages("research_generate", data, CodeAnswer, hypothesis=chosen,
                                       spec=spec.model_dump_json(indent=2))
        code = self.client.complete_json(code_messages, CodeAnswer, "level2/generate")
        session = {"hypothesis": hypothesis.to_json(), "spec": spec.model_dump(), "bottleneck": hypothesis.bottleneck,
                   "prompts": {"specify": spec_messages[-1]["content"], "generate": code_messages[-1]["content"]},
                   "responses": {"code": code.code}}
        plan = data.plan
        if plan is not None and plan.mode != "fresh":
            session |= {"mode": plan.mode, "family": "+".join(dict.fromkeys(p.family for p in plan.parents))}
        return Candidate(name=spec.name, source=MechanismSource(code.code.encode()), origin=self.origin,
                         session=session, parents=plan.parent_ids if plan is not None else ())

    def repair(self, candidate: Candidate, report: str, round_number: int, data: ResearchInput) -> Candidate | None:
        code_text = candidate.source.data.decode("utf-8", "replace")
        messages = self._messages("research_repair", data, CodeAnswer, round=round_number,
                                  code=for_prompt("your code", code_text, limit=len(code_text) + 1),
                                  report=for_prompt("vetting report", report, limit=len(report) + 1))
        code = self.client.complete_json(messages, CodeAnswer, "level2/repair")
        parent = candidate.notes.get("id")
        session: dict[str, Any] = {**candidate.session, "repair_round": round_number, "report": report,
                                   "responses": {"code": code.code}}
        return Candidate(name=candidate.name, source=MechanismSource(code.code.encode()), origin=self.origin,
                         session=session, parents=(parent,) if parent else ())

    def _messages(self, template: str, data: ResearchInput, schema: type[BaseModel], **extra: Any
                  ) -> list[dict[str, str]]:
        """A research prompt with the brief and the loop's reading, shortened rung by rung to fit the budget."""
        from bilevel_evolve.engine.llm.budget import fit_messages
        from bilevel_evolve.engine.llm.summary import format_history
        from bilevel_evolve.engine.outer.research.evolution_prompt import memory_section, plan_section
        from bilevel_evolve.engine.outer.research.loop_reading import READINGS, read_loop

        def build(rung: int) -> list[dict[str, str]]:
            share, reading, trials = _RUNGS[rung]
            evolution = memory_section(data.memory) if template == "research_explore" else \
                plan_section(data.plan, READINGS[reading].source_chars)
            values = {**self._values(data), **extra, "brief": self.briefing.brief_text(share), "evolution": evolution}
            view = data.loop
            if view is None:
                values["loop"] = "(not available)"
            else:
                values["loop"] = read_loop(view, self.archive, self.briefing, READINGS[reading])
                values["history"] = format_history(view.history, view.space, limit=trials)
            return prompt_messages("research_system", template, **values)

        return fit_messages(build, len(_RUNGS), self.briefing.budget, template, schema)

    def _values(self, data: ResearchInput) -> dict[str, Any]:
        d = data.diagnosis
        return {"interface": load_prompt("mechanism_interface"), "llm_calls": MAX_LLM_CALLS, "space": data.space_text,
                "history": data.history_text, "active": ", ".join(map(for_prompt_name, data.active)) or "none",
                "tried": ", ".join(map(for_prompt_name, sorted(data.tried))) or "none",
                "diagnosis": "\n".join(f"- {b} (severity {s:.2f}): {e}" for b, s, e in d.bottlenecks()),
                "repetition": f"{d.repetition_rate:.0%}", "stagnation": d.stagnation}
