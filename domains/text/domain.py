"""The text domain: an article revised step by step and judged against a rubric.

How it maps onto the loop. The artifact is the text, and the loop's parameters name a draft of it:
the space is one integer, `draft` (0 is the original article, the space's default, so the baseline
trials judge the original). The proposer of a text run is the revision pipeline (engine/text): it
reads the incumbent's draft, writes a candidate into the draft book (domains/text/drafts.py) as draft
N for iteration N, and proposes `{"draft": N}`. The trial judges that draft (per-criterion scores as
the trial's metrics, their weighted mean as its value, to be maximized), and the loop keeps or
discards it as any trial; the kept draft is the next one revised. Repeated baseline trials re-judge
the original, so the noise-aware rule measures the judge's own noise.

Everything the loop already does then holds for text: the trace names each draft, a checkpoint needs
nothing new (the drafts are files, written before their proposal is traced), a resume re-proposes an
unfinished step (same draft again) and a replay re-asks the same questions. The engine binds a run's
draft book (and, with `--agent llm`, the model judge) before the first trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bilevel_evolve.domains.brief import BriefSection, TaskBrief
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.text.article import MAX_ARTICLE_BYTES, MAX_RUBRIC_BYTES, TextFile, read_text_file
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.domains.text.judge import InvalidJudgement, Judge, MeasuredJudge
from bilevel_evolve.domains.text.rubric import MAX_SCORE, Rubric, parse_rubric
from bilevel_evolve.ground.errors import EvolveError, SpaceError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import IntParam, Scalar, SearchSpace

EXAMPLES = Path(__file__).parent / "examples"
EXAMPLE_ARTICLE = EXAMPLES / "caching.md"
EXAMPLE_ALIAS = "example"  # --domain text:example
DEFAULT_RUBRIC = Path(__file__).parent / "default_rubric.md"
MAX_DRAFTS = 1_000_000  # a draft number is an iteration number
PARAM = "draft"


def rubric_path_for(article: Path, given: Path | None) -> Path:
    """--rubric when given; else `ARTICLE.rubric.md` beside the article; else the built-in default rubric."""
    if given is not None:
        return Path(given)
    beside = article.with_name(f"{article.stem}.rubric.md")
    return beside if beside.is_file() else DEFAULT_RUBRIC


class TextDomain:
    direction: Direction = "maximize"

    def __init__(self, article_path: Path, options: DomainOptions | None = None) -> None:
        self._options = options or DomainOptions()
        self.article: TextFile = read_text_file(article_path, "article", MAX_ARTICLE_BYTES)
        rubric_file = read_text_file(rubric_path_for(self.article.path, self._options.rubric), "rubric",
                                     MAX_RUBRIC_BYTES)
        self.rubric_file = rubric_file
        self.rubric: Rubric = parse_rubric(rubric_file.text, f"rubric {rubric_file.path}")
        self.name = f"text:{self.article.path}"
        self.space = SearchSpace(params={PARAM: IntParam(low=0, high=MAX_DRAFTS, default=0)})
        self.judge: Judge = MeasuredJudge(self.rubric, self._options.noise_sd)
        self._book: DraftBook | None = None

    # ---- set by the engine for a run ------------------------------------------------------------------
    def bind(self, book: DraftBook, judge: Judge | None = None) -> None:
        """The run's draft book (draft 0 is written here), and a judge other than the offline one."""
        book.start(self.article.text)
        self._book = book
        if judge is not None:
            self.judge = judge

    @property
    def book(self) -> DraftBook:
        if self._book is None:
            raise EvolveError("the text domain has no draft book: its run did not bind one (an engine bug)")
        return self._book

    # ---- Domain ----------------------------------------------------------------------------------------
    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        try:
            draft = int(self.space.validate_params(params)[PARAM])
        except SpaceError as exc:
            return TrialResult(status="invalid", message=exc.problem)
        book = self.book
        try:
            text = book.text(draft)
        except KeyError:
            return TrialResult(status="invalid", message=f"there is no draft {draft} in this run's draft book")
        try:
            judgement = self.judge.judge(text, seed)
        except InvalidJudgement as exc:
            return TrialResult(status="invalid", message=f"the judge gave no usable judgement: {exc.problem}")
        book.record_judgement(draft, seed, judgement)
        atomic_write_bytes(trial_dir / "judgement.json", judgement.model_dump_json(indent=1).encode("utf-8"),
                           fsync=False)
        notes = "; ".join(f"{cid}: {note}" for cid, note in judgement.notes.items())
        return TrialResult(status="ok", value=judgement.total, metrics=dict(judgement.scores),
                           message=f"draft {draft} judged by {self.judge.name}: {notes}")

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "name": self.name,
            "article": str(self.article.path),
            "article_sha256": self.article.sha256,
            "rubric": str(self.rubric_file.path),
            "rubric_sha256": self.rubric_file.sha256,
            "criteria": [c.model_dump(mode="json") for c in self.rubric.criteria],
            "direction": self.direction,
            "space": self.space.to_dict(),
            "noise_sd": self._options.noise_sd,
        }

    def brief(self) -> TaskBrief:
        criteria = "\n".join(f"- {c.describe()}" for c in self.rubric.criteria)
        return TaskBrief(
            task=(f"Revise the article {self.article.path.name} so that it scores higher against its rubric. "
                  "Each iteration a revision pipeline (analysis, hypotheses, planning, assessment, revision) "
                  "rewrites the kept draft; a judge scores the new draft against the rubric alone, each "
                  f"criterion from 0 to {MAX_SCORE:g}, and the draft is kept when its weighted mean beats the "
                  "kept draft's. The search parameter `draft` only names which draft a trial judges."),
            metric=f"the rubric score (weighted mean, 0-{MAX_SCORE:g})",
            sections=(BriefSection(title="The rubric's criteria", body=criteria),
                      BriefSection(title="The rubric as written", body=self.rubric.text, whole=False),
                      BriefSection(title="The original article", body=self.article.text, whole=False,
                                   shorten="head_tail")))


def article_path(arg: str) -> Path:
    return EXAMPLE_ARTICLE if arg in ("", EXAMPLE_ALIAS) else Path(arg)
