"""Noise guard: re-measure doubtful incumbents and refuse improvements smaller than the noise.

Bottleneck: noise. With a noisy metric the loop keeps lucky trials; the incumbent's value is then an
optimistic outlier that honest proposals cannot beat, and the search stalls against it.
How: `propose` re-runs the incumbent once when its gain over the previous incumbent is small (below
NOISE_MULT noise standard deviations, or a share of the value spread while the noise is unknown).
The noise is the pooled standard deviation of repeated measurements of the same point in the
history. `accept` keeps that re-measurement whatever it says (the incumbent's value becomes an
unbiased sample instead of the maximum of several) and vetoes "improvements" within the noise.
Exact repeats are its tool, so it does not combine well with tabu search.
"""

from __future__ import annotations

import math
from typing import Any

NOISE_MULT = 2.0
CONFIRM_SHARE = 0.1  # while the noise is unknown, gains below this share of the value spread are re-measured



def point_key(params: Any, ctx: Any) -> str:
    return "|".join(f"{ctx.to_unit(name, params[name]):.6f}" for name in ctx.space)


def measurements(ctx: Any) -> dict[str, list[float]]:
    """Successful values grouped by point."""
    groups: dict[str, list[float]] = {}
    for trial in ctx.history:
        if trial.status == "ok" and trial.value is not None:
            groups.setdefault(point_key(trial.params, ctx), []).append(trial.value)
    return groups


def noise_sd(groups: dict[str, list[float]]) -> float | None:
    """Pooled standard deviation of repeated measurements, or None when nothing was repeated."""
    squares, dof = 0.0, 0
    for values in groups.values():
        if len(values) > 1:
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else None


class NoiseGuard:
    name = "noise-guard"

    def __init__(self) -> None:
        self.pending: dict | None = None  # parameters of the re-measurement in flight
        self.remeasured = 0
        self.vetoed = 0

    def propose(self, ctx: Any) -> dict | None:
        incumbent = ctx.incumbent
        if incumbent is None or incumbent.value is None:
            return None
        groups = measurements(ctx)
        if len(groups.get(point_key(incumbent.params, ctx), [])) > 1:
            return None  # already measured more than once
        earlier = [t for t in ctx.history if t.accepted and t.value is not None and t.iteration < incumbent.iteration]
        if not earlier:
            return None  # the baseline has nothing to be lucky against
        gain = abs(incumbent.value - earlier[-1].value)
        noise = noise_sd(groups)
        if noise is None:
            values = [v for group in groups.values() for v in group]
            threshold = CONFIRM_SHARE * (max(values) - min(values))
        else:
            threshold = NOISE_MULT * noise
        if gain >= threshold:
            return None
        self.pending = dict(incumbent.params)
        self.remeasured += 1
        return dict(incumbent.params)

    def accept(self, trial: Any, incumbent: Any, ctx: Any) -> bool | None:
        if self.pending is not None and dict(trial.params) == self.pending:
            self.pending = None
            return True if trial.status == "ok" and trial.value is not None else None
        if trial.status != "ok" or trial.value is None or incumbent is None or incumbent.value is None:
            return None
        noise = noise_sd(measurements(ctx))
        gain = abs(trial.value - incumbent.value)
        if noise and ctx.better(trial.value, incumbent.value) and gain < NOISE_MULT * noise:
            self.vetoed += 1
            return False
        return None

    def state_dict(self) -> dict:
        return {"pending": self.pending, "remeasured": self.remeasured, "vetoed": self.vetoed}

    def load_state_dict(self, state: dict) -> None:
        pending = state.get("pending")
        self.pending = None if pending is None else dict(pending)
        self.remeasured = int(state.get("remeasured", 0))
        self.vetoed = int(state.get("vetoed", 0))


MECHANISM = NoiseGuard
