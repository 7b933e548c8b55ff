"""Readability stage for a text run's revision pipeline, built on textstat.

Bottleneck: plateau. The revision's edits no longer lower the reading grade: each plan changes a word
or splits one sentence, and the grade hardly moves.
How: after every revision, measure each paragraph's Flesch-Kincaid grade with textstat and split the
hardest paragraph's longest sentence at its last comma, so the whole draft moves every step.
This is the text run's reverted stage: it imports textstat, which the sandbox image does not ship, so
its smoke test fails with ModuleNotFoundError and the engine must roll it back.
"""

from __future__ import annotations

import textstat


class ReadabilityStage:
    name = "readability-stage"
    position = "after:revision"

    def stage(self, draft, ctx):
        lines = draft.split("\n")
        scored = [(textstat.flesch_kincaid_grade(line), i) for i, line in enumerate(lines)
                  if line.strip() and not line.startswith("#")]
        if not scored:
            return draft
        _, at = max(scored)
        sentences = lines[at].split(". ")
        longest = max(range(len(sentences)), key=lambda i: len(sentences[i]))
        head, comma, tail = sentences[longest].rpartition(", ")
        if comma and len(head.split()) > 3 and len(tail.split()) > 3:
            sentences[longest] = head + ". " + tail[:1].upper() + tail[1:]
        lines[at] = ". ".join(sentences)
        return "\n".join(lines)


MECHANISM = ReadabilityStage
