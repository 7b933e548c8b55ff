"""Annealing acceptance: sometimes keep a slightly worse trial, to walk off a plateau.

Bottleneck: plateau. Strict keep/discard never leaves a flat or locally optimal region: every step
off it looks worse, so the incumbent never moves and the proposer repeats itself around it.
How: `accept` applies the Metropolis rule to worse trials. The loss is measured relative to the
spread of the values seen so far, the temperature decays geometrically with the iterations since
this mechanism joined the run, and the draw comes from ctx.rng. Better trials, failed trials and
losses larger than the whole observed spread are left to the engine (None).
"""

from __future__ import annotations

import math
from typing import Any

START_TEMPERATURE = 0.25  # a loss of 25% of the observed spread is kept with probability 1/e at first
COOLING = 0.92  # per iteration
MIN_TEMPERATURE = 1e-3
MAX_LOSS = 1.0  # in units of the observed spread: larger losses are never kept


class AnnealingAcceptance:
    name = "annealing-acceptance"

    def __init__(self) -> None:
        self.start = -1  # first iteration this mechanism saw
        self.kept_worse = 0

    def temperature(self, iteration: int) -> float:
        return max(MIN_TEMPERATURE, START_TEMPERATURE * COOLING ** max(0, iteration - self.start))

    def accept(self, trial: Any, incumbent: Any, ctx: Any) -> bool | None:
        if self.start < 0:
            self.start = ctx.iteration
        if trial.status != "ok" or trial.value is None or incumbent is None or incumbent.value is None:
            return None
        if not ctx.better(incumbent.value, trial.value):
            return None  # as good or better: the engine's own rule decides
        values = [t.value for t in ctx.history if t.status == "ok" and t.value is not None]
        spread = (max(values) - min(values)) if len(values) > 1 else 0.0
        spread = spread or abs(incumbent.value) or 1.0
        loss = abs(trial.value - incumbent.value) / spread
        if loss > MAX_LOSS:
            return None
        temperature = self.temperature(ctx.iteration)
        if ctx.rng.random() < math.exp(-loss / temperature):
            self.kept_worse += 1
            return True
        return None

    def state_dict(self) -> dict:
        return {"start": self.start, "kept_worse": self.kept_worse}

    def load_state_dict(self, state: dict) -> None:
        self.start = int(state.get("start", -1))
        self.kept_worse = int(state.get("kept_worse", 0))


MECHANISM = AnnealingAcceptance
