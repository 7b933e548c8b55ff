"""The draft book: every draft of a text run, by number, in the run directory.

A trial's parameters name a draft (`{"draft": N}`): draft 0 is the original article, draft N the
candidate the revision pipeline wrote at iteration N. The pipeline writes a draft (and what it did to
make it) before its proposal is traced; the trial reads it and judges it. Writes are atomic, so a
crash leaves either the old file or the new one; a resumed run that proposes iteration N again writes
the same draft again (offline: deterministic; with a model: the cassette answers as before).

    RUN_DIR/text/drafts/000000.md           the original
    RUN_DIR/text/drafts/000007.md           the candidate of iteration 7
    RUN_DIR/text/drafts/000007.json         how it was made: parent, plan, stages, edits
    RUN_DIR/text/drafts/000007.judged.json  its judgements, by trial seed
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.domains.text.judge import Judgement
from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.ground.fileio import atomic_write_bytes

DRAFTS_DIR = "text/drafts"


class DraftMeta(BaseModel):
    """How a draft was made (what lessons and reports read)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draft: int
    parent: int | None = None
    plan: str = ""  # one line: what the pipeline set out to do
    edits: tuple[str, ...] = ()  # what it changed, one line each ("split_sentence -> sentence_length")
    stages: tuple[str, ...] = ()  # the stages that ran, generated ones as "mechanism:NAME"
    notes: dict[str, Any] = Field(default_factory=dict)


class DraftBook:
    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir) / DRAFTS_DIR

    def _path(self, draft: int, suffix: str) -> Path:
        return self.root / f"{draft:06d}{suffix}"

    def start(self, original: str) -> None:
        """Hold the original as draft 0; a resumed run checks it is still the article it started from."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(0, ".md")
        if path.exists():
            if path.read_text(encoding="utf-8") != original:
                raise RunDirError(f"the article changed since this run started ({path} holds the original)",
                                  "restore the article, or start a new run for the changed one")
            return
        self.save(0, original, DraftMeta(draft=0, plan="the original article"))

    def save(self, draft: int, text: str, meta: DraftMeta) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(draft, ".md"), text.encode("utf-8"))
        atomic_write_bytes(self._path(draft, ".json"), meta.model_dump_json(indent=1).encode("utf-8"))

    def has(self, draft: int) -> bool:
        return self._path(draft, ".md").is_file()

    def text(self, draft: int) -> str:
        try:
            return self._path(draft, ".md").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyError(draft) from None

    def meta(self, draft: int) -> DraftMeta | None:
        path = self._path(draft, ".json")
        return DraftMeta.model_validate_json(path.read_bytes()) if path.is_file() else None

    def record_judgement(self, draft: int, seed: int, judgement: Judgement) -> None:
        judged = self._judged(draft)
        judged[str(seed)] = judgement.model_dump(mode="json")
        atomic_write_bytes(self._path(draft, ".judged.json"), json.dumps(judged, sort_keys=True).encode("utf-8"))

    def judgements(self, draft: int) -> list[Judgement]:
        return [Judgement.model_validate(raw) for _, raw in sorted(self._judged(draft).items())]

    def mean_scores(self, draft: int) -> dict[str, float] | None:
        """The draft's per-criterion scores, averaged over its judgements (None when never judged)."""
        judged = self.judgements(draft)
        if not judged:
            return None
        ids = judged[0].scores
        return {cid: round(sum(j.scores.get(cid, 0.0) for j in judged) / len(judged), 4) for cid in ids}

    def numbers(self) -> list[int]:
        return sorted(int(p.stem) for p in self.root.glob("[0-9]*.md")) if self.root.is_dir() else []

    def _judged(self, draft: int) -> dict[str, Any]:
        path = self._path(draft, ".judged.json")
        return json.loads(path.read_bytes()) if path.is_file() else {}
