"""The archive's memory in an ablation's report: which proven mechanisms each Level 2 run reused (with the
effect the archive had measured of them when the ablation began), and what the archive now knows of
every mechanism measured on this domain: runs, mean score, 95 % interval (mechanism_archive/effects.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bilevel_evolve.engine.ablation.aggregate import AblationSummary
from bilevel_evolve.engine.ablation.spec import GROUPS
from bilevel_evolve.engine.ablation.store import run_dir
from bilevel_evolve.engine.run.events import ResearchSessionEvent, RunStarted
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.untrusted import clean_text
from bilevel_evolve.mechanism_archive.effects import scope_of
from bilevel_evolve.mechanism_archive.layout import MARKER_FILE
from bilevel_evolve.mechanism_archive.models import PROVEN_RUNS, MechanismSummary

SCORE_NOTE = ("score: the median trial's move over the window after injection, in units of the spread of the values "
              f"the run had seen (positive helps); 95 % Student-t interval over runs; proven: {PROVEN_RUNS}+ runs and "
              "an interval without 0; start: recalled for runs that measured earlier runs' best points first, pooled "
              "apart from fresh ones.")


def memory_sections(summary: AblationSummary, out: Path) -> list[str]:
    """Markdown lines: the reuse table (when a run reused anything) and the archive's effects on this domain."""
    runs = [r for r in summary.runs if r.label in GROUPS and "2" in GROUPS[r.label]]
    if not runs:
        return []
    reused: list[tuple[int, str, list[dict[str, Any]]]] = []
    space: dict[str, dict[str, Any]] | None = None
    for r in sorted(runs, key=lambda x: (x.repeat, x.label)):
        events = RunStore.open(run_dir(out, r.name)).events()
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        space = space or (started.space if started else None)
        found = [{**c, "step": e.step} for e in events if isinstance(e, ResearchSessionEvent)
                 for c in e.candidates if c.get("reused")]
        reused.append((r.repeat, r.name, found))
    lines = _reuse_table(summary, reused)
    if space is not None:
        lines += _effects_table(summary, space)
    return lines


def _reuse_table(summary: AblationSummary, reused: list[tuple[int, str, list[dict[str, Any]]]]) -> list[str]:
    horizon = summary.spec.options.get("archive_horizon")
    if not any(found for _, _, found in reused):
        if not horizon:
            return []
        return ["## Mechanisms reused from the archive", "",
                f"No run reused a mechanism: the archive as it stood when this ablation began (event {horizon}) "
                f"proved none for {summary.spec.domain} or a similar space.", ""]
    lines = ["## Mechanisms reused from the archive", "",
             f"Each Level 2 run first injects the mechanisms the archive proved, as it stood when this ablation "
             f"began (event {horizon}), for {summary.spec.domain} or a similar space. {SCORE_NOTE}", "",
             "| repeat | run | reused (step) | effect when reused: mean [95% CI] over runs |", "|---|---|---|---|"]
    for repeat, name, found in reused:
        items = [f"{_cell(c['name'])} `{str(c['id'])[:12]}` ({c['step']})" for c in found]
        effects = [_estimate_cell(c.get("estimate") or {}) for c in found]
        lines.append(f"| {repeat} | {name} | {'; '.join(items) or 'none'} | {'; '.join(effects) or '—'} |")
    return [*lines, ""]


def _effects_table(summary: AblationSummary, space: dict[str, dict[str, Any]]) -> list[str]:
    from bilevel_evolve.mechanism_archive.archive import Archive

    archive_dir = Path(summary.spec.archive)
    if not (archive_dir / MARKER_FILE).is_file():
        return []
    scope = scope_of(summary.spec.domain, space)
    with Archive.open(archive_dir, recover_now=False) as archive:
        rows = [(s, e) for s in archive.list() for e in s.estimates
                if (e.domain, e.space_signature) == (scope.domain, scope.signature)]
    if not rows:
        return []
    rows.sort(key=lambda se: (-se[1].runs, -se[1].mean))
    lines = [f"## Effects across runs on {summary.spec.domain} (the archive now)", "", SCORE_NOTE, "",
             "| mechanism | id | generation | parents | start | runs | mean | 95% CI | verdict |", "|" + "---|" * 9]
    for s, e in rows:
        interval = "—" if e.low is None or e.high is None else f"[{e.low:+.3g}, {e.high:+.3g}]"
        verdict = f"proven {e.sign}" if e.sign else ("a hint (one run)" if e.runs == 1 else "not proven")
        lines.append(f"| {_cell(s.name)} | `{s.short_id}` | {s.generation} | {_parents(s)} | {e.start} | {e.runs} | "
                     f"{e.mean:+.3g} | {interval} | {verdict} |")
    return [*lines, "", f"`evolve archive --archive {summary.spec.archive} show ID` shows one with its source.", ""]


def _estimate_cell(e: dict[str, Any]) -> str:
    mean, low, high, runs = e.get("mean"), e.get("low"), e.get("high"), e.get("runs")
    if not isinstance(mean, int | float):
        return "—"
    interval = f" [{low:+.3g}, {high:+.3g}]" if isinstance(low, int | float) and isinstance(high, int | float) else ""
    where = ", similar space" if e.get("similar_space") else ""
    return f"{mean:+.3g}{interval} over {runs} runs{where}"


def _parents(s: MechanismSummary) -> str:
    return ", ".join(f"`{p[:12]}`" for p in s.parents) or "—"


def _cell(text: object) -> str:
    """A name from the archive or a trace, as one markdown table cell."""
    return clean_text(text, 80, one_line=True).replace("|", "/")
