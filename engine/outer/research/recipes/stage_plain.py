"""Plain-words stage for a text run's revision pipeline (standard library only).

Bottleneck: plateau. The revision's plans make one or two edits a step, and a wordy phrase the plan
did not pick stays in the draft however often the reading grade or a banned term costs points.
How: after every revision, replace every wordy phrase of a fixed table with its plain form (whole
words, case of the first letter kept, headings left alone), and split a sentence of more than
LONGEST words at its first "; ". The same draft always gives the same result.
"""

from __future__ import annotations

LONGEST = 30
PLAIN = (
    ("it is important to note that ", ""), ("in order to", "to"), ("a piece of", "some"),
    ("utilize", "use"), ("utilizing", "using"), ("utilized", "used"), ("leverage", "use"),
    ("methodologies", "methods"), ("methodology", "method"), ("facilitate", "allow"), ("synergy", "balance"),
    ("subsequently", "then"), ("obtain", "get"), ("requires", "needs"), ("require", "need"),
    ("individuals", "people"), ("numerous", "many"), ("demonstrated", "shown"), ("substantial", "large"),
    ("significant", "big"), ("approximately", "about"), ("additional", "more"), ("consequently", "so"),
    ("typically", "often"), ("frequently", "often"), ("considerably", "much"), ("essentially ", ""),
    ("dramatically", "greatly"), ("simultaneously ", ""), ("infrastructure", "systems"),
)


def _is_word_char(ch):
    return ch.isalnum() or ch in "-_'"


def _replace(line, wordy, plain):
    """Every whole-word occurrence of `wordy` (any case) in `line` replaced by `plain`."""
    phrase = wordy.strip()
    lower = line.lower()
    out, start = [], 0
    while True:
        at = lower.find(phrase, start)
        if at < 0:
            break
        end = at + len(phrase)
        before = line[at - 1] if at > 0 else " "
        after = line[end] if end < len(line) else " "
        if _is_word_char(before) or _is_word_char(after):
            out.append(line[start:end])
            start = end
            continue
        word = plain
        if word and line[at].isupper():
            word = word[0].upper() + word[1:]
        if not word and wordy.endswith(" ") and end < len(line) and line[end] == " ":
            end += 1  # a deleted phrase takes its space with it
            if at == 0 or line[at - 2:at] == ". ":
                out.append(line[start:at])
                start = end
                if start < len(line):
                    line = line[:start] + line[start].upper() + line[start + 1:]
                    lower = line.lower()
                continue
        out.append(line[start:at] + word)
        start = end
    out.append(line[start:])
    return "".join(out)


def _split_long(line):
    sentences = line.split(". ")
    for i, sentence in enumerate(sentences):
        if len(sentence.split()) > LONGEST and "; " in sentence:
            head, _, tail = sentence.partition("; ")
            sentences[i] = head + ". " + tail[:1].upper() + tail[1:]
    return ". ".join(sentences)


class PlainWordsStage:
    name = "plain-words-stage"
    position = "after:revision"

    def stage(self, draft, ctx):
        lines = []
        for line in draft.split("\n"):
            if line.strip() and not line.lstrip().startswith("#"):
                for wordy, plain in PLAIN:
                    line = _replace(line, wordy, plain)
                line = _split_long(line)
            lines.append(line)
        return "\n".join(lines)


MECHANISM = PlainWordsStage
