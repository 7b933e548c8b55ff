"""Surrogate model: fit the history, then propose where the model predicts the best value.

Bottleneck: no model. The proposer treats every trial as a one-off and never uses what the whole
history says about the shape of the objective.
How: kernel ridge regression with a Gaussian (RBF) kernel, numpy only, on the history in unit space
(choices by option index). The length scale is picked among a few by exact leave-one-out error.
Failed trials count as the worst value seen, so the model steers away from them. `propose` draws
candidates with a numpy Generator seeded from ctx.rng (half around the best trial, half anywhere),
scores them by a lower confidence bound (prediction minus KAPPA times the kernel posterior's standard
deviation, so unexplored regions get their chance), and returns the best one that is not a
near-repeat of a tried point. With fewer than
MIN_TRIALS successful trials it returns None and leaves the proposer alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MIN_TRIALS = 8
CANDIDATES = 512
LOCAL_SIGMA = 0.1  # spread of the local candidates around the best trial, in unit space
LENGTH_SCALES = (0.1, 0.2, 0.4, 0.8)  # times sqrt(dimensions)
RIDGE = 1e-2
KAPPA = 1.0  # weight of the model's uncertainty in the score (a lower confidence bound)
MIN_DISTANCE = 0.02  # Chebyshev distance below which a candidate counts as a repeat


def on_option(spec: Any, u: float) -> float:
    """A candidate's coordinate moved onto the nearest option of a choice (option i of n sits at
    i / (n - 1) in unit space), so the option decoded is the one nearest the point the model scored;
    numbers pass unchanged."""
    if spec["type"] != "choice" or len(spec["choices"]) < 2:
        return u
    last = len(spec["choices"]) - 1
    return round(min(1.0, max(0.0, float(u))) * last) / last


def kernel(a: Any, b: Any, length: float) -> Any:
    squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-squared / (2.0 * length * length))


class RidgeSurrogate:
    name = "rbf-ridge-surrogate"

    def __init__(self) -> None:
        self.fits = 0
        self.length = 0.0

    def data(self, ctx: Any) -> tuple[Any, Any]:
        """Unit-space inputs and costs (lower is better); failed trials get the worst cost seen."""
        ok = [t for t in ctx.history if t.status == "ok" and t.value is not None]
        sign = 1.0 if ctx.direction == "minimize" else -1.0
        worst = max(sign * t.value for t in ok)
        rows, costs = [], []
        for trial in ctx.history:
            rows.append([ctx.to_unit(name, trial.params[name]) for name in ctx.space])
            good = trial.status == "ok" and trial.value is not None
            costs.append(sign * trial.value if good else worst)
        return np.array(rows, dtype=float), np.array(costs, dtype=float)

    def fit(self, x: Any, y: Any) -> tuple[float, Any, Any]:
        """Pick the length scale with the lowest leave-one-out error; return it, the weights and the
        inverse regularized kernel matrix."""
        best = None
        for scale in LENGTH_SCALES:
            length = scale * math.sqrt(x.shape[1])
            inverse = np.linalg.inv(kernel(x, x, length) + RIDGE * np.eye(len(x)))
            weights = inverse @ y
            loo = float(np.mean((weights / np.diag(inverse)) ** 2))
            if best is None or loo < best[0]:
                best = (loo, length, weights, inverse)
        return best[1], best[2], best[3]

    def propose(self, ctx: Any) -> dict | None:
        if sum(1 for t in ctx.history if t.status == "ok" and t.value is not None) < MIN_TRIALS:
            return None
        x, costs = self.data(ctx)
        mean, scale = costs.mean(), costs.std() or 1.0
        length, weights, inverse = self.fit(x, (costs - mean) / scale)
        self.fits += 1
        self.length = length
        generator = np.random.default_rng(ctx.rng.getrandbits(63))
        anchor = x[int(np.argmin(costs))]
        local = np.clip(anchor + generator.normal(0.0, LOCAL_SIGMA, (CANDIDATES // 2, x.shape[1])), 0.0, 1.0)
        anywhere = generator.random((CANDIDATES - CANDIDATES // 2, x.shape[1]))
        candidates = np.vstack([local, anywhere])
        for i, name in enumerate(ctx.space):
            if name in ctx.config.frozen and ctx.incumbent is not None:
                candidates[:, i] = ctx.to_unit(name, ctx.incumbent.params[name])
        similarity = kernel(candidates, x, length)
        variance = np.clip(1.0 - ((similarity @ inverse) * similarity).sum(axis=1), 0.0, None)
        score = similarity @ weights - KAPPA * np.sqrt(variance)
        for index in np.argsort(score)[:32]:
            params = {n: ctx.from_unit(n, on_option(spec, candidates[index, i]))
                      for i, (n, spec) in enumerate(ctx.space.items())}
            point = np.array([ctx.to_unit(n, params[n]) for n in ctx.space])
            if float(np.abs(x - point).max(axis=1).min()) > MIN_DISTANCE:
                return params
        return None

    def state_dict(self) -> dict:
        return {"fits": self.fits, "length": self.length}

    def load_state_dict(self, state: dict) -> None:
        self.fits = int(state.get("fits", 0))
        self.length = float(state.get("length", 0.0))


MECHANISM = RidgeSurrogate
