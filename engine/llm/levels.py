"""Which level asked: the purpose of an exchange names it ("propose", "level15", "level2/explore", with
"/repair" after a repair round), so tokens and cost can be split by level from the cassette alone. A text
run's pipeline stages are the proposer's ("propose/analysis"), its judge's calls the trials' ("judge"), and
the calls mechanisms make through ctx.llm Level 2's ("level2/stage/ID": the hook, then the first 12
characters of the mechanism's archive id)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bilevel_evolve.engine.llm.cassette import CassetteEntry

LEVEL_NAMES = {"1": "Level 1 (proposer)", "1.5": "Level 1.5 (search configuration)", "2": "Level 2 (research)",
               "judge": "Trials (the text domain's judge)"}


def level_of(purpose: str) -> str:
    head = purpose.split("/", 1)[0]
    if head == "propose":
        return "1"
    if head == "level15":
        return "1.5"
    if head == "level2":
        return "2"
    if head == "judge":
        return "judge"
    return "other"


@dataclass(frozen=True)
class LevelUsage:
    level: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def usage_by_level(entries: Iterable[CassetteEntry]) -> list[LevelUsage]:
    """Totals per level, in level order (levels that made no call are left out)."""
    totals: dict[str, LevelUsage] = {}
    for e in entries:
        level = level_of(e.purpose)
        t = totals.get(level, LevelUsage(level))
        totals[level] = LevelUsage(level, t.calls + 1, t.prompt_tokens + e.usage.prompt_tokens,
                                   t.completion_tokens + e.usage.completion_tokens, t.cost_usd + e.cost_usd)
    order = [*LEVEL_NAMES, "other"]
    return [totals[k] for k in order if k in totals]
