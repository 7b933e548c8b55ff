"""What can be measured in a markdown text: words, sentences, headings, reading grade, terms.

Pure functions of the text, shared by the offline judge (which scores them) and the offline writer
(which reads them to choose its edits). Markdown syntax is not prose: headings are counted as
sections, list markers, emphasis and link targets are left out of words and sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`>#|]")
_WORD = re.compile("[A-Za-z0-9][A-Za-z0-9'\u2019-]*")  # apostrophes straight or curly
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”')\]]*\s+(?=[\"“'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Block:
    """A paragraph, a list item or a heading, in the order of the text."""

    kind: str  # "heading" | "paragraph" | "item"
    text: str  # the prose, markup removed (for a heading: its title)
    level: int = 0  # a heading's level


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(Block("paragraph", prose(" ".join(paragraph))))
            paragraph.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush()
            out.append(Block("heading", prose(heading.group(2)), len(heading.group(1))))
        elif not line.strip():
            flush()
        elif _LIST_MARK.match(line):
            flush()
            out.append(Block("item", prose(_LIST_MARK.sub("", line))))
        else:
            paragraph.append(line.strip())
    flush()
    return [b for b in out if b.text]


def prose(line: str) -> str:
    return " ".join(_MARKUP.sub("", _LINK.sub(r"\1", line)).split())


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def normalized(title: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", title.lower()).split())


@dataclass(frozen=True)
class Measures:
    word_count: int
    sentence_lengths: tuple[int, ...]  # words per sentence, in order
    headings: tuple[str, ...]  # normalized titles
    reading_grade: float

    @property
    def average_sentence(self) -> float:
        return sum(self.sentence_lengths) / len(self.sentence_lengths) if self.sentence_lengths else 0.0

    @property
    def longest_sentence(self) -> int:
        return max(self.sentence_lengths, default=0)


def measure(text: str) -> Measures:
    body = [b for b in blocks(text) if b.kind != "heading"]
    sentences = [s for b in body for s in split_sentences(b.text)]
    lengths = tuple(n for n in (len(words(s)) for s in sentences) if n)
    prose_text = " ".join(b.text if b.text.rstrip().endswith((".", "!", "?")) else b.text + "." for b in body)
    return Measures(word_count=sum(lengths), sentence_lengths=lengths,
                    headings=tuple(normalized(b.text) for b in blocks(text) if b.kind == "heading"),
                    reading_grade=reading_grade(prose_text))


def reading_grade(prose_text: str) -> float:
    """The Flesch-Kincaid grade level (textstat; syllables from the CMU dictionary, no download)."""
    if not words(prose_text):
        return 0.0
    return round(float(_textstat().flesch_kincaid_grade(prose_text)), 2)


@cache
def _textstat() -> Any:  # imported on first use: loading its dictionary takes a second
    import textstat

    textstat.set_lang("en_US")
    return textstat


def has_section(measures: Measures, title: str) -> bool:
    """A heading holds the section's title as whole words ("How it works: an example" has "How it works")."""
    wanted = f" {normalized(title)} "
    return any(wanted in f" {heading} " for heading in measures.headings)


def term_pattern(term: str) -> re.Pattern[str]:
    """A term as whole words, case-insensitive; a single word also in its common inflections
    (utilize: utilizes, utilized, utilizing)."""
    escaped = r"\s+".join(re.escape(part) for part in term.split())
    if " " not in term and term.isalpha() and len(term) > 3:
        stem = escaped[:-1] if term.lower().endswith("e") else escaped
        escaped = f"{stem}(?:e|es|ed|ing|s|d)?" if term.lower().endswith("e") else f"{stem}(?:s|es|ed|ing|d)?"
    return re.compile(rf"(?<![\w-]){escaped}(?![\w-])", re.I)


def count_term(text: str, term: str) -> int:
    return len(term_pattern(term).findall(" ".join(b.text for b in blocks(text))))
