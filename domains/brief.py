"""A task brief: what a domain tells a language model about its task, so the model's prior can work.

A brief is data, not text: a one-paragraph task statement, the metric, and sections in the order
they matter. Sections marked `whole` (the metric's contract, the budget, the constants with their
comments) are always shown whole; the others (a program.md, the rest of the source) are shortened
to whatever the prompt's token budget leaves, with a note saying what was left out. The engine
renders it (engine.llm.briefing); the offline agent never reads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Shorten = Literal["head", "head_tail"]  # how an optional section is cut: keep its start, or start and end


class BriefSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    body: str
    whole: bool = True  # False: may be shortened (or left out) to fit the prompt's budget
    shorten: Shorten = "head"
    fenced: bool = False  # shown as a ``` block (source code, a config block)


class TaskBrief(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str  # what is optimized and how one trial runs, in a paragraph
    metric: str = ""  # the metric's name as the prompts say it ("val_bpb"), "" when it has none
    sections: tuple[BriefSection, ...] = ()

    def extended(self, section: BriefSection) -> TaskBrief:
        """This brief with one more section right after the whole ones (the user's own notes)."""
        whole = [s for s in self.sections if s.whole]
        rest = [s for s in self.sections if not s.whole]
        return self.model_copy(update={"sections": (*whole, section, *rest)})
