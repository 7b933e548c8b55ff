"""Diagonal evolution strategy: keep a mean and a per-parameter step size in the unit cube,
sample around the mean, and adapt both from the trials that improved on the incumbent."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

POPULATION = 6
ELITE = 3
MIN_SIGMA = 1e-3
MAX_SIGMA = 0.5
LEARNING_RATE = 0.3


def _to_unit(value: Any, spec: dict) -> float:
    if spec["type"] == "choice":
        choices = list(spec["choices"])
        index = choices.index(value) if value in choices else 0
        return (index + 0.5) / len(choices)
    low, high = float(spec["low"]), float(spec["high"])
    if spec.get("log"):
        low, high, value = math.log(low), math.log(high), math.log(float(value))
    return (float(value) - low) / ((high - low) or 1.0)


def _from_unit(u: float, spec: dict) -> Any:
    u = min(max(u, 0.0), 1.0)
    if spec["type"] == "choice":
        choices = list(spec["choices"])
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    low, high = float(spec["low"]), float(spec["high"])
    if spec.get("log"):
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    return round(value) if spec["type"] == "int" else value


class DiagonalES:
    name = "diagonal-es"

    def __init__(self) -> None:
        super().__init__()
        self._names: list[str] = []
        self._mean: np.ndarray | None = None
        self._sigma: np.ndarray | None = None
        self._pending: list[list[float]] = []
        self._scored: list[tuple[float, list[float]]] = []
        self._generation = 0
        self._last: list[float] | None = None

    # -- helpers --------------------------------------------------------------------------

    def _ensure(self, ctx) -> None:
        if self._mean is not None:
            return
        self._names = sorted(n for n in ctx.space if n not in ctx.config.frozen)
        start = ctx.incumbent.params if ctx.incumbent is not None else {}
        self._mean = np.array(
            [_to_unit(start.get(n, ctx.space[n]["default"]), ctx.space[n]) for n in self._names], dtype=float
        )
        self._sigma = np.full(len(self._names), 0.2 * ctx.config.step_scale)

    def _sample(self, ctx) -> list[float]:
        assert self._mean is not None and self._sigma is not None
        noise = [ctx.rng.gauss(0.0, 1.0) for _ in self._names]
        point = self._mean + self._sigma * np.asarray(noise)
        return np.clip(point, 0.0, 1.0).tolist()

    def _score(self, trial, ctx) -> float | None:
        if trial.status != "ok" or trial.value is None:
            return None
        return float(trial.value) if ctx.direction == "minimize" else -float(trial.value)

    def _update(self) -> None:
        assert self._mean is not None and self._sigma is not None
        ranked = sorted(self._scored, key=lambda pair: pair[0])[:ELITE]
        if not ranked:
            return
        elite = np.asarray([point for _score, point in ranked])
        weights = np.array([math.log(ELITE + 0.5) - math.log(i + 1) for i in range(len(ranked))])
        weights /= weights.sum()
        new_mean = weights @ elite
        spread = np.sqrt(weights @ (elite - self._mean) ** 2)
        self._mean = (1 - LEARNING_RATE) * self._mean + LEARNING_RATE * new_mean
        self._sigma = np.clip((1 - LEARNING_RATE) * self._sigma + LEARNING_RATE * spread, MIN_SIGMA, MAX_SIGMA)
        self._scored = []
        self._generation += 1

    # -- hooks ----------------------------------------------------------------------------

    def guide(self, ctx) -> dict | None:
        if self._sigma is None or self._generation == 0:
            return None
        order = np.argsort(self._sigma)
        settled = [self._names[i] for i in order[:2] if self._sigma[i] < 0.05]
        open_ = [self._names[i] for i in order[::-1][:2]]
        return {"focus": open_, "avoid": settled, "note": f"generation {self._generation}"}

    def propose(self, ctx) -> dict | None:
        self._ensure(ctx)
        if not self._names:
            return None
        if not self._pending:
            self._pending = [self._sample(ctx) for _ in range(POPULATION)]
        point = self._pending.pop(0)
        self._last = point
        params = dict(ctx.incumbent.params) if ctx.incumbent is not None else {}
        params.update({n: _from_unit(u, ctx.space[n]) for n, u in zip(self._names, point, strict=True)})
        return params

    def review(self, proposal: dict, ctx) -> dict | None:
        if self._mean is None or not self._names:
            return None
        distance = max(
            abs(_to_unit(proposal.get(n, ctx.space[n]["default"]), ctx.space[n]) - m)
            for n, m in zip(self._names, self._mean.tolist(), strict=True)
        )
        if distance > 0.9 and ctx.iteration > 3 * POPULATION:
            return {"reject": f"proposal is {distance:.2f} away from the search mean in unit space"}
        return None

    def observe(self, trial, ctx) -> None:
        if self._last is None or trial.source != "mechanism":
            return
        score = self._score(trial, ctx)
        if score is not None:
            self._scored.append((score, self._last))
        self._last = None
        if len(self._scored) >= POPULATION:
            self._update()

    def state_dict(self) -> dict:
        return {
            "names": self._names,
            "mean": None if self._mean is None else self._mean.tolist(),
            "sigma": None if self._sigma is None else self._sigma.tolist(),
            "pending": self._pending,
            "scored": [[s, p] for s, p in self._scored],
            "generation": self._generation,
        }

    def load_state_dict(self, state: dict) -> None:
        self._names = list(state["names"])
        self._mean = None if state["mean"] is None else np.asarray(state["mean"], dtype=float)
        self._sigma = None if state["sigma"] is None else np.asarray(state["sigma"], dtype=float)
        self._pending = [list(p) for p in state["pending"]]
        self._scored = [(float(s), list(p)) for s, p in state["scored"]]
        self._generation = int(state["generation"])
        self._last = None


MECHANISM = DiagonalES
