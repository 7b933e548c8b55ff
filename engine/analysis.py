"""Numbers drawn from a finished or running trace (shared by reports and the outer loop)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from engine.events import Event, RunFinished, RunStarted, TrialFinished
from engine.models import Direction, gain
from engine.space import Scalar


@dataclass(frozen=True)
class TraceSummary:
    direction: Direction
    trials: list[TrialFinished]
    accepted_steps: frozenset[int]
    finished: RunFinished | None
    started: RunStarted | None
    best_so_far: list[float | None] = field(default_factory=list)

    @property
    def baseline_value(self) -> float | None:
        values = [t.value for t in self.trials if t.source == "baseline" and t.value is not None]
        return sorted(values)[len(values) // 2] if values else None

    @property
    def best(self) -> TrialFinished | None:
        ok = [t for t in self.trials if t.status == "ok" and t.value is not None]
        if not ok:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(ok, key=lambda t: t.value)  # type: ignore[arg-type, return-value]

    @property
    def improvement(self) -> float | None:
        """Signed change best - baseline (negative is better when minimizing, as in the paper)."""
        best, base = self.best, self.baseline_value
        return None if best is None or base is None or best.value is None else best.value - base

    @property
    def repetition_rate(self) -> float:
        """Share of search proposals whose exact parameters were already tried."""
        search = [t for t in self.trials if t.source != "baseline"]
        seen: set[str] = set()
        repeats = 0
        for t in self.trials:
            key = _key(t.params)
            if t.source != "baseline" and key in seen:
                repeats += 1
            seen.add(key)
        return repeats / len(search) if search else 0.0

    def status_counts(self) -> Counter[str]:
        return Counter(t.status for t in self.trials)


def summarize(events: list[Event], direction: Direction) -> TraceSummary:
    trials = [e for e in events if isinstance(e, TrialFinished)]
    accepted = frozenset(e.step for e in events if getattr(e, "kind", "") == "decision" and e.accepted)
    finished = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    best_so_far: list[float | None] = []
    best: float | None = None
    for t in trials:
        if t.status == "ok" and t.value is not None and (
            best is None or gain(t.value, best, direction) > 0
        ):
            best = t.value
        best_so_far.append(best)
    return TraceSummary(direction, trials, accepted, finished, started, best_so_far)


def _key(params: dict[str, Scalar]) -> str:
    return json.dumps(params, sort_keys=True)
