"""Numbers drawn from a finished or running trace (shared by reports and the outer loop)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bilevel_evolve.engine.run.events import DecisionMade, Event, RunFinished, RunStarted, TrialFinished
from bilevel_evolve.ground.records import Direction, gain
from bilevel_evolve.ground.space import Scalar


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
        return baseline_reference(self.trials)

    @property
    def best(self) -> TrialFinished | None:
        ok = [(t.value, t) for t in self.trials if t.status == "ok" and t.value is not None]
        if not ok:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(ok, key=lambda scored: scored[0])[1]

    @property
    def improvement(self) -> float | None:
        """Signed change best - baseline (negative is better when minimizing, as in the paper)."""
        best, base = self.best, self.baseline_value
        return None if best is None or base is None or best.value is None else best.value - base

    @property
    def repetition_rate(self) -> float:
        """Share of search proposals whose exact parameters were already tried."""
        flags = [r for t, r in zip(self.trials, repeat_flags(self.trials), strict=True) if t.source != "baseline"]
        return sum(flags) / len(flags) if flags else 0.0

    def status_counts(self) -> Counter[str]:
        return Counter(t.status for t in self.trials)


def summarize(events: list[Event], direction: Direction) -> TraceSummary:
    trials = [e for e in events if isinstance(e, TrialFinished)]
    accepted = frozenset(e.step for e in events if isinstance(e, DecisionMade) and e.accepted)
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


class _Tried(Protocol):
    """A trial as these numbers read it (TrialRecord and TrialFinished both are one, read-only)."""

    @property
    def params(self) -> dict[str, Scalar]: ...
    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def value(self) -> float | None: ...


def repeat_flags(trials: Sequence[_Tried]) -> list[bool]:
    """Per trial: is it a search proposal whose exact point was tried before?"""
    seen: set[str] = set()
    flags = []
    for t in trials:
        key = json.dumps(t.params, sort_keys=True)
        flags.append(t.source != "baseline" and key in seen)
        seen.add(key)
    return flags


def baseline_reference(trials: Sequence[_Tried]) -> float | None:
    """The baseline a run is measured from: the lower median of its baseline runs (also the
    noise-aware loop's incumbent, so the report and the loop start from the same point)."""
    values = [t.value for t in trials if t.source == "baseline" and t.value is not None]
    return statistics.median_low(values) if values else None


def failure_rate(trials: Sequence[_Tried]) -> float:
    """Share of trials that ran and failed (a vetoed proposal ran nothing and does not count)."""
    return sum(t.status not in ("ok", "rejected") for t in trials) / len(trials) if trials else 0.0
