"""Numbers drawn from a finished or running trace (shared by reports and the outer loop)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bilevel_evolve.engine.run.events import DecisionMade, Event, RunExtended, RunFinished, RunStarted, TrialFinished
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
    extensions: tuple[RunExtended, ...] = ()  # the raises of its limits (evolve resume --iterations), in order

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


class TraceTally:
    """What a summary needs of a trace, gathered one event at a time (a trace is read as a stream)."""

    def __init__(self) -> None:
        self.trials: list[TrialFinished] = []
        self.accepted: set[int] = set()
        self.finished: RunFinished | None = None  # the last one, unless an extension started after it
        self.started: RunStarted | None = None  # the first one
        self.extensions: list[RunExtended] = []

    def add(self, event: Event) -> None:
        if isinstance(event, TrialFinished):
            self.trials.append(event)
        elif isinstance(event, DecisionMade) and event.accepted:
            self.accepted.add(event.step)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunStarted) and self.started is None:
            self.started = event
        elif isinstance(event, RunExtended):
            self.extensions.append(event)
            self.finished = None  # running again: a finished run was extended

    def summary(self, direction: Direction) -> TraceSummary:
        best_so_far: list[float | None] = []
        best: float | None = None
        for t in self.trials:
            if t.status == "ok" and t.value is not None and (best is None or gain(t.value, best, direction) > 0):
                best = t.value
            best_so_far.append(best)
        return TraceSummary(direction, self.trials, frozenset(self.accepted), self.finished, self.started,
                            best_so_far, tuple(self.extensions))


def summarize(events: Iterable[Event], direction: Direction) -> TraceSummary:
    tally = TraceTally()
    for event in events:
        tally.add(event)
    return tally.summary(direction)


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
