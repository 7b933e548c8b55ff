"""`evolve report ABLATION_DIR`: report.md (the paper-style table, baselines as rows, lineage per
repeat, the mechanisms reused from the archive and the archive's effects on this domain), summary.json
and the plots."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from bilevel_evolve.engine.ablation.aggregate import AblationSummary, GroupStats, RunResult, summarize_ablation
from bilevel_evolve.engine.ablation.spec import BASELINES, GROUPS
from bilevel_evolve.engine.ablation.store import load_spec
from bilevel_evolve.engine.reports.ablation_plots import PLOTS_DIR, plot_ablation
from bilevel_evolve.engine.reports.memory_section import memory_sections
from bilevel_evolve.ground.errors import RunDirError

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"
REASON_CHARS = 90


def report_ablation(out: Path, console: Console | None = None) -> tuple[AblationSummary, Path]:
    console = console or Console(width=None if Console().is_terminal else 160)
    spec = load_spec(out)
    summary = summarize_ablation(spec, out)
    if not summary.runs:
        raise RunDirError(f"ablation {out} has no run with a trial yet",
                          "continue it by repeating the `evolve ablate` command that started it")
    plots = plot_ablation(summary, out)
    memory = memory_sections(summary, out)
    text = render_markdown(summary, [p.relative_to(out) for p in plots], memory)
    path = out / REPORT_FILE
    path.write_text(text, encoding="utf-8")
    (out / SUMMARY_FILE).write_text(summary_json(summary), encoding="utf-8")
    console.print(Markdown(results_table(summary)))
    if memory:
        console.print(Markdown("\n".join(memory)))
    console.print(f"report: {path}\nplots: {out / PLOTS_DIR}")
    return summary, path


def summary_json(summary: AblationSummary) -> str:
    """Machine-readable numbers (groups and every run), for benchmarks and notebooks."""
    import json

    runs = [{**r.model_dump(exclude={"best_so_far"}), "change": r.change} for r in summary.runs]
    return json.dumps({"spec": summary.spec.model_dump(), "direction": summary.direction,
                       "groups": [g.model_dump() for g in summary.groups], "runs": runs}, indent=2)


def render_markdown(summary: AblationSummary, plots: list[Path], memory: list[str] | None = None) -> str:
    spec = summary.spec
    lines = [f"# Ablation: {spec.domain}", "",
             f"{spec.repeats} repeat(s) x {spec.iterations} iterations (+ the baseline trial), seed {spec.seed}, "
             f"agent `{spec.options['agent']}`, direction {summary.direction or '?'}; "
             "change = best - baseline (negative is better when minimizing), as in the paper.", "",
             results_table(summary), ""]
    lines += _notes(summary)
    lines += ["## Plots", ""]
    for plot in plots:
        lines.append(f"![{plot.stem}]({plot.as_posix()})")
    lines += ["", *lineage_section(summary), *(memory or [])]
    return "\n".join(lines) + "\n"


def results_table(summary: AblationSummary) -> str:
    head = ("| group | levels | runs | mean change ± sd | vs A | best (mean ± sd) | best (median) | evaluations "
            "| mechanisms injected | rolled back |")
    rows = [head, "|" + "---|" * 10]
    for g in summary.groups:
        name = g.label if g.label in GROUPS else {"random": "random search", "optuna": "Optuna TPE"}[g.label]
        mechanisms = ("—", "—") if g.label in BASELINES or "2" not in g.levels else (
            str(g.injected), f"{g.rolled_back}" + (f" ({g.rejected} at vetting)" if g.rejected else ""))
        rows.append(f"| {name} | {g.levels} | {g.runs}/{g.planned} | {_pm(g.mean_change, g.sd_change, True)} "
                    f"| {_ratio(g)} | {_pm(g.mean_best, g.sd_best)} | {_num(g.median_best)} "
                    f"| {g.mean_evaluations:.0f} | {mechanisms[0]} | {mechanisms[1]} |")
    return "\n".join(rows)


def _notes(summary: AblationSummary) -> list[str]:
    notes = []
    same = [g.label for g in summary.groups
            if len(curves := [r.best_so_far for r in summary.runs_of(g.label)]) > 1
            and all(c == curves[0] for c in curves)]
    if same:
        notes.append(f"- {', '.join(same)}: every repeat gave the same trials. The seed reaches only the seeded "
                     "parts (mechanisms, baselines, noise); the offline proposer is deterministic, so on a "
                     "noise-free objective its repeats coincide (pass --noise-sd to vary them).")
    unfinished = [r.name for r in summary.runs if not r.finished]
    if unfinished:
        notes.append(f"- not finished yet (counted with the trials they have): {', '.join(unfinished)}; "
                     "repeat the `evolve ablate` command to continue them.")
    return [*notes, ""] if notes else []


def lineage_section(summary: AblationSummary) -> list[str]:
    """Which mechanisms each Level 2 run injected and rolled back, repeat by repeat."""
    runs = [r for r in summary.runs if r.label in GROUPS and "2" in GROUPS[r.label]]
    if not runs:
        return []
    lines = ["## Mechanism lineage per repeat", "",
             "| repeat | run | injected (step) | rolled back or rejected (step: reason) |", "|---|---|---|---|"]
    for r in sorted(runs, key=lambda x: (x.repeat, x.label)):
        lines.append(f"| {r.repeat} | {r.name} | {_injected(r)} | {_removed(r)} |")
    lines += ["", "Mechanism ids are archive ids: `evolve archive --archive "
              f"{summary.spec.archive} show ID` shows the source, its vetting and its effect.", ""]
    return lines


def _injected(r: RunResult) -> str:
    items = [f"{e.name} `{e.mechanism[:12]}` ({e.step})" for e in r.lineage if e.kind == "injected"]
    return "; ".join(items) or "none"


def _removed(r: RunResult) -> str:
    items = []
    for e in r.lineage:
        if e.kind != "injected":
            reason = e.reason.replace("|", "/").replace("\n", " ")
            reason = reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"
            items.append(f"{e.name} ({e.step}, {e.kind}: {reason})")
    return "; ".join(items) or "none"


def _ratio(g: GroupStats) -> str:
    return "—" if g.ratio_vs_a is None else f"{g.ratio_vs_a:.2g}x"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _pm(mean: float | None, sd: float | None, signed: bool = False) -> str:
    if mean is None:
        return "—"
    return f"{_num(mean, signed)} ± {_num(sd)}"
