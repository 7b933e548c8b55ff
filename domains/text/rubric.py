"""The rubric a draft is judged against: criteria, each scored 0-10, and their weighted mean.

A rubric is a markdown file. Its criteria are the bullet items of its "Criteria" section (or, when it
has none, every bullet item of the form `- name: spec`), one criterion each, optionally ending in
`(weight W)`. Six names are *measurable*, and the offline judge scores them exactly:

    - words: 350-550                      the length range, in words
    - sections: Introduction; Summary     headings the text must have
    - reading grade: at most 9            Flesch-Kincaid grade level
    - sentence length: average at most 18, longest at most 30
    - required terms: cache hit, eviction
    - banned terms: utilize, leverage

Any other name is a *judged* criterion whose spec says what is wanted in words ("clarity: every
paragraph makes one point"): only a model can score it (`--agent llm`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.ground.errors import UsageError

Kind = Literal["words", "sections", "reading_grade", "sentence_length", "required_terms", "banned_terms", "judged"]
MEASURABLE: tuple[Kind, ...] = ("words", "sections", "reading_grade", "sentence_length", "required_terms",
                                "banned_terms")
MAX_SCORE = 10.0
MAX_CRITERIA = 40
_ALIASES = {"length": "words", "word_count": "words", "headings": "sections", "required_sections": "sections",
            "readability": "reading_grade", "grade": "reading_grade", "sentences": "sentence_length",
            "terms": "required_terms", "must_mention": "required_terms", "avoid_terms": "banned_terms",
            "banned_words": "banned_terms", "required_words": "required_terms"}
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.+?)\s*$")
_WEIGHT = re.compile(r"\(\s*weight\s*[:=]?\s*([0-9]*\.?[0-9]+)\s*\)\s*$", re.I)
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_AT_MOST = re.compile(r"(?:at\s+most|<=|≤|max(?:imum)?|under|up\s+to)?\s*" + _NUMBER, re.I)


class Criterion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str  # snake_case, unique in the rubric: the key of its score in every judgement
    title: str  # as the rubric writes it
    kind: Kind
    spec: str  # the text after the colon, as written
    weight: float = Field(default=1.0, gt=0, le=100)
    low: float | None = None  # words: the range; reading_grade: high only; sentence_length: low = average cap
    high: float | None = None
    terms: tuple[str, ...] = ()  # sections, required_terms, banned_terms

    @property
    def measurable(self) -> bool:
        return self.kind != "judged"

    def describe(self) -> str:
        """One line for prompts and reports: `reading_grade (reading grade: at most 9, weight 2)`."""
        weight = f", weight {self.weight:g}" if self.weight != 1 else ""
        return f"{self.id} ({self.title}: {self.spec}{weight})"


class Rubric(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str  # the file as given: what a model judge reads
    criteria: tuple[Criterion, ...]

    @property
    def measurable(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.measurable)

    @property
    def judged(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.measurable)

    def by_id(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)

    def total(self, scores: dict[str, float], criteria: tuple[Criterion, ...] | None = None) -> float:
        """The weighted mean of the scores of `criteria` (default: all), 0-10."""
        chosen = self.criteria if criteria is None else criteria
        weight = sum(c.weight for c in chosen)
        return round(sum(scores[c.id] * c.weight for c in chosen) / weight, 4) if weight else 0.0


def parse_rubric(text: str, source: str = "rubric") -> Rubric:
    """Parse a rubric file's text; UsageError naming the line for anything it cannot read."""
    items = _criteria_items(text)
    if not items:
        raise UsageError(f"{source} has no criteria",
                         "list them as bullet items under a '## Criteria' heading, one per line, e.g. "
                         "'- words: 300-600' or '- clarity: every paragraph makes one point'")
    if len(items) > MAX_CRITERIA:
        raise UsageError(f"{source} has {len(items)} criteria; at most {MAX_CRITERIA}", "merge related criteria")
    criteria: list[Criterion] = []
    for line_number, item in items:
        criterion = _criterion(item, f"{source} line {line_number}")
        if any(c.id == criterion.id for c in criteria):
            raise UsageError(f"{source} line {line_number}: criterion {criterion.id!r} is listed twice",
                             "give each criterion once (merge the two)")
        criteria.append(criterion)
    return Rubric(text=text, criteria=tuple(criteria))


