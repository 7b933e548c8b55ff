"""Best-so-far vs iteration over the repeats: mean line, mean ± sd band, min-max band."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bilevel_evolve.engine.ablation.aggregate import AblationSummary, RunResult
from bilevel_evolve.ground.untrusted import for_plot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLORS = {"A": "#868e96", "B": "#f59f00", "C": "#1c7ed6", "D": "#2f9e44",
          "random": "#e8590c", "optuna": "#ae3ec9"}
PLOTS_DIR = "plots"
LOG_SCALE_RATIO = 50.0


@dataclass(frozen=True)
class Band:
    steps: list[int]
    mean: list[float]
    sd: list[float]
    low: list[float]
    high: list[float]
    runs: int


def band(runs: list[RunResult]) -> Band | None:
    """Per step, over the runs that reached it with a value (the baseline trial is step 0)."""
    curves = [r.best_so_far for r in runs if r.best_so_far]
    if not curves:
        return None
    steps: list[int] = []
    mean: list[float] = []
    sd: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for step in range(max(len(c) for c in curves)):
        values = [v for v in (c[step] for c in curves if step < len(c)) if v is not None]
        if not values:
            continue
        steps.append(step)
        mean.append(statistics.fmean(values))
        sd.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        low.append(min(values))
        high.append(max(values))
    return Band(steps, mean, sd, low, high, len(curves))


def plot_ablation(summary: AblationSummary, out: Path) -> list[Path]:
    """One PNG per group/baseline, plus all of them together (groups.png). Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    labels = [g.label for g in summary.groups]
    bands = {label: band(summary.runs_of(label)) for label in labels}
    ylabel = f"best so far ({summary.direction or 'metric'})"
    domain = summary.spec.domain
    paths = []
    for label in labels:
        b = bands[label]
        if b is None:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        _draw(ax, b, label, COLORS.get(label, "#495057"), minmax=True)
        _finish(ax, f"{domain}: {_title(label)} — best so far over {b.runs} repeat(s)", ylabel)
        path = folder / f"group-{label}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for label in labels:
        b = bands[label]
        if b is not None:
            _draw(ax, b, _title(label), COLORS.get(label, "#495057"), minmax=False)
    _finish(ax, f"{domain}: best so far, mean ± sd over repeats", ylabel)
    path = folder / "groups.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [*paths, path]


def _title(label: str) -> str:
    names = {"A": "A (L1)", "B": "B (L1+1.5)", "C": "C (L1+1.5+2)", "D": "D (L1+2)",
             "random": "random search", "optuna": "Optuna TPE"}
    return names.get(label, label)


def _draw(ax: Axes, b: Band, label: str, color: str, *, minmax: bool) -> None:
    lo = [m - s for m, s in zip(b.mean, b.sd, strict=True)]
    hi = [m + s for m, s in zip(b.mean, b.sd, strict=True)]
    if minmax:
        ax.fill_between(b.steps, b.low, b.high, step="post", color=color, alpha=0.12, lw=0, label="min-max")
    ax.fill_between(b.steps, lo, hi, step="post", color=color, alpha=0.25, lw=0,
                    label="mean ± sd" if minmax else None)
    ax.step(b.steps, b.mean, where="post", color=color, lw=2, label="mean" if minmax else for_plot(label))


def _finish(ax: Axes, title: str, ylabel: str) -> None:
    import numpy as np

    values = [float(y) for line in ax.get_lines() for y in np.asarray(line.get_ydata(), dtype=float)]
    if values and min(values) > 0 and max(values) / min(values) > LOG_SCALE_RATIO:
        ax.set_yscale("log")  # e.g. Rosenbrock: 532 at the start, near 0 at the end
    ax.set_xlabel("trial (step 0 = the baseline)")
    ax.set_ylabel(ylabel)
    ax.set_title(for_plot(title, 200), fontsize=10)  # the domain spec is the user's: a `$` is no mathtext
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
