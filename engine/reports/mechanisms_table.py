"""The Level 2 part of a run's report: every candidate, what became of it, and its effect."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from bilevel_evolve.engine.run.events import (
    EffectMeasured,
    Event,
    HookCalled,
    MechanismAskedModel,
    MechanismInjected,
    MechanismRolledBack,
    ResearchSessionEvent,
)
from bilevel_evolve.ground.untrusted import for_markup


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
    llm_calls: int = 0  # its hooks' ctx.llm calls
    llm_cost_usd: float = 0.0


class MechanismLines:
    """The mechanisms of a run, gathered one trace event at a time: every candidate of a research
    session (sessions are logged after their injections, so a session's line replaces the injection's)
    and every injected mechanism, with its rollback, effect and hook counts."""

    def __init__(self) -> None:
        self._from_sessions: dict[str, MechanismLine] = {}
        self._injected: dict[str, MechanismLine] = {}
        self._rollbacks: dict[str, str] = {}  # id -> the reason of its last rollback
        self._effects: dict[str, dict[str, Any]] = {}
        self._calls: Counter[str] = Counter()
        self._changed: Counter[str] = Counter()
        self._asked: Counter[str] = Counter()
        self._asked_cost: dict[str, float] = {}

    def add(self, e: Event) -> None:
        if isinstance(e, ResearchSessionEvent):
            for c in e.candidates:
                self._from_sessions.setdefault(c["id"], MechanismLine(c["id"], c["name"], e.session_id, c["status"],
                                                                      c.get("reason", "")))
        elif isinstance(e, MechanismInjected):
            self._injected.setdefault(e.mechanism, MechanismLine(e.mechanism, e.name, "user", "accepted"))
        elif isinstance(e, MechanismRolledBack) and e.status == "rolled-back":
            self._rollbacks[e.mechanism] = e.reason
        elif isinstance(e, EffectMeasured):
            self._effects[e.mechanism] = e.effect
        elif isinstance(e, HookCalled):
            self._calls[e.mechanism] += 1
            self._changed[e.mechanism] += int(e.changed)
        elif isinstance(e, MechanismAskedModel):
            self._asked[e.mechanism] += 1
            self._asked_cost[e.mechanism] = self._asked_cost.get(e.mechanism, 0.0) + e.cost_usd

    def lines(self) -> list[MechanismLine]:
        lines = dict(self._from_sessions)
        for mech_id, line in self._injected.items():
            lines.setdefault(mech_id, line)
        for mech_id, line in lines.items():
            if mech_id in self._rollbacks:
                line.status, line.reason = "rolled-back", self._rollbacks[mech_id]
            line.effect = self._effects.get(mech_id, line.effect)
            line.calls, line.changed = self._calls[mech_id], self._changed[mech_id]
            line.llm_calls, line.llm_cost_usd = self._asked[mech_id], self._asked_cost.get(mech_id, 0.0)
            if line.status == "accepted" and not line.changed:  # the same rule the archive applies
                line.status = "dead"
        return list(lines.values())


def mechanism_lines(events: Iterable[Event]) -> list[MechanismLine]:
    gathered = MechanismLines()
    for e in events:
        gathered.add(e)
    return gathered.lines()


def mechanisms_table(lines: list[MechanismLine]) -> Table:
    table = Table(title="mechanisms (Level 2)")
    for col in ("id", "name", "session", "status", "hook calls", "changed", "ctx.llm", "Δ best in its window",
                "reason"):
        table.add_column(col, overflow="fold")
    colours = {"accepted": "green", "rejected-smoke": "red", "rejected-static": "red",
               "rolled-back": "yellow", "dead": "magenta"}
    for m in lines:
        effect = m.effect.get("delta")
        effect_text = "—" if not isinstance(effect, int | float) else \
            f"{effect:+.4g} ({for_markup(m.effect.get('verdict'), 40)})"
        status = f"[{colours.get(m.status, 'white')}]{for_markup(m.status, 40)}[/]"
        asked = "—" if not m.llm_calls else f"{m.llm_calls} (${m.llm_cost_usd:.4f})"
        # names, sessions and reasons are mechanisms' and models' words: markup in them stays text
        table.add_row(for_markup(m.id[:12]), for_markup(m.name, 200), for_markup(m.session.rsplit("/", 1)[-1], 80),
                      status, str(m.calls), str(m.changed), asked, effect_text, for_markup(m.reason, 160))
    return table
