"""`evolve report` on a text run: the best draft, a side-by-side HTML diff against the original and a curve
per rubric criterion; a draft's words reach the HTML escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.reports.text_report import side_by_side


def test_the_report_of_a_text_run_shows_the_best_draft_its_diff_and_the_criteria(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "text:example", "--iterations", "6", "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "rubric criteria" in out and "best draft" in out and "reading_grade" in out
    best = (run_dir / "text" / "best.md").read_text()
    book = DraftBook(run_dir)
    assert best in [book.text(n) for n in book.numbers()] and best != book.text(0)
    html = (run_dir / "text" / "diff.html").read_text()
    assert "the original (draft 0" in html and "the best (draft" in html
    assert (run_dir / "plots" / "criteria.png").stat().st_size > 0


def test_a_drafts_markup_and_control_characters_do_not_reach_the_diff_page() -> None:
    page = side_by_side("# Title\n\nplain", "# Title\n\n<script>alert(1)</script> \u202eevil\x1b[2J",
                        "before", "after")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\u202e" not in page and "\x1b" not in page
