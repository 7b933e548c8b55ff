"""`evolve report RUN_DIR`: a summary table on the terminal and a PNG of metric vs iteration."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bilevel_evolve.engine.analysis.trace_numbers import TraceSummary, TraceTally
from bilevel_evolve.engine.llm.cassette import Cassette
from bilevel_evolve.engine.llm.levels import LEVEL_NAMES, usage_by_level
from bilevel_evolve.engine.reports.mechanisms_table import MechanismLines, mechanisms_table
from bilevel_evolve.engine.run.events import (
    Event,
    MechanismInjected,
    MechanismRolledBack,
    RunResumed,
    RunStopped,
    TrialFinished,
)
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.ground.fileio import atomic_write_bytes
from bilevel_evolve.ground.untrusted import for_markup, for_plot

if TYPE_CHECKING:
    from bilevel_evolve.engine.ablation.aggregate import AblationSummary

PLOT_FILE = "metric.png"


def report_run(run_dir: Path, console: Console | None = None) -> tuple[TraceSummary | AblationSummary, Path]:
    from bilevel_evolve.engine.ablation.store import is_ablation_dir

    if is_ablation_dir(run_dir):  # an `evolve ablate` directory: the ablation report instead
        from bilevel_evolve.engine.reports.ablation_report import report_ablation

        return report_ablation(run_dir, console)
    console = console or Console(width=None if Console().is_terminal else 160)
    store = RunStore.open(run_dir)
    config = store.config()
    reading = _RunReading()
    for event in store.iter_events():  # one pass over the trace, never all of it in memory
        reading.add(event)
    started = reading.tally.started
    if started is None:
        raise RunDirError(f"run {run_dir} has no trials yet", f"continue it with `evolve resume {run_dir}`")
    summary = reading.tally.summary(started.direction)
    console.print(_table(summary, config.run_id, config.domain, config.agent, ",".join(config.levels),
                         reading.stop))
    best = summary.best
    if best is not None:
        console.print("best params: " + for_markup(", ".join(f"{k}={v!r}" for k, v in best.params.items())))
    failures = _failures_table(summary.trials)
    if failures is not None:
        console.print(failures)
    lines = reading.mechanisms.lines()
    if lines:
        console.print(mechanisms_table(lines))
    usage = _llm_usage_table(run_dir)
    if usage is not None:
        console.print(usage)
    plot = plot_run(summary, run_dir / "plots" / PLOT_FILE, title=config.run_id,
                    markers=reading.injections + reading.rollbacks)
    console.print(f"plot: {plot}")
    if config.domain.startswith("text:"):  # the best draft, its diff against the original, criterion curves
        from bilevel_evolve.engine.reports.text_report import report_text

        report_text(run_dir, summary, console)
    return summary, plot


class _RunReading:
    """What the report takes from a trace, one event at a time."""

    def __init__(self) -> None:
        self.tally = TraceTally()
        self.mechanisms = MechanismLines()
        self.injections: list[tuple[int, str, str]] = []  # plot markers: (step, label, colour)
        self.rollbacks: list[tuple[int, str, str]] = []
        # the fail-fast stop the run is in now (None when it never stopped, or was resumed since)
        self.stop: RunStopped | None = None

    def add(self, e: Event) -> None:
        self.tally.add(e)
        self.mechanisms.add(e)
        if isinstance(e, MechanismInjected):
            self.injections.append((e.step, f"+ {for_plot(e.name)}", "#2f9e44"))
        elif isinstance(e, MechanismRolledBack):
            self.rollbacks.append((e.step, f"x {for_plot(e.name)}", "#e03131"))
        elif isinstance(e, RunStopped | RunResumed):
            self.stop = e if isinstance(e, RunStopped) else None


def _table(s: TraceSummary, run_id: str, domain: str, agent: str, levels: str, stop: RunStopped | None = None
           ) -> Table:
    table = Table(title=f"run {for_markup(run_id, 200)}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    counts = s.status_counts()
    status: str = s.finished.status if s.finished else "not finished (resumable)"
    stopped = stop is not None and s.finished is None
    if stop is not None and stopped:
        status = f"stopped at step {stop.step}: {for_markup(stop.reason)} (resumable after the fix)"
    rows = [
        ("domain", domain), ("agent", agent), ("levels", levels),
        ("status", status),
        *([("fix", for_markup(stop.fix, 600))] if stop is not None and stopped else []),
        *([("extended", _extensions(s))] if s.extensions else []),
        ("trials", f"{len(s.trials)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"),
        ("kept", str(len(s.accepted_steps))),
        ("baseline", _fmt(s.baseline_value)),
        ("best", _fmt(s.best.value if s.best else None)),
        ("change vs baseline", _fmt(s.improvement, signed=True)),
        ("repeated proposals", f"{s.repetition_rate:.0%}"),
    ]
    for key, value in rows:
        table.add_row(key, value if key in ("status", "fix") else for_markup(value, 600))  # those two are escaped
    return table


def _extensions(s: TraceSummary) -> str:
    """Each raise of the run's limits: `3 -> 6 iterations at 2026-01-02T10:00:00+00:00 (step 4)`."""
    parts = []
    for e in s.extensions:
        what = [f"{e.iterations_before} -> {e.iterations} iterations"] if e.iterations != e.iterations_before else []
        if e.max_cost_usd != e.max_cost_before:
            what.append(f"LLM budget {_usd(e.max_cost_before)} -> {_usd(e.max_cost_usd)}")
        parts.append(f"{', '.join(what) or 'limits unchanged'} at {e.at} (step {e.step})")
    return "; ".join(parts)


