"""An ablation as the page draws it: each group's best-so-far band over its repeats, the report's
results table, and every planned run with how far it got."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bilevel_evolve.engine.ablation.aggregate import summarize_ablation
from bilevel_evolve.engine.ablation.spec import plan
from bilevel_evolve.engine.ablation.store import load_spec, run_dir, run_state
from bilevel_evolve.engine.reports.ablation_plots import COLORS, band
from bilevel_evolve.engine.reports.ablation_report import results_table
from bilevel_evolve.engine.ui.numbers import number_text


def ablation_snapshot(out: Path) -> dict[str, Any]:
    spec = load_spec(out)
    summary = summarize_ablation(spec, out)
    results = {r.name: r for r in summary.runs}
    groups = []
    for g in summary.groups:
        b = band(summary.runs_of(g.label))
        groups.append({"label": g.label, "levels": g.levels, "color": COLORS.get(g.label, "#495057"),
                       "band": None if b is None else {"steps": b.steps, "mean": b.mean, "sd": b.sd, "low": b.low,
                                                       "high": b.high, "runs": b.runs}})
    runs = []
    for planned in plan(spec):
        r = results.get(planned.name)
        runs.append({"name": planned.name, "label": planned.label, "repeat": planned.repeat, "seed": planned.seed,
                     "state": run_state(run_dir(out, planned.name)), "started": r is not None,
                     "finished": bool(r and r.finished), "baseline_text": number_text(r.baseline if r else None),
                     "best_text": number_text(r.best if r else None),
                     "change_text": number_text(r.change if r else None, signed=True),
                     "evaluations": r.evaluations if r else 0, "injected": r.injected if r else 0,
                     "rolled_back": r.rolled_back if r else 0})
    header, rows = markdown_table(results_table(summary))
    return {"kind": "ablation",
            "ablation": {"domain": spec.domain, "groups": list(spec.groups), "baselines": list(spec.baselines),
                         "repeats": spec.repeats, "iterations": spec.iterations, "seed": spec.seed,
                         "archive": spec.archive, "agent": spec.options["agent"], "direction": summary.direction},
            "groups": groups, "table": {"header": header, "rows": rows}, "runs": runs}


def markdown_table(text: str) -> tuple[list[str], list[list[str]]]:
    """The cells of a pipe table (the report's own, so the page shows exactly what report.md says)."""
    lines = [line.strip().strip("|").split("|") for line in text.splitlines() if line.strip().startswith("|")]
    cells = [[c.strip() for c in line] for line in lines]
    return (cells[0], cells[2:]) if cells else ([], [])
