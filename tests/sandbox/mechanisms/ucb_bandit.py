"""UCB1 bandit over step sizes: learn how far from the incumbent to jump."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCALES = (0.02, 0.08, 0.25, 0.6)


class StepSizeBandit:
    name = "ucb-step-bandit"

    def __init__(self) -> None:
        self._pulls = np.zeros(len(SCALES))
        self._rewards = np.zeros(len(SCALES))
        self._arm: int | None = None
        self._total = 0

    def _choose(self) -> int:
        untried = np.flatnonzero(self._pulls == 0)
        if untried.size:
            return int(untried[0])
        means = self._rewards / self._pulls
        bonus = np.sqrt(2.0 * math.log(self._total) / self._pulls)
        return int(np.argmax(means + bonus))

    def propose(self, ctx) -> dict | None:
        if ctx.incumbent is None or ctx.iteration < 2:
            return None
        self._arm = self._choose()
        scale = SCALES[self._arm] * ctx.config.step_scale
        params: dict[str, Any] = dict(ctx.incumbent.params)
        for name, spec in ctx.space.items():
            if name in ctx.config.frozen:
                continue
            if spec["type"] == "choice":
                if ctx.rng.random() < scale:
                    params[name] = ctx.rng.choice(list(spec["choices"]))
                continue
            low, high = float(spec["low"]), float(spec["high"])
            if spec.get("log"):
                lo, hi = math.log(low), math.log(high)
                value = math.log(float(params[name])) + ctx.rng.gauss(0.0, scale * (hi - lo))
                value = math.exp(min(max(value, lo), hi))
            else:
                value = float(params[name]) + ctx.rng.gauss(0.0, scale * (high - low))
                value = min(max(value, low), high)
            params[name] = round(value) if spec["type"] == "int" else value
        return params

    def observe(self, trial, ctx) -> None:
        if self._arm is None or trial.source != "mechanism":
            return
        reward = 1.0 if trial.accepted else 0.0
        self._pulls[self._arm] += 1
        self._rewards[self._arm] += reward
        self._total += 1
        self._arm = None

    def guide(self, ctx) -> dict | None:
        if self._total < len(SCALES):
            return None
        best = int(np.argmax(self._rewards / np.maximum(self._pulls, 1)))
        return {"note": f"steps of about {SCALES[best]:.0%} of each range work best so far"}

    def state_dict(self) -> dict:
        return {"pulls": self._pulls.tolist(), "rewards": self._rewards.tolist(), "total": self._total}

    def load_state_dict(self, state: dict) -> None:
        self._pulls = np.asarray(state["pulls"], dtype=float)
        self._rewards = np.asarray(state["rewards"], dtype=float)
        self._total = int(state["total"])
        self._arm = None


MECHANISM = StepSizeBandit