def _usd(value: float | None) -> str:
    return "none" if value is None else f"${value:g}"


def _failures_table(trials: Sequence[TrialFinished], limit: int = 10) -> Table | None:
    """Why trials failed: one row per distinct reason, the most frequent first."""
    groups: dict[tuple[str, str], list[int]] = {}
    for t in trials:
        if t.status != "ok" and t.reason:
            groups.setdefault((t.status, t.reason), []).append(t.step)
    if not groups:
        return None
    table = Table(title="why trials failed")
    for column in ("trials", "status", "steps", "reason"):
        table.add_column(column)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
    for (status, reason), steps in ordered[:limit]:
        shown = ", ".join(map(str, steps[:5])) + (" ..." if len(steps) > 5 else "")
        table.add_row(str(len(steps)), status, shown, for_markup(reason))
    if len(ordered) > limit:
        table.add_row("...", "", "", f"{len(ordered) - limit} other reasons")
    return table


def _llm_usage_table(run_dir: Path) -> Table | None:
    """Calls, tokens and cost of the run's LLM exchanges, split by the level that asked (from the cassette)."""
    usage = usage_by_level(Cassette.in_run(run_dir).read())
    if not usage:
        return None
    table = Table(title="LLM usage by level")
    for column in ("level", "calls", "prompt tokens", "completion tokens", "cost (USD)"):
        table.add_column(column)
    for u in usage:
        table.add_row(LEVEL_NAMES.get(u.level, u.level), str(u.calls), str(u.prompt_tokens),
                      str(u.completion_tokens), f"{u.cost_usd:.4f}")
    total = [sum(x) for x in zip(*((u.calls, u.prompt_tokens, u.completion_tokens) for u in usage), strict=True)]
    table.add_row("all", *map(str, total), f"{sum(u.cost_usd for u in usage):.4f}")
    return table


def plot_run(s: TraceSummary, out: Path, title: str, markers: Sequence[tuple[int, str, str]] = ()) -> Path:
    """Metric vs step; `markers` are (step, label, colour) lines, e.g. mechanism injections and rollbacks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    xs = list(range(len(s.trials)))
    ok = [(x, t.value) for x, t in zip(xs, s.trials, strict=True) if t.value is not None]
    kept = [(x, t.value) for x, t in zip(xs, s.trials, strict=True) if t.step in s.accepted_steps
            and t.value is not None]
    if ok:
        ax.scatter(*_columns(ok), s=14, color="#9aa5b1", label="trial", zorder=2)
    if kept:
        ax.scatter(*_columns(kept), s=30, color="#2f9e44", label="kept", zorder=3)
    best = [(x, b) for x, b in zip(xs, s.best_so_far, strict=True) if b is not None]
    if best:
        ax.step(*_columns(best), where="post", color="#1c7ed6", label="best so far", zorder=4)
    failed = [x for x, t in zip(xs, s.trials, strict=True) if t.status != "ok"]
    for x in failed:
        ax.axvline(x, color="#fa5252", alpha=0.25, lw=1)
    for n, (step, label, colour) in enumerate(markers):
        ax.axvline(step - 0.5, color=colour, ls="--", lw=1, alpha=0.7, zorder=1)
        ax.annotate(label, xy=(step - 0.4, 1 - 0.06 * (n % 6)), xycoords=("data", "axes fraction"), fontsize=7,
                    color=colour, va="top")
    ax.set_xlabel("trial (step)")
    ax.set_ylabel("metric")
    ax.set_title(for_plot(title, 200), fontsize=10)
    ax.grid(alpha=0.3)
    if ok:
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no successful trial yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    atomic_write_bytes(out, png.getvalue(), fsync=False)  # a link in the plot's place is replaced, not followed
    return out


def _columns(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [x for x, _ in points], [y for _, y in points]


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.6g}" if signed else f"{value:.6g}"
