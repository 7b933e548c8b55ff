"""Model-rewrite stage for a text run's revision pipeline: it asks the run's model through ctx.llm.

Bottleneck: plateau. The revision's plans edit a few sentences a step; a long, dense paragraph stays
dense. How: after every revision, send the longest paragraph that is not a heading, a list or a
quotation to the model with one ctx.llm call ("rewrite it in plain words"), and put the answer in its
place when it looks like a rewrite of it: one paragraph (no blank line, no heading), between MIN_SHARE
and MAX_SHARE of the original's length. Anything else leaves the draft as it was. One call per
revision, well under the cap. With a model the answer is the model's; offline (and in the smoke test)
the engine's deterministic stand-in answers, so the same draft always gives the same result.
"""

from __future__ import annotations

MIN_WORDS = 30  # a shorter paragraph is not worth a call
MIN_SHARE = 0.5
MAX_SHARE = 1.5
INSTRUCTION = ("Rewrite the paragraph below in plain words: short sentences, common words, the same facts "
               "and terms, nothing added. Answer with the rewritten paragraph only.")


def _is_prose(block):
    head = block.lstrip()[:1]
    return bool(block.strip()) and head not in ("#", "-", "*", ">", "|", "`") and not head.isdigit()


class ModelRewriteStage:
    name = "model-rewrite-stage"
    position = "after:revision"

    def stage(self, draft, ctx):
        blocks = draft.split("\n\n")
        prose = [i for i, block in enumerate(blocks) if _is_prose(block) and len(block.split()) >= MIN_WORDS]
        if not prose:
            return draft
        target = max(prose, key=lambda i: (len(blocks[i].split()), -i))
        original = blocks[target].strip()
        answer = ctx.llm(INSTRUCTION + "\n\n" + original, max_tokens=2 * len(original) // 3 + 64).strip()
        if not answer or "\n\n" in answer or answer.startswith("#"):
            return draft
        share = len(answer) / len(original)
        if not MIN_SHARE <= share <= MAX_SHARE:
            return draft
        blocks[target] = answer
        return "\n\n".join(blocks)


MECHANISM = ModelRewriteStage
