"""The model judge: scores a draft against the rubric through the run's LLM client.

Its prompt is built from two things only, the rubric and the draft (`judge_messages`): no lesson, no
history, no score of another draft can reach it, and tests/text reads every judge request of a run to
hold that. The answer is validated (every criterion, each score 0-10, a total that is their weighted
mean); one repair round, then the trial is invalid and the run goes on.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.domains.text.article import MAX_DRAFT_BYTES
from bilevel_evolve.domains.text.judge import InvalidJudgement, Judgement
from bilevel_evolve.domains.text.rubric import MAX_SCORE, Rubric
from bilevel_evolve.engine.llm.client import InvalidLLMOutput, LLMClient
from bilevel_evolve.engine.llm.prompts import prompt_messages
from bilevel_evolve.ground.untrusted import clean_text, for_prompt

PURPOSE = "judge"
TOTAL_TOLERANCE = 0.25  # how far the stated total may be from the weighted mean of the scores
NOTE_CHARS = 300


class JudgeAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    scores: dict[str, float]
    notes: dict[str, str] = Field(default_factory=dict)
    total: float


def judge_messages(rubric: Rubric, draft: str) -> list[dict[str, str]]:
    """The judge's whole input."""
    return prompt_messages("text_judge_system", "text_judge", rubric=rubric.text.strip(),
                           criteria="\n".join(f"- {c.describe()}" for c in rubric.criteria),
                           draft=for_prompt("article", draft, MAX_DRAFT_BYTES))


class LLMJudge:
    name = "llm"

    def __init__(self, client: LLMClient, rubric: Rubric) -> None:
        self.client = client
        self.rubric = rubric

    def judge(self, text: str, seed: int) -> Judgement:
        ids = [c.id for c in self.rubric.criteria]

        def problems(answer: JudgeAnswer) -> list[str]:
            found = [f"'scores' lacks criterion {cid!r}" for cid in ids if cid not in answer.scores]
            found += [f"'scores' names {cid!r}, which is not a criterion of the rubric" for cid in answer.scores
                      if cid not in ids]
            found += [f"the score of {cid!r} is {s:g}, outside 0-{MAX_SCORE:g}" for cid, s in answer.scores.items()
                      if cid in ids and not 0 <= s <= MAX_SCORE]
            if not found:
                mean = self.rubric.total(answer.scores)
                if abs(answer.total - mean) > TOTAL_TOLERANCE:
                    found.append(f"'total' is {answer.total:g}, but the weighted mean of the scores is {mean:g}")
            return found

        try:
            answer = self.client.complete_json(judge_messages(self.rubric, text), JudgeAnswer, PURPOSE,
                                               check=problems)
        except InvalidLLMOutput as exc:
            raise InvalidJudgement(exc.problem) from None
        scores = {cid: round(answer.scores[cid], 3) for cid in ids}
        notes = {cid: clean_text(answer.notes[cid], NOTE_CHARS, one_line=True) for cid in ids if cid in answer.notes}
        return Judgement(scores=scores, total=self.rubric.total(scores), notes=notes)
