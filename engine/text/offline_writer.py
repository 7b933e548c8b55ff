"""The offline writer: the five stages with deterministic edit operators, no model and no key.

It reads the rubric the way a careful editor would: it measures the draft (analysis), lists the edits
that could lift each criterion that falls short, ranked by the shortfall, the criterion's weight, and
what the lessons say that kind of edit did before (hypotheses), picks as many as the boldness allows
(planning), tries each on a copy and keeps those that lift the criterion they aim at without pushing
the length out of range (assessment), and applies them (revision). It checks only what it aims at, so
an edit can still cost another criterion: the judge decides, and the lessons remember.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bilevel_evolve.domains.text import operators
from bilevel_evolve.domains.text.judge import score_criterion
from bilevel_evolve.domains.text.measure import Measures, count_term, has_section, measure
from bilevel_evolve.domains.text.operators import Edit
from bilevel_evolve.domains.text.rubric import MAX_SCORE, Criterion, Rubric
from bilevel_evolve.engine.text.lessons import EditStats
from bilevel_evolve.engine.text.pipeline import PlanItem, Work
from bilevel_evolve.engine.text.settings import Stage

UNKNOWN_SHORTFALL = 5.0  # what a criterion is taken to lack when the analysis did not run
FOCUS_BOOST = 3.0  # an override that names a criterion multiplies its edits' expected gain
REUSE_DECAY = 0.5  # each further use of the same edit in one plan halves what it is expected to bring
READING_SPLIT_CAP = 15  # splitting sentences over this many words lowers the reading grade


@dataclass(frozen=True)
class Hypothesis:
    item: PlanItem
    gain: float


class OfflineWriter:
    name = "offline"

    def run_stage(self, stage: Stage, work: Work) -> None:
        {"analysis": self._analysis, "hypotheses": self._hypotheses, "planning": self._planning,
         "assessment": self._assessment, "revision": self._revision}[stage](work)

    # ---- the stages -------------------------------------------------------------------------------------
    def _analysis(self, work: Work) -> None:
        measures = measure(work.draft)
        scores = {c.id: score_criterion(c, work.draft, measures) for c in work.rubric.measurable}
        work.data["scores"] = {cid: score for cid, (score, _) in scores.items()}
        short = sorted(((s, cid, note) for cid, (s, note) in scores.items() if s < MAX_SCORE), key=lambda x: x[0])
        work.notes["analysis"] = ("falls short on: " + "; ".join(f"{cid} {s:.1f} ({note})" for s, cid, note in short)
                                  if short else "meets every measurable criterion")

    def _hypotheses(self, work: Work) -> None:
        ranked = _ranked(work, with_lessons=True)
        work.data["hypotheses"] = ranked
        work.notes["hypotheses"] = "; ".join(f"{h.item.line()} (expected {h.gain:.2f})" for h in ranked[:6]) \
            or "no edit can lift a criterion"

    def _planning(self, work: Work) -> None:
        ranked: list[Hypothesis] = work.data.get("hypotheses") or _ranked(work, with_lessons=False)
        gains = {id(h): h.gain for h in ranked}
        plan: list[PlanItem] = []
        for _ in range(work.settings.edits):
            if not ranked:
                break
            best = max(ranked, key=lambda h: gains[id(h)])
            if gains[id(best)] <= 0:
                break
            plan.append(best.item)
            gains[id(best)] *= REUSE_DECAY
        work.plan = plan
        work.notes["planning"] = "; ".join(item.line() for item in plan) or "nothing to plan"

    def _assessment(self, work: Work) -> None:
        draft, approved, vetoed = work.draft, [], []
        for item in _plan_of(work):
            edit = apply_item(item, draft, work.rubric)
            verdict = None if edit is None else _assess(item, draft, edit.text, work.rubric)
            if edit is None or verdict:
                vetoed.append(f"{item.line()} ({verdict or 'nothing to change'})")
                continue
            approved.append(item)
            draft = edit.text
        work.approved = approved
        work.vetoed = len(vetoed)
        work.notes["assessment"] = (f"approved {len(approved)} of {len(approved) + len(vetoed)}"
                                    + (f"; vetoed: {'; '.join(vetoed)}" if vetoed else ""))

    def _revision(self, work: Work) -> None:
        items = work.approved if work.approved is not None else _plan_of(work)
        draft = work.draft
        for item in items:
            edit = apply_item(item, draft, work.rubric)
            if edit is not None and edit.text != draft:
                draft = edit.text
                work.edits.append(f"{item.action} -> {item.criterion}: {edit.what}")
        work.draft = draft


def _plan_of(work: Work) -> list[PlanItem]:
    """The plan, or without a planning stage the single most promising edit."""
    if work.plan or "planning" in work.stages:
        return work.plan
    ranked = work.data.get("hypotheses") or _ranked(work, with_lessons=False)
    return [ranked[0].item] if ranked else []


def _ranked(work: Work, *, with_lessons: bool) -> list[Hypothesis]:
    scores: dict[str, float] | None = work.data.get("scores")
    measures = measure(work.draft)
    focus = _focused(work)
    out: list[Hypothesis] = []
    for c in work.rubric.measurable:
        shortfall = UNKNOWN_SHORTFALL if scores is None else MAX_SCORE - scores[c.id]
        if shortfall <= 0:
            continue
        for item in _edits_for(c, measures, work.draft):
            stats = work.lessons.stats.get(f"{item.action} -> {item.criterion}", EditStats())
            prior = stats.kept_rate if with_lessons else 0.5
            boost = FOCUS_BOOST if c.id in focus else 1.0
            out.append(Hypothesis(item, round(shortfall * c.weight * prior * boost, 4)))
    return sorted(out, key=lambda h: -h.gain)


def _focused(work: Work) -> set[str]:
    """The criteria the prompt overrides name (Level 1.5 says what to work on in words)."""
    text = " ".join(work.settings.overrides.values()).lower()
    return {c.id for c in work.rubric.criteria if c.id in text or c.title.lower() in text}


def _edits_for(c: Criterion, m: Measures, draft: str) -> list[PlanItem]:
    if c.kind == "words":
        if c.high is not None and m.word_count > c.high:
            return [PlanItem(c.id, "cut_filler"), PlanItem(c.id, "cut_sentence")]
        return []
    if c.kind == "sections":
        return [PlanItem(c.id, "add_section", t) for t in c.terms if not has_section(m, t)]
    if c.kind == "reading_grade":
        return [PlanItem(c.id, "split_long_sentence"), PlanItem(c.id, "plain_words"), PlanItem(c.id, "cut_filler")]
    if c.kind == "sentence_length":
        return [PlanItem(c.id, "split_long_sentence")]
    if c.kind == "required_terms":
        return [PlanItem(c.id, "add_term", t) for t in c.terms if count_term(draft, t) == 0]
    if c.kind == "banned_terms":
        return [PlanItem(c.id, "drop_banned")]
    return []


def apply_item(item: PlanItem, draft: str, rubric: Rubric) -> Edit | None:
    """The edit an item makes to a draft (None when it finds nothing to do)."""
    c = rubric.by_id(item.criterion)
    cap = {"sentence_length": c.high or c.low or 25.0, "reading_grade": READING_SPLIT_CAP}.get(c.kind, 25.0)
    act: dict[str, Callable[[], Edit | None]] = {
        "split_long_sentence": lambda: operators.split_long_sentence(draft, cap),
        "plain_words": lambda: operators.plain_words(draft),
        "cut_filler": lambda: operators.cut_filler(draft),
        "cut_sentence": lambda: operators.cut_sentence(draft),
        "add_section": lambda: operators.add_section(draft, item.detail),
        "add_term": lambda: operators.add_term(draft, item.detail),
        "drop_banned": lambda: operators.drop_banned(draft, c.terms),
    }
    return act[item.action]() if item.action in act else None


def _assess(item: PlanItem, before: str, after: str, rubric: Rubric) -> str | None:
    """Why the edit should not be made (None: make it): it must lift its own criterion and keep the length."""
    c = rubric.by_id(item.criterion)
    old, new = score_criterion(c, before, measure(before))[0], score_criterion(c, after, measure(after))[0]
    if new <= old:
        return f"{c.id} would not rise ({old:.2f} -> {new:.2f})"
    words = next((w for w in rubric.measurable if w.kind == "words"), None)
    if words is not None and words.id != c.id:
        was, now = score_criterion(words, before, measure(before))[0], score_criterion(words, after, measure(after))[0]
        if now < was:
            return f"the length would leave its range ({words.id} {was:.2f} -> {now:.2f})"
    return None
