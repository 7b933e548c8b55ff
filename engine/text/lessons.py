"""Lessons: what each step of a text run taught, for the stages that propose (never for the judge).

After every decided step the pipeline knows which edits it made (the draft's meta), whether the draft
was kept, and how each criterion moved against the draft it revised (their judgements). A lesson says
that in a line; the summary is the last lessons and, per kind of edit, how often it was tried and kept.
The analysis, hypotheses and planning stages read the summary. The judge cannot: its only inputs are
the draft and the rubric (domains/text/judge.py), and a test reads every request it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bilevel_evolve.domains.text.domain import PARAM
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.ground.records import TrialRecord

PLANNED = "planned"  # the key of a draft meta's notes that lists its plan (what the assessment saw)
VETOED = "vetoed"  # ... and the number of planned edits the assessment turned down
SHOWN_LESSONS = 8
SHOWN_STATS = 12
_EFFECT = 0.05  # a criterion that moved less than this did not move


@dataclass(frozen=True)
class Lesson:
    iteration: int
    kept: bool
    status: str
    value: float | None
    parent_value: float | None
    edits: tuple[str, ...]
    planned: tuple[str, ...]
    effects: dict[str, float]  # criterion -> score change against the parent draft
    text: str


@dataclass
class EditStats:
    tried: int = 0
    kept: int = 0
    gain: float = 0.0  # summed change of the criterion the edit aimed at

    @property
    def kept_rate(self) -> float:
        return (self.kept + 1) / (self.tried + 2)  # Laplace: an untried edit counts as a coin flip


@dataclass(frozen=True)
class Lessons:
    lessons: tuple[Lesson, ...] = ()
    stats: dict[str, EditStats] = field(default_factory=dict)  # "action -> criterion" -> stats

    def summary(self, shown: int = SHOWN_LESSONS) -> str:
        if not self.lessons:
            return "No lessons yet: this is the first revision."
        recent = "\n".join(f"- {lesson.text}" for lesson in self.lessons[-shown:])
        ranked = sorted(self.stats.items(), key=lambda kv: (-kv[1].tried, kv[0]))[:SHOWN_STATS]
        stats = "\n".join(f"- {key}: tried {s.tried}, kept {s.kept}, aimed criterion moved {s.gain:+.2f} in all"
                          for key, s in ranked)
        return f"Recent steps:\n{recent}\nEdits so far:\n{stats}"


def edit_key(edit: str) -> str:
    """'add_term -> required_terms: worked in the term x' -> 'add_term -> required_terms'."""
    return edit.split(":", 1)[0].strip()


def aimed_criterion(key: str) -> str:
    return key.rpartition("->")[2].strip()


def learn(history: Sequence[TrialRecord], book: DraftBook) -> Lessons:
    """The lessons of every search step in `history` (baseline steps teach nothing about edits)."""
    lessons: list[Lesson] = []
    stats: dict[str, EditStats] = {}
    for trial in history:
        if trial.source == "baseline" or PARAM not in trial.params:
            continue
        lesson = _lesson(trial, book)
        if lesson is None:
            continue
        lessons.append(lesson)
        made = set(dict.fromkeys(edit_key(e) for e in lesson.edits))
        for key in made:
            s = stats.setdefault(key, EditStats())
            s.tried += 1
            s.kept += int(lesson.kept)
            s.gain += lesson.effects.get(aimed_criterion(key), 0.0)
        for key in dict.fromkeys(edit_key(p) for p in lesson.planned):
            if key not in made:  # planned, then vetoed or found nothing to change: tried, and it did not pay
                stats.setdefault(key, EditStats()).tried += 1
    return Lessons(tuple(lessons), stats)


def _lesson(trial: TrialRecord, book: DraftBook) -> Lesson | None:
    draft = int(trial.params[PARAM])
    meta = book.meta(draft)
    if meta is None:
        return None
    parent = meta.parent if meta.parent is not None else 0
    mine, theirs = book.mean_scores(draft), book.mean_scores(parent)
    effects = {} if mine is None or theirs is None else {
        cid: round(mine[cid] - theirs.get(cid, mine[cid]), 3) for cid in mine}
    parent_judged = book.judgements(parent)
    parent_value = sum(j.total for j in parent_judged) / len(parent_judged) if parent_judged else None
    edits = meta.edits or ("no edit",)
    head = f"iteration {trial.iteration} (draft {draft} from draft {parent}):"
    if trial.status != "ok" or trial.value is None:
        why = f" ({trial.reason})" if trial.reason else ""
        text = f"{head} {trial.status}{why}; edits: {_edits(edits)}"
    else:
        verdict = "kept" if trial.accepted else "discarded"
        change = "" if parent_value is None else f", {parent_value:.3f} -> {trial.value:.3f} " \
                                                 f"({trial.value - parent_value:+.3f})"
        text = f"{head} {verdict}{change}; edits: {_edits(edits)}; {_effects(effects)}"
    return Lesson(iteration=trial.iteration, kept=trial.accepted, status=trial.status, value=trial.value,
                  parent_value=parent_value, edits=meta.edits,
                  planned=tuple(meta.notes.get(PLANNED, ())), effects=effects, text=text)


def _edits(edits: tuple[str, ...]) -> str:
    return "; ".join(edits)


def _effects(effects: dict[str, float]) -> str:
    up = [f"{c} {d:+.2f}" for c, d in effects.items() if d >= _EFFECT]
    down = [f"{c} {d:+.2f}" for c, d in effects.items() if d <= -_EFFECT]
    if not up and not down:
        return "no criterion moved"
    if up and down:
        return f"raised {', '.join(up)} but lowered {', '.join(down)}"
    return f"raised {', '.join(up)}" if up else f"lowered {', '.join(down)}"