def _criteria_items(text: str) -> list[tuple[int, str]]:
    """(line number, item text) of the bullet items that are criteria."""
    lines = text.splitlines()
    section: list[tuple[int, str]] | None = None
    heading_level = 0
    everywhere: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = len(heading.group(1))
            if section is not None and level <= heading_level:
                return section
            if heading.group(2).strip().lower().rstrip(":") == "criteria":
                section, heading_level = [], level
            continue
        match = _ITEM.match(line)
        if match is None:
            continue
        if section is not None:
            section.append((number, match.group(1)))
        elif ":" in match.group(1):
            everywhere.append((number, match.group(1)))
    return section if section is not None else everywhere


def _criterion(item: str, where: str) -> Criterion:
    name, colon, spec = item.partition(":")
    if not colon or not name.strip() or not spec.strip():
        raise UsageError(f"{where}: {item!r} is not 'name: what is wanted'", "write e.g. '- words: 300-600'")
    weight = 1.0
    found = _WEIGHT.search(spec)
    if found:
        weight = float(found.group(1))
        spec = spec[: found.start()].strip()
        if not 0 < weight <= 100:
            raise UsageError(f"{where}: weight {weight:g} is outside (0, 100]",
                             "use a positive weight, e.g. (weight 2)")
    title = re.sub(r"[*_`]", "", name).strip()
    criterion_id = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    if not criterion_id:
        raise UsageError(f"{where}: the criterion {title!r} has no name made of letters or digits",
                         "name it, e.g. '- clarity: ...'")
    kind = _ALIASES.get(criterion_id, criterion_id)
    spec = spec.strip()

    def make(kind: Kind, cid: str, **bounds: float | tuple[str, ...] | None) -> Criterion:
        return Criterion.model_validate({"id": cid, "title": title, "kind": kind, "spec": spec, "weight": weight,
                                         **bounds})

    if kind == "words":
        return make("words", "words", **_range(spec, where))
    if kind == "sections":
        return make("sections", "sections", terms=_terms(spec, where, ";" if ";" in spec else ","))
    if kind == "reading_grade":
        return make("reading_grade", "reading_grade", high=_at_most(spec, where))
    if kind == "sentence_length":
        return make("sentence_length", "sentence_length", **_sentence_caps(spec, where))
    if kind == "required_terms":
        return make("required_terms", "required_terms", terms=_terms(spec, where, ","))
    if kind == "banned_terms":
        return make("banned_terms", "banned_terms", terms=_terms(spec, where, ","))
    return make("judged", criterion_id[:60])


def _range(spec: str, where: str) -> dict[str, float]:
    match = re.search(_NUMBER + "\\s*(?:-|\u2013|to)\\s*" + _NUMBER, spec)  # 350-550, an en dash, or 350 to 550
    if match is None:
        raise UsageError(f"{where}: words needs a range, got {spec!r}", "write e.g. '- words: 350-550'")
    low, high = float(match.group(1)), float(match.group(2))
    if not 0 < low < high:
        raise UsageError(f"{where}: the word range {low:g}-{high:g} is empty", "give the smaller number first")
    return {"low": low, "high": high}


def _at_most(spec: str, where: str) -> float:
    match = _AT_MOST.search(spec)
    if match is None or not 0 < float(match.group(1)) <= 30:
        raise UsageError(f"{where}: reading grade needs a grade level from 1 to 30, got {spec!r}",
                         "write e.g. '- reading grade: at most 9'")
    return float(match.group(1))


def _sentence_caps(spec: str, where: str) -> dict[str, float | None]:
    average = re.search(r"(?:average|mean)\D*?" + _NUMBER, spec, re.I)
    longest = re.search(r"(?:longest|max(?:imum)?|none\s+over)\D*?" + _NUMBER, spec, re.I)
    if average is None and longest is None:
        plain = _AT_MOST.search(spec)
        if plain is None:
            raise UsageError(f"{where}: sentence length needs a cap in words, got {spec!r}",
                             "write e.g. '- sentence length: average at most 18, longest at most 30'")
        average = plain
    caps = {"low": float(average.group(1)) if average else None, "high": float(longest.group(1)) if longest else None}
    if any(cap is not None and cap < 3 for cap in caps.values()):
        raise UsageError(f"{where}: a sentence cap under 3 words cannot be met", "raise it")
    return caps


def _terms(spec: str, where: str, separator: str) -> tuple[str, ...]:
    terms = tuple(dict.fromkeys(t.strip().strip("\"'“”`").strip() for t in spec.split(separator)))
    terms = tuple(t for t in terms if t)
    if not terms:
        raise UsageError(f"{where}: no terms listed in {spec!r}", f"separate them with '{separator}'")
    return terms
