"""Which hypothesis a research session takes up: the critique's score, or a bandit over what was measured.

With no archived evidence for the families of the hypotheses at hand (a fresh archive, --no-reuse, an
LLM's hypotheses, which name no recipe) the critique decides: highest impact x feasibility / complexity,
as in the paper. Once the archive measured some of them, the families are the arms of UCB1 (Auer et
al. 2002): a family never measured here comes first (the critique orders those), then the highest

    mean score + c · sqrt(2 ln N / n)

over the runs' scores of the family's mechanisms (n of them, N over all arms at hand), c being the
spread of those scores (their standard deviation; the mean's magnitude for one), so the exploration
term is in the scores' own units.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bilevel_evolve.engine.outer.research.candidates import Hypothesis

MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class Ranking:
    chosen: Hypothesis | None
    bandit: dict[str, dict[str, Any]]  # recipe -> {"runs", "mean", "index"}; empty when the critique decided

    def recorded(self, hypothesis: Hypothesis) -> dict[str, Any]:
        """What the trace adds to a hypothesis: its arm's numbers, if the bandit ranked it."""
        arm = self.bandit.get(hypothesis.recipe) if hypothesis.recipe is not None else None
        return {} if arm is None else {"bandit": arm}


def rank(hypotheses: Sequence[Hypothesis], family_scores: Mapping[str, Sequence[float]]) -> Ranking:
    if not hypotheses:
        return Ranking(None, {})
    arms = {h.recipe: list(family_scores[h.recipe]) for h in hypotheses if h.recipe and family_scores.get(h.recipe)}
    if not arms:
        return Ranking(max(hypotheses, key=lambda h: h.score), {})
    pulls = sum(len(v) for v in arms.values())
    every = [s for v in arms.values() for s in v]
    spread = max(statistics.stdev(every) if len(every) > 1 else abs(every[0]), MIN_SPREAD)
    index = {name: statistics.fmean(v) + spread * math.sqrt(2 * math.log(pulls) / len(v)) for name, v in arms.items()}

    def key(h: Hypothesis) -> tuple[float, float]:
        arm = index.get(h.recipe) if h.recipe is not None else None
        return (math.inf if arm is None else arm, h.score)

    chosen = max(hypotheses, key=key)
    return Ranking(chosen, {name: {"runs": len(v), "mean": statistics.fmean(v), "index": index[name]}
                            for name, v in arms.items()})
