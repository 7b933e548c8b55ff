"""Simulated-annealing acceptance: sometimes keep a worse trial, less often as the run cools."""

from __future__ import annotations

import math
import statistics

T0 = 1.0
COOLING = 0.95
MIN_TEMPERATURE = 1e-3


class AnnealingAcceptance:
    name = "annealing-acceptance"

    def __init__(self) -> None:
        self.temperature = T0
        self._deltas: list[float] = []
        self._accepted_worse = 0

    def _scale(self) -> float:
        if len(self._deltas) < 3:
            return 1.0
        return statistics.pstdev(self._deltas) or 1.0

    def observe(self, trial, ctx) -> None:
        if trial.status != "ok" or trial.value is None or ctx.incumbent is None:
            return
        if ctx.incumbent.value is not None:
            self._deltas.append(abs(trial.value - ctx.incumbent.value))
            self._deltas = self._deltas[-50:]
        self.temperature = max(self.temperature * COOLING, MIN_TEMPERATURE)

    def accept(self, trial, incumbent, ctx) -> bool | None:
        if trial.status != "ok" or trial.value is None or incumbent is None or incumbent.value is None:
            return None
        sign = 1.0 if ctx.direction == "minimize" else -1.0
        worse_by = sign * (trial.value - incumbent.value)
        if worse_by <= 0:
            return None
        probability = math.exp(-worse_by / (self._scale() * self.temperature))
        if ctx.rng.random() < probability:
            self._accepted_worse += 1
            return True
        return None

    def state_dict(self) -> dict:
        return {"temperature": self.temperature, "deltas": self._deltas, "accepted_worse": self._accepted_worse}

    def load_state_dict(self, state: dict) -> None:
        self.temperature = float(state["temperature"])
        self._deltas = [float(d) for d in state["deltas"]]
        self._accepted_worse = int(state["accepted_worse"])


MECHANISM = AnnealingAcceptance
