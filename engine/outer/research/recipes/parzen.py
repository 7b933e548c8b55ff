"""Parzen estimator (TPE): model where good trials lie against where the others lie, one parameter at a time.

Bottleneck: no model, on a space a regression fits badly: choices among the parameters, or noisy values.
How: the tree-structured Parzen estimator (Bergstra et al. 2011). The best GAMMA share of the trials is
"good", the rest (failed trials too) "other". Per parameter, one density is fitted to each group: numbers
in unit space as truncated Gaussians, one per trial as wide as its gaps to its neighbours (at least
MIN_BANDWIDTH), plus a wide prior of weight PRIOR_WEIGHT; choices as option counts with PRIOR_WEIGHT
spread over the options. `propose` draws CANDIDATES values per parameter from the good density (ctx.rng)
and keeps the one with the highest ratio good / other; ranks decide who is good, so a few huge or noisy
values move nothing. A density needs trials spread over the space, and a history of local moves has
none: until SPREAD trials differ from the first one in more than half of the free parameters, it
proposes points anywhere (TPE's random start, counted from what the history holds), from its first call
on. After that, below MIN_TRIALS measured trials it returns None; a repeat of a tried or pending point is
redrawn, RETRIES times at most.
"""

from __future__ import annotations

import math
from typing import Any

MIN_TRIALS = 6
SPREAD = 4  # trials far from the first one (in most parameters) before the densities are trusted
GAMMA = 0.25  # share of the trials that count as good (at least one)
CANDIDATES = 24  # values drawn per parameter from the good density
PRIOR_WEIGHT = 1.0  # of the prior component (numbers: N(0.5, PRIOR_WIDTH) truncated; choices: uniform)
PRIOR_WIDTH = 1.0
MIN_BANDWIDTH = 0.03  # in unit space
RETRIES = 8
MOVED = 0.05  # unit-space distance past which a parameter counts as moved (for SPREAD)
MIN_DISTANCE = 1e-3  # Chebyshev distance (unit space) below which a point counts as a repeat


class NumberDensity:
    """A mixture of Gaussians truncated to [0, 1]: the prior, and one per observation, as wide as the
    larger gap to its neighbours."""

    def __init__(self, points: list, prior_weight: float) -> None:
        edges = [0.0, *sorted(points), 1.0]
        self.means = [0.5, *edges[1:-1]]
        self.widths = [PRIOR_WIDTH] + [min(1.0, max(MIN_BANDWIDTH, edges[i] - edges[i - 1], edges[i + 1] - edges[i]))
                                       for i in range(1, len(edges) - 1)]
        total = prior_weight + len(points)
        self.weights = [prior_weight / total] + [1.0 / total] * len(points)
        root2 = math.sqrt(2.0)  # the mass of each Gaussian inside [0, 1]: its truncation's normalizer
        self.mass = [0.5 * (math.erf((1.0 - m) / (s * root2)) + math.erf(m / (s * root2)))
                     for m, s in zip(self.means, self.widths, strict=True)]

    def sample(self, rng: Any) -> float:
        index = rng.choices(range(len(self.means)), weights=self.weights)[0]
        for _ in range(32):
            u = rng.gauss(self.means[index], self.widths[index])
            if 0.0 <= u <= 1.0:
                return u
        return self.means[index]

    def log_density(self, u: float) -> float:
        total = sum(w * math.exp(-0.5 * ((u - m) / s) ** 2) / (s * math.sqrt(2.0 * math.pi) * max(z, 1e-12))
                    for w, m, s, z in zip(self.weights, self.means, self.widths, self.mass, strict=True))
        return math.log(max(total, 1e-300))


class ChoiceDensity:
    """Option counts, with the prior's weight spread over the options."""

    def __init__(self, indices: list, options: int, prior_weight: float) -> None:
        counts = [prior_weight / options + indices.count(i) for i in range(options)]
        self.probabilities = [c / sum(counts) for c in counts]

    def sample(self, rng: Any) -> int:
        return rng.choices(range(len(self.probabilities)), weights=self.probabilities)[0]

    def log_density(self, index: int) -> float:
        return math.log(self.probabilities[index])


class ParzenEstimator:
    name = "parzen-estimator"

    def __init__(self) -> None:
        self.proposals = 0

    def split(self, ctx: Any) -> tuple[list, list]:
        """The good trials and the others (a failed trial is among the others)."""
        sign = 1.0 if ctx.direction == "minimize" else -1.0
        measured = sorted((t for t in ctx.history if t.status == "ok" and t.value is not None),
                          key=lambda t: sign * t.value)
        n_good = max(1, math.ceil(GAMMA * len(measured)))
        failed = [t for t in ctx.history if not (t.status == "ok" and t.value is not None)]
        return measured[:n_good], measured[n_good:] + failed

    def density(self, ctx: Any, name: str, trials: list) -> Any:
        spec = ctx.space[name]
        if spec["type"] == "choice":
            options = list(spec["choices"])
            return ChoiceDensity([options.index(t.params[name]) for t in trials if t.params.get(name) in options],
                                 len(options), PRIOR_WEIGHT)
        return NumberDensity([ctx.to_unit(name, t.params[name]) for t in trials], PRIOR_WEIGHT)

    def draw(self, ctx: Any, good: list, other: list) -> dict:
        params = {}
        for name, spec in ctx.space.items():
            l_density, g_density = self.density(ctx, name, good), self.density(ctx, name, other)
            drawn = [l_density.sample(ctx.rng) for _ in range(CANDIDATES)]
            best = max(drawn, key=lambda v: l_density.log_density(v) - g_density.log_density(v))
            params[name] = spec["choices"][best] if spec["type"] == "choice" else ctx.from_unit(name, best)
        return params

    def spread(self, ctx: Any) -> int:
        """How many trials (pending ones too) differ from the first trial in most free parameters."""
        free = [name for name in ctx.space if name not in ctx.config.frozen]
        if not ctx.history or not free:
            return 0
        first = {name: ctx.to_unit(name, ctx.history[0].params[name]) for name in free}
        count = 0
        for params in [t.params for t in ctx.history[1:]] + [p.params for p in ctx.pending]:
            moved = sum(1 for name in free if abs(ctx.to_unit(name, params[name]) - first[name]) > MOVED)
            count += 1 if 2 * moved > len(free) else 0
        return count

    def propose(self, ctx: Any) -> dict | None:
        good, other = self.split(ctx)
        starting = self.spread(ctx) < SPREAD
        if not starting and len(good) + len([t for t in other if t.status == "ok"]) < MIN_TRIALS:
            return None
        seen = [self.unit(ctx, t.params) for t in ctx.history] + [self.unit(ctx, p.params) for p in ctx.pending]
        for _ in range(RETRIES):
            params = ctx.sample() if starting else self.draw(ctx, good, other)
            if ctx.incumbent is not None:  # frozen parameters keep the incumbent's values
                params.update({n: ctx.incumbent.params[n] for n in ctx.config.frozen if n in params})
            point = self.unit(ctx, params)
            if not any(max(abs(a - b) for a, b in zip(point, old, strict=True)) <= MIN_DISTANCE for old in seen):
                self.proposals += 1
                return params
        return None

    def unit(self, ctx: Any, params: Any) -> list:
        return [ctx.to_unit(name, params[name]) for name in ctx.space]

    def state_dict(self) -> dict:
        return {"proposals": self.proposals}

    def load_state_dict(self, state: dict) -> None:
        self.proposals = int(state.get("proposals", 0))


MECHANISM = ParzenEstimator
