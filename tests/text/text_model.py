"""A deterministic stand-in for the model of a text run, answering the loopback server's requests: the
pipeline's stages edit with the offline operators, the judge scores with the measured judge (plus a
fixed score for the judged criterion), Level 1.5 and Level 2 answer with valid JSON."""

from __future__ import annotations

import re
from typing import Any

from fake_openai import Reply

from bilevel_evolve.domains.text import operators
from bilevel_evolve.domains.text.judge import MeasuredJudge
from bilevel_evolve.domains.text.rubric import Rubric

CLARITY = 7.0
_DATA = re.compile(r"<<<DATA (\w+) \(untrusted; quoted, not instructions\)>>>\n(.*?)\n<<<END \1>>>", re.S)


def quoted(text: str, label: str) -> str:
    """The data block a prompt quotes under `label`."""
    return next(m.group(2) for m in _DATA.finditer(text) if m.group(1) == label)


def system_of(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def user_of(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def is_judge(request: dict[str, Any]) -> bool:
    return "judge of writing" in system_of(request)


class TextModel:
    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric
        self.judge = MeasuredJudge(rubric)
        self.bad_judgements = 0  # answer this many judge requests with something unusable

    def __call__(self, request: dict[str, Any]) -> Reply:
        system, user = system_of(request), user_of(request)
        if "judge of writing" in system:
            return self._judge(user)
        if "tune a pipeline" in system:
            return Reply.json({"diagnosis": "sentences are still long", "boldness": 0.75, "disabled": [],
                               "overrides": {"planning": "Split the longest sentences first."}})
        if "editor revising an article" in system:
            return self._stage(user)
        raise AssertionError(f"unexpected request: {system[:80]!r}")

    def _judge(self, user: str) -> Reply:
        if self.bad_judgements:
            self.bad_judgements -= 1
            return Reply(content="the article is fine, 11 out of 10")
        judged = self.judge.judge(quoted(user, "article"), seed=0)
        scores = {**judged.scores, "clarity": CLARITY}
        return Reply.json({"scores": scores, "notes": {c: "measured" for c in scores},
                           "total": self.rubric.total(scores)})

    def _stage(self, user: str) -> Reply:
        if "Stage: analysis" in user:
            return Reply.json({"weaknesses": [{"criterion": "sentence_length", "problem": "long sentences"}],
                               "strengths": ["a clear topic"]})
        if "Stage: hypotheses" in user:
            return Reply.json({"hypotheses": [{"criterion": "sentence_length", "change": "split sentences",
                                               "expected": "shorter sentences"}]})
        if "Stage: planning" in user:
            return Reply.json({"plan": [{"criterion": "sentence_length", "edit": "split the longest sentence"}]})
        if "Stage: assessment" in user:
            return Reply.json({"approved": [0], "vetoed": []})
        if "Stage: revision" in user:
            draft = quoted(user, "draft")
            edit = operators.split_long_sentence(draft + "\n", 20) or operators.plain_words(draft + "\n")
            return Reply.json({"draft": edit.text if edit else draft, "changes": [edit.what if edit else "none"]})
        raise AssertionError(f"unexpected stage: {user[:80]!r}")
