"""The Level 2 part of a run's report: every candidate, what became of it, and its effect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from bilevel_evolve.engine.run.events import (
    EffectMeasured,
    Event,
    HookCalled,
    MechanismInjected,
    MechanismRolledBack,
    ResearchSessionEvent,
)


@dataclass
class MechanismLine:
    id: str
    name: str
    session: str
    status: str
    reason: str = ""
    effect: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    changed: int = 0


def mechanism_lines(events: list[Event]) -> list[MechanismLine]:
    lines: dict[str, MechanismLine] = {}
    for e in events:  # sessions are logged after their injections: collect candidates first
        if isinstance(e, ResearchSessionEvent):
            for c in e.candidates:
                lines.setdefault(c["id"], MechanismLine(c["id"], c["name"], e.session_id, c["status"],
                                                        c.get("reason", "")))
    for e in events:
        if isinstance(e, MechanismInjected):
            lines.setdefault(e.mechanism, MechanismLine(e.mechanism, e.name, "user", "accepted"))
        elif isinstance(e, MechanismRolledBack) and e.mechanism in lines and e.status == "rolled-back":
            lines[e.mechanism].status = e.status
            lines[e.mechanism].reason = e.reason
        elif isinstance(e, EffectMeasured) and e.mechanism in lines:
            lines[e.mechanism].effect = e.effect
        elif isinstance(e, HookCalled) and e.mechanism in lines:
            lines[e.mechanism].calls += 1
            lines[e.mechanism].changed += int(e.changed)
    for line in lines.values():
        if line.status == "accepted" and not line.changed:  # the same rule the archive applies
            line.status = "dead"
    return list(lines.values())


def mechanisms_table(lines: list[MechanismLine]) -> Table:
    table = Table(title="mechanisms (Level 2)")
    for col in ("id", "name", "session", "status", "hook calls", "changed", "Δ best in its window", "reason"):
        table.add_column(col, overflow="fold")
    colours = {"accepted": "green", "rejected-smoke": "red", "rejected-static": "red",
               "rolled-back": "yellow", "dead": "magenta"}
    for m in lines:
        effect = m.effect.get("delta")
        effect_text = "—" if effect is None else f"{effect:+.4g} ({m.effect.get('verdict')})"
        status = f"[{colours.get(m.status, 'white')}]{m.status}[/]"
        table.add_row(m.id[:12], m.name, m.session.rsplit("/", 1)[-1], status, str(m.calls), str(m.changed),
                      effect_text, m.reason[:160])
    return table
