"""Deterministic edit operators: the offline writer's tools, each a pure function of the text.

Every operator makes at most one edit (the pipeline's plan decides how many to make) and returns the
new text with a one-line account of what it did, or None when it finds nothing to do. They work on
the markdown line by line, so headings, lists and paragraphs keep their shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bilevel_evolve.domains.text.measure import (
    Block,
    blocks,
    count_term,
    has_section,
    measure,
    normalized,
    split_sentences,
    term_pattern,
    words,
)


@dataclass(frozen=True)
class Edit:
    text: str
    what: str  # "split a 47-word sentence at ', which'"


# Where a long sentence splits, best first: (the joint, what the second sentence starts with, whether the
# tail must run to the sentence's end: a "which" clause in mid-sentence is an aside, not a sentence).
_JOINTS: tuple[tuple[str, str, bool], ...] = (
    ("; ", "", False), (", and if ", "If ", False), (", after which ", "After that, ", False),
    (", because ", "This is because ", False), (", so that ", "That way, ", False), (", so ", "So ", False),
    (", but ", "But ", False), (", and ", "", False), (", which ", "This ", True),
)
# A tail after ", and" is split off only when it opens like a sentence of its own.
_CLAUSE_OPENERS = frozenset({"the", "it", "this", "that", "they", "we", "you", "a", "an", "some", "another",
                             "one", "if", "when", "its", "their", "each", "every", "most", "many", "there"})
_MIN_PART_WORDS = 4

# Plain words for wordy ones (and for the common banned jargon). Longest phrases first.
PLAIN: tuple[tuple[str, str], ...] = (
    ("it is important to note that ", ""), ("which is referred to as", "called"), ("is referred to as", "is called"),
    ("in order to", "to"), ("for the longest period of time", "for the longest time"),
    ("in the near future", "soon"), ("a piece of", "some"), ("communicating with", "asking"),
    ("a significant difficulty associated with", "a problem with"), ("is considered", "is"),
    ("utilizing", "using"), ("utilized", "used"), ("utilize", "use"), ("leverage", "use"), ("leveraging", "using"),
    ("methodologies", "methods"), ("methodology", "method"), ("facilitate", "allow"), ("synergy", "balance"),
    ("paradigm", "model"), ("essentially ", ""), ("considerably", "much"), ("subsequently", "then"),
    ("obtain", "get"), ("requires", "needs"), ("require", "need"), ("individuals", "people"),
    ("numerous", "many"), ("demonstrated", "shown"), ("demonstrate", "show"), ("substantial", "large"),
    ("significant", "big"), ("approximately", "about"), ("sufficient", "enough"), ("additional", "more"),
    ("consequently", "so"), ("typically", "often"), ("frequently", "often"), ("retrieve", "fetch"),
    ("modified", "changed"), ("implemented", "added"), ("explicitly ", ""), ("dramatically", "greatly"),
    ("simultaneously ", ""), ("infrastructure", "systems"), ("capabilities", "power"), ("effectiveness", "value"),
    ("organizations", "teams"), ("information", "data"), ("automatically", "by itself"), ("precise", "exact"),
    ("coordination", "teamwork"), ("experienced", "felt"), ("application", "app"), ("applications", "apps"),
    ("determines", "decides"), ("assumption", "guess"),
)
FILLER: tuple[str, ...] = ("very ", "really ", "quite ", "basically ", "actually ", "just ", "simply ",
                           " in practice", " that would otherwise be")
_SUMMARY_TITLES = ("summary", "conclusion", "conclusions", "key points", "takeaways", "in short", "recap")
_TERM_SENTENCE = "The term for this is {term}."


def _case_like(model: str, word: str) -> str:
    return word[:1].upper() + word[1:] if model[:1].isupper() and word else word


def _replace(text: str, phrase: str, plain: str, *, every: bool = False) -> Edit | None:
    """Replace the first (or every) occurrence of a phrase outside headings, keeping the case of its first
    letter; a deleted phrase leaves no doubled space and no space before punctuation."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(phrase.strip())}(?![\w-])", re.I)
    lines = text.split("\n")
    count = 0
    for number, line in enumerate(lines):
        if line.lstrip().startswith("#") or (count and not every):
            continue
        edited, n = pattern.subn(lambda m: _case_like(m.group(0), plain), line, count=0 if every else 1)
        if not n:
            continue
        count += n
        edited = re.sub(r" {2,}", " ", re.sub(r"\s+([.,;:!?])", r"\1", edited)).strip(" ")
        if not plain:  # a deleted phrase at a sentence's start: capitalize what now starts it
            edited = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), edited)
        lines[number] = edited
    if not count:
        return None
    times = f" (x{count})" if count > 1 else ""
    return Edit("\n".join(lines), f"'{phrase.strip()}' -> '{plain.strip() or '(nothing)'}'{times}")


def plain_words(text: str) -> Edit | None:
    """Replace one wordy phrase the table knows, everywhere, with its plain form: of those the text holds,
    the one that lowers the reading grade most (the first of them when none lowers it)."""
    options = [edit for phrase, plain in PLAIN if (edit := _replace(text, phrase, plain, every=True)) is not None]
    if not options:
        return None
    grades = [measure(edit.text).reading_grade for edit in options]
    best = min(range(len(options)), key=lambda i: (grades[i], i))
    return Edit(options[best].text, f"plain words: {options[best].what}")


def cut_filler(text: str) -> Edit | None:
    for filler in FILLER:
        edit = _replace(text, filler, "")
        if edit is not None:
            return Edit(edit.text, f"cut filler '{filler.strip()}'")
    return None


