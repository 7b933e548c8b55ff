"""Offline text runs: the revision pipeline raises the judge's score, every step names its draft, Level 1.5
retunes the pipeline with traced reasons, and a crashed run resumes to the same decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.text.agent import TextAgent
from bilevel_evolve.ground.errors import EXIT_INTERRUPTED
from bilevel_evolve.ground.records import Proposal, SearchContext


def _run(run_dir: Path, *extra: str, iterations: int = 14) -> int:
    return main(["run", "--domain", "text:example", "--iterations", str(iterations), "--run-dir", str(run_dir),
                 "--seed", "4", "--no-progress", *extra])


def _decisions(run_dir: Path) -> list[tuple]:
    events = RunStore.open(run_dir).events()
    return [(e.step, e.params, e.value, e.metrics) for e in events if e.kind == "trial"] + \
        [(e.step, e.accepted) for e in events if e.kind == "decision"]


def test_an_offline_text_run_raises_the_judges_score_one_named_draft_at_a_time(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert _run(run_dir) == 0
    events = RunStore.open(run_dir).events()
    trials = [e for e in events if e.kind == "trial"]
    assert trials[0].params == {"draft": 0} and trials[0].source == "baseline"
    assert [t.params["draft"] for t in trials[1:]] == [t.iteration for t in trials[1:]]
    assert all(set(t.metrics) == {"words", "sections", "reading_grade", "sentence_length", "required_terms",
                                  "banned_terms"} for t in trials)
    best = max(t.value for t in trials if t.value is not None)
    assert best > trials[0].value + 2  # the example starts near 4.9 of 10
    book = DraftBook(run_dir)
    assert book.text(0) == (Path(__file__).parents[2] / "domains/text/examples/caching.md").read_text()
    kept = [e for e in events if e.kind == "decision" and e.accepted and e.step > 0]
    last = trials[kept[-1].step].params["draft"]
    meta = book.meta(last)
    assert meta is not None and meta.edits and meta.stages == ("analysis", "hypotheses", "planning", "assessment",
                                                               "revision")
    assert "Recent steps" in (run_dir / "text" / "lessons.md").read_text()
    proposals = [e for e in events if e.kind == "proposal" and e.source == "text"]
    assert proposals and all(p.rationale.startswith("revision of draft") for p in proposals)


def test_a_seeded_offline_text_run_is_reproducible(tmp_path: Path) -> None:
    assert _run(tmp_path / "a", iterations=6) == 0
    assert _run(tmp_path / "b", iterations=6) == 0
    assert _decisions(tmp_path / "a") == _decisions(tmp_path / "b")
    for n in DraftBook(tmp_path / "a").numbers():
        assert DraftBook(tmp_path / "a").text(n) == DraftBook(tmp_path / "b").text(n)


def test_level15_retunes_the_pipeline_and_traces_each_change_with_its_reason(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert _run(run_dir, "--levels", "1,1.5", "--level15-every", "3", iterations=16) == 0
    changes = [e for e in RunStore.open(run_dir).events() if e.kind == "pipeline_changed"]
    assert changes, "Level 1.5 never changed the pipeline"
    for change in changes:
        assert change.reason and change.source == "offline" and change.before != change.after
    assert any(c.after["boldness"] != c.before["boldness"] for c in changes)
    assert any("planning" in c.after["overrides"] for c in changes)
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    assert checkpoint["extra"]["controllers"]["level15"]["settings"] == changes[-1].after


def test_a_crashed_text_run_resumes_to_the_same_decisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = tmp_path / "whole"
    assert _run(whole, "--levels", "1,1.5", "--level15-every", "3", iterations=10) == 0

    propose = TextAgent.propose
    calls = {"n": 0}

    def crash_once(self: TextAgent, ctx: SearchContext) -> Proposal:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return propose(self, ctx)

    monkeypatch.setattr(TextAgent, "propose", crash_once)
    cut = tmp_path / "cut"
    assert _run(cut, "--levels", "1,1.5", "--level15-every", "3", iterations=10) == EXIT_INTERRUPTED
    monkeypatch.setattr(TextAgent, "propose", propose)
    assert main(["resume", str(cut), "--no-progress"]) == 0
    assert _decisions(cut) == _decisions(whole)
