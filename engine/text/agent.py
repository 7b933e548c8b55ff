"""The proposer of a text run: the revision pipeline, writing draft N for iteration N.

It revises the incumbent's draft (the one the loop kept), stores the candidate in the draft book
before the proposal is traced, and proposes `{"draft": N}`; the trial judges it. Its lessons are
recomputed from the history and the draft book at every step (a resumed run learns the same ones),
and the current lessons are also written to RUN_DIR/text/lessons.md for a person to read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bilevel_evolve.domains.text.article import MAX_DRAFT_BYTES, normalize_newlines
from bilevel_evolve.domains.text.domain import PARAM, TextDomain
from bilevel_evolve.domains.text.drafts import DraftMeta
from bilevel_evolve.engine.text.lessons import PLANNED, VETOED, learn
from bilevel_evolve.engine.text.pipeline import Work, Writer, run_pipeline
from bilevel_evolve.engine.text.settings import SettingsHolder
from bilevel_evolve.ground.errors import InvalidAgentOutput
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.records import Proposal, SearchContext

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.text.stages import StageRunner

LESSONS_FILE = "lessons.md"


class TextAgent:
    name = "text"

    def __init__(self, domain: TextDomain, writer: Writer, settings: SettingsHolder,
                 client: LLMClient | None = None) -> None:
        self.domain = domain
        self.writer = writer
        self.settings = settings
        self.client = client
        self.stages: StageRunner | None = None  # the loop's generated stages, when it has a mechanism host
        self.proposals = 0

    def propose(self, ctx: SearchContext) -> Proposal:
        book = self.domain.book
        parent = int(ctx.incumbent.params[PARAM]) if ctx.incumbent is not None else 0
        lessons = learn(ctx.history, book)
        atomic_write_bytes(book.root.parent / LESSONS_FILE, (lessons.summary() + "\n").encode("utf-8"), fsync=False)
        work = Work(draft=book.text(parent), parent=parent, iteration=ctx.iteration, rubric=self.domain.rubric,
                    lessons=lessons, settings=self.settings.current)
        run_pipeline(self.writer, work, self.stages.for_step(ctx) if self.stages is not None else None)
        draft = normalize_newlines(work.draft) if work.draft.strip() else ""
        size = len(draft.encode("utf-8"))
        if not draft or size > MAX_DRAFT_BYTES:  # the writer's own checks should have caught it: say so plainly
            raise InvalidAgentOutput(f"the revision gave {'an empty draft' if not draft else f'{size:,} bytes'}; "
                                     f"a draft holds 1 to {MAX_DRAFT_BYTES:,} bytes")
        book.save(ctx.iteration, draft, DraftMeta(draft=ctx.iteration, parent=parent,
                                                  plan=work.notes.get("planning", ""), edits=tuple(work.edits),
                                                  stages=tuple(work.stages),
                                                  notes={**work.notes, PLANNED: [i.line() for i in work.plan],
                                                         VETOED: work.vetoed}))
        self.proposals += 1
        return Proposal(params={PARAM: ctx.iteration}, rationale=work.summary(), source=self.name)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"proposals": self.proposals}
        if self.client is not None:
            state["client"] = self.client.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proposals = int(state.get("proposals", 0))
        if self.client is not None and "client" in state:
            self.client.load_state_dict(state["client"])
