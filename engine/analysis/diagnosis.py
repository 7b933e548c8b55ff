"""Trace analysis shared by Level 1.5 and Level 2: repetition, stagnation, coverage, effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bilevel_evolve.engine.analysis.trace_numbers import baseline_reference, failure_rate, repeat_flags
from bilevel_evolve.engine.llm.summary import parameter_usage
from bilevel_evolve.ground.records import Direction, TrialRecord, gain
from bilevel_evolve.ground.space import SearchSpace

COVERAGE_BINS = 10


@dataclass(frozen=True)
class ParamReport:
    tried: int
    kept: int
    coverage: float  # share of unit-range bins the search has visited for this parameter


@dataclass(frozen=True)
class Diagnosis:
    iteration: int
    window: int
    repetition_rate: float  # in the last window: proposals whose exact point was tried before
    stagnation: int  # search iterations since the last kept trial
    failure_rate: float  # in the last window
    improvement: float | None  # signed best - baseline (negative = better when minimizing)
    recent_gain: float  # improvement of the best value over the last window (>= 0, in "better" units)
    params: dict[str, ParamReport]

    @property
    def untouched(self) -> list[str]:
        return [n for n, p in self.params.items() if p.tried == 0]

    @property
    def least_covered(self) -> list[str]:
        return sorted(self.params, key=lambda n: (self.params[n].coverage, self.params[n].tried))

    def bottlenecks(self) -> list[tuple[str, float, str]]:
        """(bottleneck, severity 0..1, evidence), most severe first. Names match the recipe catalog."""
        found: list[tuple[str, float, str]] = []
        n = len(self.params)
        if self.repetition_rate > 0.2:
            found.append(("repetition", self.repetition_rate,
                          f"{self.repetition_rate:.0%} of the last {self.window} proposals repeated earlier points"))
        if self.untouched:
            share = len(self.untouched) / n
            found.append(("unexplored", min(1.0, 0.3 + share),
                          f"{len(self.untouched)} of {n} parameters never changed: {', '.join(self.untouched)}"))
        if self.stagnation >= self.window:
            found.append(("stagnation", min(1.0, self.stagnation / (2 * self.window)),
                          f"no kept trial in the last {self.stagnation} iterations"))
        if self.recent_gain == 0 and self.iteration >= 2 * self.window:
            found.append(("no-model", 0.35, "the search never uses what the history says about the objective"))
        if self.failure_rate > 0.3:
            found.append(("failures", self.failure_rate, f"{self.failure_rate:.0%} of recent trials failed"))
        if not found:
            found.append(("plateau", 0.2, "progress is slow but steady: accept sideways moves to widen the search"))
        return sorted(found, key=lambda b: -b[1])

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["untouched"] = self.untouched
        out["bottlenecks"] = [{"name": b, "severity": round(s, 3), "evidence": e} for b, s, e in self.bottlenecks()]
        return out


def diagnose(history: Sequence[TrialRecord], space: SearchSpace, direction: Direction, window: int) -> Diagnosis:
    search = [t for t in history if t.source != "baseline"]
    recent = search[-window:]
    recent_ids = {id(t) for t in recent}
    repeats = sum(flag for t, flag in zip(history, repeat_flags(history), strict=True) if id(t) in recent_ids)
    stagnation = 0
    for t in reversed(search):
        if t.accepted:
            break
        stagnation += 1
    usage = parameter_usage(history, space)
    params = {}
    for name in space.names:
        bins = {min(COVERAGE_BINS - 1, int(space.to_unit(name, t.params[name]) * COVERAGE_BINS))
                for t in history if t.params}
        params[name] = ParamReport(usage[name].tried, usage[name].kept, len(bins) / COVERAGE_BINS)
    return Diagnosis(
        iteration=len(search), window=window,
        repetition_rate=repeats / len(recent) if recent else 0.0, stagnation=stagnation,
        failure_rate=failure_rate(recent),
        improvement=_improvement(history, direction), recent_gain=_recent_gain(history, direction, window),
        params=params)


def best_value(history: Sequence[TrialRecord], direction: Direction) -> float | None:
    values = [t.value for t in history if t.status == "ok" and t.value is not None]
    if not values:
        return None
    return min(values) if direction == "minimize" else max(values)


def _improvement(history: Sequence[TrialRecord], direction: Direction) -> float | None:
    base, best = baseline_reference(history), best_value(history, direction)
    return None if base is None or best is None else best - base


def _recent_gain(history: Sequence[TrialRecord], direction: Direction, window: int) -> float:
    before = best_value(history[:-window], direction) if len(history) > window else None
    now = best_value(history, direction)
    if before is None or now is None:
        return 0.0
    return gain(now, before, direction)
