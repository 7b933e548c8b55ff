"""Terminal views of the archive (rich). Every string from a record is untrusted: it is shown as plain
text (never parsed as rich markup) with control characters made visible (ground.untrusted), so a name
or source cannot restyle the terminal or hide text."""

from __future__ import annotations

import difflib
import json
import sys
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from bilevel_evolve.ground.untrusted import for_terminal
from bilevel_evolve.mechanism_archive.models import EffectEstimate, Lineage, MechanismRecord, MechanismSummary

STATUS_STYLE = {
    "accepted": "green",
    "rejected-static": "red",
    "rejected-smoke": "dark_orange",
    "rolled-back": "magenta",
    "dead": "grey50",
}


def visible(text: Any) -> str:
    """Text with control characters (except newline and tab) shown as \\xNN escapes, bidirectional
    overrides ("Trojan Source") as \\uNNNN and lone surrogates replaced; whole (sources are shown in full)."""
    return for_terminal(text, sys.maxsize)


def plain(text: Any, style: str = "") -> Text:
    return Text(visible(text), style=style)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def effect_text(summary: MechanismSummary) -> Text:
    delta = summary.effect_delta
    if delta is None:
        return Text("-", style="dim")
    verdict = (summary.effect or {}).get("verdict")
    style = {"improved": "green", "worse": "red"}.get(str(verdict), "")
    return Text(f"{delta:+.4g}" + (f" {visible(verdict)}" if verdict else ""), style=style)


def estimate_text(estimate: EffectEstimate | None, *, more: int = 0) -> Text:
    """An effect across runs: mean, 95 % interval, runs and whether it is proven (green/red when it is)."""
    if estimate is None:
        return Text("-", style="dim")
    style = {"positive": "green", "negative": "red"}.get(str(estimate.sign), "")
    return Text(estimate.describe() + (f" (+{more} more domains)" if more else ""), style=style)


def list_table(summaries: list[MechanismSummary]) -> Table:
    table = Table(title=f"{len(summaries)} mechanisms", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=12)
    table.add_column("name", overflow="fold", min_width=10, ratio=2)
    table.add_column("status", overflow="fold", min_width=8)
    table.add_column("parent", overflow="ellipsis", no_wrap=True, max_width=15)
    table.add_column("gen", justify="right")
    table.add_column("effect", overflow="fold")
    table.add_column("effect over runs (mean [95% CI])", overflow="fold", ratio=2)
    table.add_column("run", overflow="fold", min_width=5, ratio=1)
    for s in summaries:
        parent = s.parents[0][:12] + (f" +{len(s.parents) - 1}" if len(s.parents) > 1 else "") if s.parents else "-"
        table.add_row(s.short_id, plain(s.name), status_text(s.status), parent, str(s.generation), effect_text(s),
                      estimate_text(s.estimate, more=len(s.estimates) - 1), plain(s.status_run))
    return table


def node_label(summary: MechanismSummary, *, focus: bool = False) -> Text:
    label = Text()
    label.append(summary.short_id, style="bold" if focus else "")
    label.append(" ")
    label.append(visible(summary.name), style="bold underline" if focus else "")
    label.append(" [")
    label.append_text(status_text(summary.status))
    label.append("]")
    if summary.generation:
        label.append(f" gen {summary.generation}", style="dim")
    if summary.estimate is not None:
        label.append(" effect ").append_text(estimate_text(summary.estimate))
    elif summary.effect_delta is not None:
        label.append(" effect ").append_text(effect_text(summary))
    return label


def lineage_tree(lineage: Lineage) -> Tree:
    """The first-parent chain from the oldest ancestor down to the focus, then all its descendants.

    Other parents of a node (merges) are named beside it; a descendant reached twice is drawn once.
    """
    nodes = lineage.nodes
    chain = [lineage.focus]
    while lineage.parents.get(chain[-1]) and lineage.parents[chain[-1]][0] not in chain:
        chain.append(lineage.parents[chain[-1]][0])
    chain.reverse()
    root = Tree(_annotated(chain[0], lineage, focus=chain[0] == lineage.focus), guide_style="dim")
    branch = root
    for mid in chain[1:]:
        branch = branch.add(_annotated(mid, lineage, focus=mid == lineage.focus))
    drawn = set(chain)

    def grow(tree: Tree, mid: str) -> None:
        for child in lineage.children.get(mid, ()):
            if child in drawn:
                tree.add(Text(f"{child[:12]} {visible(nodes[child].name)} (shown above)", style="dim"))
                continue
            drawn.add(child)
            grow(tree.add(_annotated(child, lineage)), child)

    grow(branch, lineage.focus)
    return root


