"""A text run's own parts, wired into the ordinary loop (engine/wiring/assembly.py asks for them).

    TextRun.of(domain, config, client, briefing)  -> None for any other domain
    .agent        the proposer (the revision pipeline)
    .bind(dir)    the draft book in the run directory, and the model judge with --agent llm
    .level15()    the Level 1.5 controller over the pipeline's knobs
    .scientist()  the Level 2 scientist (offline: it writes pipeline stages)
    .attach(loop) generated stages run in the loop's mechanism host

A text run decides with one worker on this machine: its pipeline and its judge share one model
client, whose exchanges the cassette numbers in the order they happen, and a replay must meet them in
the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.text.domain import TextDomain
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.text.agent import TextAgent
from bilevel_evolve.engine.text.offline_writer import OfflineWriter
from bilevel_evolve.engine.text.pipeline import Writer
from bilevel_evolve.engine.text.settings import SettingsHolder
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import UsageError

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.outer.base import OuterController
    from bilevel_evolve.engine.outer.research.candidates import Scientist
    from bilevel_evolve.engine.run.loop import InnerLoop
    from bilevel_evolve.mechanism_archive.archive import Archive


class TextRun:
    def __init__(self, domain: TextDomain, config: RunConfig, client: LLMClient | None,
                 briefing: Briefing | None) -> None:
        _check(domain, config, client)
        self.domain = domain
        self.config = config
        self.client = client
        self.briefing = briefing
        self.settings = SettingsHolder()
        self.agent = TextAgent(domain, self._writer(), self.settings, client)

    @classmethod
    def of(cls, domain: Domain, config: RunConfig, client: LLMClient | None,
           briefing: Briefing | None) -> TextRun | None:
        return cls(domain, config, client, briefing) if isinstance(domain, TextDomain) else None

    def _writer(self) -> Writer:
        if self.client is None:
            return OfflineWriter()
        from bilevel_evolve.engine.text.llm_writer import LLMWriter

        return LLMWriter(self.client, self.domain.rubric, self.config.prompt_tokens)

    def bind(self, run_dir: Path) -> None:
        judge = None
        if self.client is not None:
            from bilevel_evolve.engine.text.llm_judge import LLMJudge

            judge = LLMJudge(self.client, self.domain.rubric)
        self.domain.bind(DraftBook(run_dir), judge)

    def level15(self) -> OuterController:
        from bilevel_evolve.engine.outer.level15_text import (
            LLMPipelineAnalyst,
            OfflinePipelineAnalyst,
            PipelineController,
        )

        analyst = (OfflinePipelineAnalyst() if self.client is None
                   else LLMPipelineAnalyst(self.client, self.domain.rubric))
        return PipelineController(analyst, self.settings, self.domain, every=self.config.level15_every)

    def scientist(self, archive: Archive) -> Scientist:
        if self.client is None:
            from bilevel_evolve.engine.outer.research.stage_scientist import OfflineStageScientist

            return OfflineStageScientist()
        from bilevel_evolve.engine.outer.research.llm_scientist import LLMScientist

        return LLMScientist(self.client, self.briefing, archive)

    def attach(self, loop: InnerLoop) -> None:
        """Generated stages run in the loop's mechanism host (a run without one has none)."""
        if loop.mechanisms is not None:
            from bilevel_evolve.engine.text.stages import StageRunner

            self.agent.stages = StageRunner(loop)


def _check(domain: TextDomain, config: RunConfig, client: LLMClient | None) -> None:
    if config.workers != 1 or config.executor != "local":
        raise UsageError("a text run decides with one worker on this machine (--workers 1, --executor local)",
                         "its pipeline and judge share one model client, and a replay must meet their exchanges "
                         "in order; leave out --workers and --executor")
    if client is None and not domain.rubric.measurable:
        raise UsageError(f"the rubric {domain.rubric_file.path} has no measurable criteria, so the offline judge "
                         "cannot score anything",
                         "add measurable ones (words, sections, reading grade, sentence length, required terms, "
                         "banned terms), or judge with a model: --agent llm")
