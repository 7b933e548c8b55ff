"""Surrogate model: fit the history, then propose where the model predicts the best value.

Bottleneck: no model. The proposer treats every trial as a one-off and never uses what the whole
history says about the shape of the objective.
How: kernel ridge regression with a Gaussian (RBF) kernel, numpy only, on the history in unit space
(choices by option index; a failed trial counts as the worst value seen), length scale by exact
leave-one-out error. The same error picks what it fits: the standardized values, or their ranks as
normal quantiles (a Gaussian copula, as in HEBO), which keep the order a minimizer needs when a few
huge values would flatten a fit of the values near the best. `propose` scores seeded candidates
(ctx.rng) by a lower confidence bound (prediction minus KAPPA posterior standard deviations) and
returns the best that is no near-repeat of a tried point. GLOBAL_SHARE of the candidates lie
anywhere, the rest around the best trial, in a trust region (TuRBO, Eriksson et al. 2019) whose
radius doubles after SUCCESS_STREAK new bests in a row, halves after FAILURE_STREAK trials without
one and starts again at LOCAL_SIGMA under RADIUS_MIN, replayed from the history at each call (a
resumed run draws the same). Below MIN_TRIALS successful trials it returns None.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

MIN_TRIALS = 8
CANDIDATES = 512
LOCAL_SIGMA = 0.1  # the trust region's first radius around the best trial, in unit space
LENGTH_SCALES = (0.1, 0.2, 0.4, 0.8)  # times sqrt(dimensions)
RIDGE = 1e-2
KAPPA = 1.0  # weight of the model's uncertainty in the score (a lower confidence bound)
MIN_DISTANCE = 0.02  # Chebyshev distance below which a candidate counts as a repeat
GLOBAL_SHARE = 0.25  # of the candidates, drawn anywhere in the space
RADIUS_MIN, RADIUS_MAX = 0.01, 0.5
SUCCESS_STREAK, FAILURE_STREAK = 3, 5


def trust_radius(costs: Any) -> float:
    """The trust region's radius after these costs (the rule of the module's docstring)."""
    radius, wins, losses, best = LOCAL_SIGMA, 0, 0, math.inf
    for i, cost in enumerate(costs):
        better, best = cost < best, min(best, cost)
        if i < MIN_TRIALS:
            continue
        wins, losses = (wins + 1, 0) if better else (0, losses + 1)
        if wins >= SUCCESS_STREAK:
            radius, wins = min(RADIUS_MAX, radius * 2.0), 0
        elif losses >= FAILURE_STREAK:
            radius, losses = radius / 2.0, 0
            if radius < RADIUS_MIN:
                radius = LOCAL_SIGMA
    return radius


def on_option(spec: Any, u: float) -> float:
    """A candidate's coordinate moved onto the nearest option of a choice (option i of n sits at
    i / (n - 1) in unit space), so the option decoded is the one nearest the point the model scored;
    numbers pass unchanged."""
    if spec["type"] != "choice" or len(spec["choices"]) < 2:
        return u
    last = len(spec["choices"]) - 1
    return round(min(1.0, max(0.0, float(u))) * last) / last


def copula(costs: Any) -> Any:
    """The costs' ranks (ties share their mean rank) as standard normal quantiles."""
    n = len(costs)
    ranks = np.empty(n, dtype=float)
    ranks[np.argsort(costs, kind="stable")] = np.arange(n, dtype=float)
    for value in np.unique(costs):
        tied = costs == value
        ranks[tied] = ranks[tied].mean()
    normal = statistics.NormalDist()
    return np.array([normal.inv_cdf((r + 0.5) / n) for r in ranks], dtype=float)


def kernel(a: Any, b: Any, length: float) -> Any:
    squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-squared / (2.0 * length * length))


class RidgeSurrogate:
    name = "rbf-ridge-surrogate"

    def __init__(self) -> None:
        self.fits = 0
        self.length = 0.0

    def data(self, ctx: Any) -> tuple[Any, Any]:  # unit-space inputs, costs (lower is better)
        ok = [t for t in ctx.history if t.status == "ok" and t.value is not None]
        sign = 1.0 if ctx.direction == "minimize" else -1.0
        worst = max(sign * t.value for t in ok)
        rows, costs = [], []
        for trial in ctx.history:
            rows.append([ctx.to_unit(name, trial.params[name]) for name in ctx.space])
            good = trial.status == "ok" and trial.value is not None
            costs.append(sign * trial.value if good else worst)
        return np.array(rows, dtype=float), np.array(costs, dtype=float)

    def fit(self, x: Any, y: Any) -> tuple[float, Any, Any, float]:
        """Pick the length scale with the lowest leave-one-out error; return it, the weights, the
        inverse regularized kernel matrix and that error."""
        best = None
        for scale in LENGTH_SCALES:
            length = scale * math.sqrt(x.shape[1])
            inverse = np.linalg.inv(kernel(x, x, length) + RIDGE * np.eye(len(x)))
            weights = inverse @ y
            loo = float(np.mean((weights / np.diag(inverse)) ** 2))
            if best is None or loo < best[0]:
                best = (loo, length, weights, inverse)
        return best[1], best[2], best[3], best[0]

    def propose(self, ctx: Any) -> dict | None:
        if sum(1 for t in ctx.history if t.status == "ok" and t.value is not None) < MIN_TRIALS:
            return None
        x, costs = self.data(ctx)
        fits = [self.fit(x, (y - y.mean()) / (y.std() or 1.0)) for y in (costs, copula(costs))]
        length, weights, inverse = min(fits, key=lambda f: f[3])[:3]
        self.fits += 1
        self.length = length
        generator = np.random.default_rng(ctx.rng.getrandbits(63))
        anchor = x[int(np.argmin(costs))]
        n_global = int(CANDIDATES * GLOBAL_SHARE)
        local = np.clip(anchor + generator.normal(0.0, trust_radius(costs), (CANDIDATES - n_global, x.shape[1])),
                        0.0, 1.0)
        anywhere = generator.random((n_global, x.shape[1]))
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