def _annotated(mid: str, lineage: Lineage, *, focus: bool = False) -> Text:
    label = node_label(lineage.nodes[mid], focus=focus)
    others = lineage.parents.get(mid, ())[1:]
    if others:
        label.append(f"  (also derived from {', '.join(p[:12] for p in others)})", style="dim")
    return label


def show_view(rec: MechanismRecord, *, with_source: bool = True) -> RenderableType:
    s, r = rec.summary, rec.record
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows: list[tuple[str, Text]] = [
        ("id", Text(s.id)), ("name", plain(s.name)), ("class", plain(s.class_name)), ("origin", Text(s.origin)),
        ("parents", Text(", ".join(p[:12] for p in s.parents) or "-")), ("generation", Text(str(s.generation))),
        ("created", Text(s.created)),
        ("first run", plain(s.first_run)), ("status", status_text(s.status) + plain(f"  (latest, run {s.status_run})")),
        ("session", plain(_session_line(r.session))),
        ("gate", plain(report_line(rec.gate_report, "gate"))), ("box", plain(report_line(rec.box_report, "box"))),
    ]
    for key, value in rows:
        head.add_row(key, value)
    history = Table(title="history", title_justify="left")
    for column in ("#", "time", "run", "event", "status", "reason / details"):
        history.add_column(column)
    for ev in rec.history:
        detail = ev.reason or (_compact(ev.payload) if ev.kind in {"effect", "hook_stats"} else "")
        history.add_row(str(ev.seq), ev.ts[:19], plain(ev.run_id), ev.kind,
                        status_text(ev.status) if ev.status else Text("-", style="dim"), plain(detail))
    parts: list[RenderableType] = [head, effects_table(s.estimates), history]
    if with_source:
        parts.append(Panel(Syntax(visible(rec.source), "python", line_numbers=True, word_wrap=True),
                           title=f"source.py ({r.source_bytes} bytes, sha256 {s.id[:12]}…)", title_align="left"))
    return Group(*parts)


def effects_table(estimates: tuple[EffectEstimate, ...]) -> Table:
    """Per domain and space: the runs that measured the mechanism, the mean score and its 95 % t interval."""
    table = Table(title="effect across runs (score: the median trial's move in units of the run's spread; "
                  "positive helps)", title_justify="left")
    for column in ("domain", "space", "runs", "mean", "95% CI", "verdict"):
        table.add_column(column, overflow="fold")
    for e in estimates:
        interval = "-" if e.low is None or e.high is None else f"[{e.low:+.3g}, {e.high:+.3g}]"
        verdict = f"proven {e.sign}" if e.sign else ("a hint (one run)" if e.runs == 1 else "not proven")
        table.add_row(plain(e.domain or "-"), e.space_label, str(e.runs), f"{e.mean:+.3g}", interval,
                      Text(verdict, style=estimate_text(e).style))
    if not estimates:
        table.add_row("-", "-", "0", "-", "-", Text("not measured in a run with a scope yet", style="dim"))
    return table


def report_line(report: dict[str, Any] | None, which: str) -> str:
    """One line for a gate or box report of any shape: verdict, then the first reasons."""
    if report is None:
        return "(no report)"
    verdict = report.get("status") or ("passed" if report.get("ok") else "failed" if "ok" in report else "?")
    reasons = [str(v.get("message", v)) if isinstance(v, dict) else str(v)
               for key in ("violations", "reasons") for v in report.get(key) or ()]
    extra = f": {'; '.join(reasons[:3])}" + (f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else "")
    return f"{verdict}{extra if reasons else ''}"


def _session_line(session: dict[str, Any]) -> str:
    if not session:
        return "-"
    keys = ", ".join(sorted(session)[:8])
    recipe = session.get("recipe")
    return f"recipe {recipe}; keys: {keys}" if recipe else f"keys: {keys}"


def _compact(payload: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(payload, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_diff(a: MechanismRecord, b: MechanismRecord) -> str:
    """Unified diff of two sources, labelled with their ids and names (control characters made visible)."""
    lines = difflib.unified_diff(
        visible(a.source).splitlines(keepends=True), visible(b.source).splitlines(keepends=True),
        fromfile=f"{a.id[:12]} {visible(a.name)}", tofile=f"{b.id[:12]} {visible(b.name)}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
