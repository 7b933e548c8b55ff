"""Restart on stagnation: after K trials without a new best, jump to a random point near the best.

Bottleneck: stagnation. Once the proposer's few obvious moves stop paying, it keeps circling the
incumbent; nothing it proposes is far enough away to find a better basin.
How: `propose` counts the trials since the best value of the history was found. After STALL of them
(and at most once per STALL trials) it proposes a point drawn from ctx.rng around the best trial in
every dimension at once, with a radius far larger than an ordinary step. Each restart that does not
lead to a new best widens the next one, up to the whole space.
"""

from __future__ import annotations

from typing import Any

STALL = 6
RADIUS = 0.3  # unit-space half-width of the first restart
GROWTH = 1.5  # the radius grows by this factor after each fruitless restart
CHOICE_RESAMPLE = 0.5  # chance that a choice parameter is redrawn during a restart


class StagnationRestart:
    name = "stagnation-restart"

    def __init__(self) -> None:
        self.last_restart = -1  # iteration of the last restart
        self.best_at_restart: int = -1  # iteration of the best trial when we last restarted
        self.fruitless = 0  # consecutive restarts that found no new best

    def best(self, ctx: Any) -> Any:
        best = None
        for trial in ctx.history:
            if trial.status != "ok" or trial.value is None:
                continue
            if best is None or ctx.better(trial.value, best.value):
                best = trial
        return best

    def propose(self, ctx: Any) -> dict | None:
        best = self.best(ctx)
        if best is None:
            return None
        stale = sum(1 for t in ctx.history if t.iteration > best.iteration)
        if stale < STALL or (self.last_restart >= 0 and ctx.iteration - self.last_restart < STALL):
            return None
        if self.last_restart >= 0:
            self.fruitless = self.fruitless + 1 if best.iteration == self.best_at_restart else 0
        self.last_restart = ctx.iteration
        self.best_at_restart = best.iteration
        radius = min(1.0, RADIUS * GROWTH**self.fruitless)
        params = {}
        for name, spec in ctx.space.items():
            value = best.params[name]
            if name in ctx.config.frozen:
                params[name] = value
            elif spec["type"] == "choice":
                resample = ctx.rng.random() < CHOICE_RESAMPLE
                params[name] = ctx.rng.choice(list(spec["choices"])) if resample else value
            else:
                params[name] = ctx.from_unit(name, ctx.to_unit(name, value) + ctx.rng.uniform(-radius, radius))
        return params

    def state_dict(self) -> dict:
        return {"last_restart": self.last_restart, "best_at_restart": self.best_at_restart, "fruitless": self.fruitless}

    def load_state_dict(self, state: dict) -> None:
        self.last_restart = int(state.get("last_restart", -1))
        self.best_at_restart = int(state.get("best_at_restart", -1))
        self.fruitless = int(state.get("fruitless", 0))


MECHANISM = StagnationRestart
