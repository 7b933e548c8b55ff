"""The judge: scores a draft against the rubric, criterion by criterion, and nothing else.

A judge's inputs are the draft and the rubric it was built with, by construction: `Judge.judge` takes
the text (and the trial's seed, for a judge with noise) and has no way to receive anything the search
learned. The offline judge (`MeasuredJudge`) scores the measurable criteria exactly; the model judge
(engine/text/llm_judge.py) scores every criterion through the engine's LLM client.
"""

from __future__ import annotations

import random
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.domains.text.measure import Measures, count_term, has_section, measure
from bilevel_evolve.domains.text.rubric import MAX_SCORE, Criterion, Rubric


class Judgement(BaseModel):
    """Scores 0-10 by criterion id, their weighted mean, and one note per criterion on why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scores: dict[str, float]
    total: float
    notes: dict[str, str] = Field(default_factory=dict)
    unscored: tuple[str, ...] = ()  # criteria this judge cannot score (judged ones, offline)


class InvalidJudgement(Exception):
    """The judge could not give a usable judgement (a model's answer still invalid after its repair)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class Judge(Protocol):
    name: str

    def judge(self, text: str, seed: int) -> Judgement:
        """Score `text`; InvalidJudgement when no usable judgement can be had (the trial is then invalid)."""
        ...


class MeasuredJudge:
    """Deterministic: scores each measurable criterion from the text's measures. Judged criteria are
    left out of the total (and named in `unscored`). noise_sd adds seeded Gaussian noise to the total,
    to exercise noise-aware keep/discard as a model judge would."""

    name = "measured"

    def __init__(self, rubric: Rubric, noise_sd: float = 0.0) -> None:
        self.rubric = rubric
        self.noise_sd = noise_sd

    def judge(self, text: str, seed: int) -> Judgement:
        measures = measure(text)
        scores: dict[str, float] = {}
        notes: dict[str, str] = {}
        for criterion in self.rubric.measurable:
            scores[criterion.id], notes[criterion.id] = score_criterion(criterion, text, measures)
        total = self.rubric.total(scores, self.rubric.measurable)
        if self.noise_sd:
            total = round(min(MAX_SCORE, max(0.0, total + random.Random(seed).gauss(0.0, self.noise_sd))), 4)
        return Judgement(scores=scores, total=total, notes=notes, unscored=tuple(c.id for c in self.rubric.judged))


def score_criterion(c: Criterion, text: str, m: Measures) -> tuple[float, str]:
    """(score 0-10, why) for one measurable criterion. Past a bound the score falls as bound / value (a
    draft twice over its cap scores 5), so every step towards the bound shows, however far away it is."""
    if c.kind == "words":
        low, high = c.low or 1.0, c.high or 1.0
        n = m.word_count
        if n < low:
            return _score(n / low), f"{n} words, fewer than {low:g}"
        if n > high:
            return _score(high / n), f"{n} words, more than {high:g}"
        return MAX_SCORE, f"{n} words, within {low:g}-{high:g}"
    if c.kind == "sections":
        missing = [t for t in c.terms if not has_section(m, t)]
        note = f"missing: {', '.join(missing)}" if missing else "every section present"
        return _score(1 - len(missing) / len(c.terms)), note
    if c.kind == "reading_grade":
        cap = c.high or 1.0
        grade = m.reading_grade
        if grade <= cap:
            return MAX_SCORE, f"grade {grade:.1f}, at most {cap:g}"
        return _score(cap / grade), f"grade {grade:.1f}, above {cap:g}"
    if c.kind == "sentence_length":
        parts, said = [], []
        if c.low is not None:
            avg = m.average_sentence
            parts.append(min(1.0, c.low / avg) if avg else 1.0)
            said.append(f"average {avg:.1f} (cap {c.low:g})")
        if c.high is not None:
            longest = m.longest_sentence
            parts.append(min(1.0, c.high / longest) if longest else 1.0)
            said.append(f"longest {longest} (cap {c.high:g})")
        return _score(sum(parts) / len(parts)), ", ".join(said)
    if c.kind == "required_terms":
        missing = [t for t in c.terms if count_term(text, t) == 0]
        note = f"missing: {', '.join(missing)}" if missing else "every term used"
        return _score(1 - len(missing) / len(c.terms)), note
    if c.kind == "banned_terms":
        found = {t: n for t in c.terms if (n := count_term(text, t))}
        note = "none used" if not found else "used: " + ", ".join(f"{t} x{n}" for t, n in found.items())
        return _score(1 / (1 + 0.25 * sum(found.values()))), note
    raise ValueError(f"criterion {c.id} is judged, not measurable")


def _score(fraction: float) -> float:
    return round(MAX_SCORE * min(1.0, max(0.0, fraction)), 3)
