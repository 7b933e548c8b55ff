"""The archive's side of the page: the lineage graph and one mechanism with its diff against its parents."""

from __future__ import annotations

import difflib
from typing import Any

from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.lineage import generations
from bilevel_evolve.mechanism_archive.models import MechanismSummary


def lineage_graph(archive: Archive, run_id: str | None = None) -> list[dict[str, Any]]:
    """Nodes in archive order, with their parents and generation: every mechanism, or those one run
    touched together with their ancestors (so each shown child has its parent to diff against)."""
    every = {s.id: s for s in archive.list()}
    touched = set(every) if run_id is None else {s.id for s in archive.list(run_id=run_id)}
    members = _with_ancestors(touched, every)
    shown = {mid: s for mid, s in every.items() if mid in members}
    generation = generations(shown)
    return [_node(s, generation[mid], mid in touched, shown) for mid, s in shown.items()]


def _with_ancestors(ids: set[str], every: dict[str, MechanismSummary]) -> set[str]:
    found, frontier = set(), list(ids)
    while frontier:
        mid = frontier.pop()
        if mid in found or mid not in every:
            continue
        found.add(mid)
        frontier.extend(every[mid].parents)
    return found


def _node(s: MechanismSummary, generation: int, in_run: bool, shown: dict[str, MechanismSummary]) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "class_name": s.class_name, "origin": s.origin, "status": s.status,
            "reason": s.reason, "parents": [p for p in s.parents if p in shown], "generation": generation,
            "effect_delta": s.effect_delta, "first_run": s.first_run, "in_run": in_run}


def mechanism_detail(archive: Archive, id_or_prefix: str) -> dict[str, Any]:
    """Record, source, history and a unified diff against each parent still in the archive."""
    record = archive.get(id_or_prefix)
    diffs = []
    for parent_id in record.parents:
        if parent_id not in archive:
            continue
        parent = archive.get(parent_id)
        lines = difflib.unified_diff(parent.source.splitlines(), record.source.splitlines(),
                                     fromfile=f"{parent.name} {parent_id[:12]}",
                                     tofile=f"{record.name} {record.id[:12]}", lineterm="")
        diffs.append({"parent": parent_id, "parent_name": parent.name, "lines": list(lines)})
    return {
        "id": record.id, "name": record.name, "class_name": record.summary.class_name,
        "origin": record.summary.origin, "status": record.status, "reason": record.summary.reason,
        "created": record.summary.created, "first_run": record.summary.first_run, "parents": list(record.parents),
        "children": list(archive.children(record.id)), "source": record.source, "diffs": diffs,
        "session": record.record.session, "status_by_run": record.status_by_run, "effects": record.effects,
        "hook_stats": record.hook_stats, "gate_report": record.gate_report, "box_report": record.box_report,
        "history": [e.model_dump(mode="json") for e in record.history],
    }