def drop_banned(text: str, terms: tuple[str, ...]) -> Edit | None:
    """A banned term: its plain form when the table has one, else the term is deleted."""
    plain = dict(PLAIN)
    for term in terms:
        if count_term(text, term) == 0:
            continue
        match = term_pattern(term).search(text)
        assert match is not None
        found = match.group(0)
        replacement = plain.get(found.lower(), plain.get(term.lower(), ""))
        edit = _replace(text, found, replacement)
        if edit is not None:
            return Edit(edit.text, f"banned term: {edit.what}")
    return None


def split_long_sentence(text: str, cap: float) -> Edit | None:
    """Split the longest sentence over `cap` words at the joint nearest its middle."""
    candidates = []
    for number, line in enumerate(text.split("\n")):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for sentence in split_sentences(line):
            n = len(words(sentence))
            if n > cap:
                candidates.append((n, number, sentence))
    for n, number, sentence in sorted(candidates, key=lambda c: (-c[0], c[1])):
        split = _best_split(sentence)
        if split is None:
            continue
        lines = text.split("\n")
        lines[number] = lines[number].replace(sentence, split, 1)
        return Edit("\n".join(lines), f"split a {n}-word sentence")
    return None


def _best_split(sentence: str) -> str | None:
    total = len(words(sentence))
    best: tuple[float, str] | None = None
    for rank, (joint, opener, to_end) in enumerate(_JOINTS):
        start = 0
        while (at := sentence.find(joint, start)) >= 0:
            start = at + 1
            head, tail = sentence[:at], sentence[at + len(joint):]
            if len(words(head)) < _MIN_PART_WORDS or len(words(tail)) < _MIN_PART_WORDS:
                continue
            if to_end and ", " in tail:
                continue
            if not opener and joint == ", and " and words(tail)[0].lower() not in _CLAUSE_OPENERS:
                continue
            balance = abs(len(words(head)) - total / 2) + rank  # near the middle, better joints first
            second = opener + tail if opener else tail[:1].upper() + tail[1:]
            candidate = f"{head.rstrip(',;')}. {second}"
            if best is None or balance < best[0]:
                best = (balance, candidate)
    return None if best is None else best[1]


def add_section(text: str, title: str) -> Edit | None:
    """Give the text a heading it lacks: a summary made of each section's first sentence at the end; an
    introduction at the start; any other title on the paragraph whose words it shares most (renaming
    that section's heading when the paragraph opens it), else before the last paragraph."""
    if has_section(measure(text), title):
        return None
    lines = text.rstrip("\n").split("\n")
    key = normalized(title)
    if key in _SUMMARY_TITLES:
        firsts = [split_sentences(b.text)[0] for b in _section_openers(text)][:4]
        body = " ".join(firsts) or "This article covered the points above."
        return Edit("\n".join([*lines, "", f"## {title}", "", body]) + "\n", f"added a '{title}' section")
    paragraphs = [(i, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not paragraphs:
        return Edit("\n".join([*lines, "", f"## {title}"]) + "\n", f"added a '{title}' heading")
    if key.startswith("intro"):
        first = paragraphs[0][0]
        return Edit("\n".join([*lines[:first], f"## {title}", "", *lines[first:]]) + "\n",
                    f"added a '{title}' heading at the start")
    stems = {w.lower()[:5] for w in words(title) if len(w) > 2}
    scored = [(len(stems & {w.lower()[:5] for w in words(line)}), i) for i, line in paragraphs]
    best, at = max(scored, key=lambda s: (s[0], -s[1]))
    if best == 0:
        at = paragraphs[-1][0]
    above = next((j for j in range(at - 1, -1, -1) if lines[j].strip()), None)
    if above is not None and lines[above].lstrip().startswith("##"):
        old = lines[above].lstrip("# ").strip()
        lines[above] = f"## {title}: {old}"
        return Edit("\n".join(lines) + "\n", f"renamed the heading '{old}' to '{title}: {old}'")
    return Edit("\n".join([*lines[:at], f"## {title}", "", *lines[at:]]) + "\n", f"added a '{title}' heading")


def _section_openers(text: str) -> list[Block]:
    out: list[Block] = []
    after_heading = True
    for block in blocks(text):
        if block.kind == "heading":
            after_heading = True
        elif after_heading:
            out.append(block)
            after_heading = False
    return out


def add_term(text: str, term: str) -> Edit | None:
    """Work a missing required term into the paragraph whose words it shares most (the longest if none)."""
    if count_term(text, term):
        return None
    lines = text.rstrip("\n").split("\n")
    paragraphs = [(i, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not paragraphs:
        return None
    stems = {w.lower()[:4] for w in words(term) if len(w) > 2}
    at = max(paragraphs, key=lambda p: (len(stems & {w.lower()[:4] for w in words(p[1])}), len(p[1])))[0]
    lines[at] = lines[at].rstrip() + " " + _TERM_SENTENCE.format(term=term)
    return Edit("\n".join(lines) + "\n", f"worked in the term '{term}'")


def cut_sentence(text: str) -> Edit | None:
    """Shorten the text: drop the last sentence of its longest paragraph (when it has more than one)."""
    lines = text.split("\n")
    paragraphs = [(len(words(line)), i) for i, line in enumerate(lines)
                  if line.strip() and not line.lstrip().startswith(("#", "-", "*"))]
    for _, at in sorted(paragraphs, reverse=True):
        sentences = split_sentences(lines[at])
        if len(sentences) > 1:
            lines[at] = " ".join(sentences[:-1])
            return Edit("\n".join(lines), f"cut the sentence '{sentences[-1][:50]}'")
    return None

