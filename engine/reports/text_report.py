"""The text part of `evolve report` for a text run: the best draft, a side-by-side HTML diff against the
original, and a curve per rubric criterion.

    RUN_DIR/text/best.md        the best draft, as markdown
    RUN_DIR/text/diff.html      the original and the best draft side by side, changes marked
    RUN_DIR/plots/criteria.png  each criterion's score by step: every trial, and the kept draft's

Drafts are model output: every line passes ground.untrusted before it reaches the HTML or the terminal.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bilevel_evolve.domains.text.domain import PARAM
from bilevel_evolve.domains.text.drafts import DraftBook
from bilevel_evolve.engine.analysis.trace_numbers import TraceSummary
from bilevel_evolve.engine.run.events import TrialFinished
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.untrusted import clean_text, for_html, for_markup, for_plot

BEST_FILE = "best.md"
DIFF_FILE = "diff.html"
CRITERIA_PLOT = "criteria.png"
PREVIEW_LINES = 12
LINE_CHARS = 20_000
WRAP = 78


@dataclass(frozen=True)
class TextReport:
    best_draft: int
    best: Path
    diff: Path
    criteria_plot: Path | None


def report_text(run_dir: Path, summary: TraceSummary, console: Console) -> TextReport | None:
    book = DraftBook(run_dir)
    best = summary.best
    if best is None or not book.has(0) or not book.has(int(best.params.get(PARAM, 0))):
        console.print("text: no judged draft yet")
        return None
    number = int(best.params[PARAM])
    original, text = book.text(0), book.text(number)
    folder = run_dir / "text"
    best_path, diff_path = folder / BEST_FILE, folder / DIFF_FILE
    atomic_write_bytes(best_path, text.encode("utf-8"), fsync=False)
    baseline = summary.baseline_value
    html = side_by_side(original, text, f"the original (draft 0, score {_fmt(baseline)})",
                        f"the best (draft {number}, score {_fmt(best.value)})")
    atomic_write_bytes(diff_path, html.encode("utf-8"), fsync=False)
    console.print(_criteria_table(summary.trials, number))
    plot = plot_criteria(summary, run_dir / "plots" / CRITERIA_PLOT)
    preview = "\n".join(text.splitlines()[:PREVIEW_LINES])
    console.print(f"best draft: {number} ({best_path})\n" + for_markup(preview, 4000, one_line=False))
    console.print(f"diff against the original: {diff_path}")
    if plot is not None:
        console.print(f"criteria plot: {plot}")
    return TextReport(number, best_path, diff_path, plot)


def side_by_side(before: str, after: str, before_title: str, after_title: str) -> str:
    """A standalone HTML page: the two texts in two columns, changed lines marked (difflib escapes each line)."""
    left = [clean_text(line, LINE_CHARS) for line in before.splitlines()]
    right = [clean_text(line, LINE_CHARS) for line in after.splitlines()]
    page = difflib.HtmlDiff(wrapcolumn=WRAP).make_file(left, right, for_html(before_title), for_html(after_title))
    return page.replace("<title></title>", "<title>draft diff</title>", 1)


def _criteria_table(trials: list[TrialFinished], best_draft: int) -> Table:
    first = next((t for t in trials if t.metrics), None)
    best = next((t for t in trials if t.params.get(PARAM) == best_draft and t.metrics), None)
    table = Table(title="rubric criteria: the original and the best draft")
    for column in ("criterion", "original", "best", "change"):
        table.add_column(column)
    for cid in (first.metrics if first else {}):
        was = first.metrics[cid] if first else None
        now = best.metrics.get(cid) if best else None
        change = "" if was is None or now is None else f"{now - was:+.2f}"
        table.add_row(for_markup(cid), _fmt(was), _fmt(now), change)
    return table


def plot_criteria(summary: TraceSummary, out: Path) -> Path | None:
    """One panel per criterion: every trial's score (grey) and the kept draft's score as it went (green)."""
    trials = [t for t in summary.trials if t.metrics]
    if not trials:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    criteria = list(trials[0].metrics)
    columns = min(3, len(criteria))
    rows = -(-len(criteria) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), dpi=100, squeeze=False)
    for n, cid in enumerate(criteria):
        ax = axes[n // columns][n % columns]
        points = [(t.step, t.metrics[cid]) for t in trials if cid in t.metrics]
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=10, color="#9aa5b1", zorder=2)
        kept_steps, kept_scores = [], []
        current = None
        for t in summary.trials:
            if t.step in summary.accepted_steps and cid in t.metrics:
                current = t.metrics[cid]
            if current is not None:
                kept_steps.append(t.step)
                kept_scores.append(current)
        ax.step(kept_steps, kept_scores, where="post", color="#2f9e44", zorder=3)
        ax.set_title(for_plot(cid), fontsize=9)
        ax.set_ylim(-0.3, 10.3)
        ax.grid(alpha=0.3)
    for n in range(len(criteria), rows * columns):
        axes[n // columns][n % columns].axis("off")
    fig.supxlabel("trial (step)", fontsize=9)
    fig.suptitle("rubric criteria: every trial (grey) and the kept draft (green)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
