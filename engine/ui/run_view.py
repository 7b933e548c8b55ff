"""A run as the page draws it: header numbers, every trial, the curve's markers, the mechanisms and
the research sessions, all derived from the run directory on each change."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from bilevel_evolve.engine.analysis.trace_numbers import TraceSummary, summarize
from bilevel_evolve.engine.llm.cassette import Cassette
from bilevel_evolve.engine.reports.mechanisms_table import MechanismLine, mechanism_lines
from bilevel_evolve.engine.run.events import (
    ConfigChanged,
    DecisionMade,
    Event,
    HookCalled,
    MechanismInjected,
    MechanismRolledBack,
    ProposalMade,
    RunStarted,
)
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.ui.lineage_view import lineage_graph
from bilevel_evolve.engine.ui.numbers import number_text
from bilevel_evolve.engine.ui.sessions import research_sessions
from bilevel_evolve.mechanism_archive.archive import Archive


def run_snapshot(run_dir: Path, archive: Archive | None, archive_path: Path | None) -> dict[str, Any]:
    store = RunStore.open(run_dir)
    config = store.config()
    events = store.events()
    checkpoint = store.load_checkpoint()
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    summary = summarize(events, started.direction if started else "minimize")
    best = summary.best
    finished = summary.finished
    header = {
        "run_id": config.run_id, "domain": config.domain, "agent": config.agent, "levels": list(config.levels),
        "seed": config.seed, "iterations": config.iterations, "acceptance": config.acceptance,
        "direction": summary.direction, "status": finished.status if finished else "running",
        "live": finished is None, "steps_done": checkpoint.steps_done if checkpoint else 0,
        "trials": len(summary.trials), "kept": len(summary.accepted_steps),
        "status_counts": dict(sorted(summary.status_counts().items())),
        "baseline": summary.baseline_value, "baseline_text": number_text(summary.baseline_value),
        "best": best.value if best else None, "best_text": number_text(best.value if best else None),
        "best_step": best.step if best else None, "best_params": best.params if best else None,
        "change_text": number_text(summary.improvement, signed=True),
    }
    lines = mechanism_lines(events)
    return {
        "kind": "run", "run": header, "trials": _trials(events, summary),
        "markers": _markers(events), "mechanisms": _mechanisms(events, lines),
        "sessions": research_sessions(events, Cassette.in_run(run_dir).read()),
        "archive": _archive_part(archive, archive_path, config.run_id),
    }


def _trials(events: list[Event], summary: TraceSummary) -> list[dict[str, Any]]:
    decisions = {e.step: e for e in events if isinstance(e, DecisionMade)}
    proposals = {e.step: e for e in events if isinstance(e, ProposalMade)}
    out = []
    for t, best in zip(summary.trials, summary.best_so_far, strict=True):
        decision, proposal = decisions.get(t.step), proposals.get(t.step)
        out.append({
            "step": t.step, "iteration": t.iteration, "source": t.source, "status": t.status, "value": t.value,
            "value_text": number_text(t.value), "best_so_far": best, "kept": bool(decision and decision.accepted),
            "reason": decision.reason if decision else "",
            "overridden_by": decision.overridden_by if decision else None,
            "message": t.message, "duration_s": round(t.duration_s, 3), "params": t.params, "metrics": t.metrics,
            "rationale": proposal.rationale if proposal else "", "problem": proposal.problem if proposal else "",
            "recovered": t.recovered,
        })
    return out


def _markers(events: list[Event]) -> list[dict[str, Any]]:
    """Where the curve changes regime: injections and rollbacks (Level 2), config changes (Level 1.5)."""
    out: list[dict[str, Any]] = []
    for e in events:
        if isinstance(e, MechanismInjected):
            out.append({"step": e.step, "kind": "injection", "name": e.name, "mechanism": e.mechanism, "reason": ""})
        elif isinstance(e, MechanismRolledBack):
            out.append({"step": e.step, "kind": "rollback", "name": e.name, "mechanism": e.mechanism,
                        "reason": f"{e.status}: {e.reason}"})
        elif isinstance(e, ConfigChanged):
            out.append({"step": e.step, "kind": "config", "name": e.after.strategy, "mechanism": "",
                        "reason": e.reason})
    return out


def _mechanisms(events: list[Event], lines: list[MechanismLine]) -> list[dict[str, Any]]:
    per_hook: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: {"calls": 0,
                                                                                              "changed": 0}))
    for e in events:
        if isinstance(e, HookCalled):
            counts = per_hook[e.mechanism][e.hook]
            counts["calls"] += 1
            counts["changed"] += int(e.changed)
    return [{"id": m.id, "name": m.name, "session": m.session, "status": m.status, "reason": m.reason,
             "calls": m.calls, "changed": m.changed, "effect": m.effect, "hooks": per_hook.get(m.id, {})}
            for m in lines]


def _archive_part(archive: Archive | None, path: Path | None, run_id: str) -> dict[str, Any]:
    if archive is None:
        note = "" if path is None else f"no mechanism archive at {path} yet (pass --archive DIR if it moved)"
        return {"available": False, "path": str(path) if path else None, "note": note, "lineage": []}
    return {"available": True, "path": str(path), "note": "", "lineage": lineage_graph(archive, run_id=run_id)}
