"""Orthogonal exploration: a design of experiments over the dimensions the search has neglected.

Bottleneck: unexplored dimensions. The proposer only ever moves its first few parameters, one at a
time, so most of the space is never measured and interactions are never seen.
How: `guide` measures per-parameter coverage of the history (occupied bins of the unit range, or
options tried) and focuses the proposer on the least covered parameters. `propose`, every other
iteration, takes the next point of a Latin-hypercube design centred on the incumbent: each
parameter's neighbourhood is cut into as many strata as the design has points and every stratum is
used exactly once, so a handful of trials varies all dimensions at once and orthogonally.
"""

from __future__ import annotations

from typing import Any

BINS = 5
FOCUS = 3
RADIUS = 0.25  # half-width of the design's neighbourhood in unit space
MIN_POINTS = 4
MAX_POINTS = 8


def reflect(u: float) -> float:
    """Fold a coordinate that left [0, 1] back inside, keeping the design's spread."""
    if u < 0.0:
        u = -u
    if u > 1.0:
        u = 2.0 - u
    return min(1.0, max(0.0, u))


def coverage(ctx: Any, name: str, values: list) -> float:
    """Fraction of the parameter's range the history has touched: bins for numbers, options for choices."""
    spec = ctx.space[name]
    if spec["type"] == "choice":
        return len({str(v) for v in values}) / len(spec["choices"])
    bins = {min(BINS - 1, int(ctx.to_unit(name, v) * BINS)) for v in values}
    return len(bins) / BINS


class OrthogonalExploration:
    name = "orthogonal-exploration"

    def __init__(self) -> None:
        self.design: list[list[float]] = []  # pending design points, unit coordinates in space order
        self.centre = -1  # iteration of the incumbent the design is centred on
        self.designs = 0

    def movable(self, ctx: Any) -> list[str]:
        return [n for n in ctx.space if n not in ctx.config.frozen] or list(ctx.space)

    def guide(self, ctx: Any) -> dict | None:
        names = list(ctx.space)
        # what the trials running now (several workers) will measure counts as covered already
        seen = [t.params for t in ctx.history] + [p.params for p in ctx.pending]
        cover = {n: coverage(ctx, n, [params[n] for params in seen]) for n in self.movable(ctx)}
        # ties go to parameters later in the space order: the ones a prior-driven proposer never reaches
        ranked = sorted(cover, key=lambda n: (cover[n], -names.index(n)))
        focus = ranked[:FOCUS]
        avoid = [n for n in ranked if n not in focus and cover[n] >= 1.0]
        note = "least explored: " + ", ".join(f"{n} ({cover[n]:.0%} covered)" for n in focus)
        return {"focus": focus, "avoid": avoid, "note": note}

    def propose(self, ctx: Any) -> dict | None:
        if ctx.iteration % 2 == 0:
            return None  # every other iteration: the proposer (now focused by guide) gets its turn
        base = dict(ctx.incumbent.params) if ctx.incumbent else {n: s["default"] for n, s in ctx.space.items()}
        centre = ctx.incumbent.iteration if ctx.incumbent else -1
        if not self.design or centre != self.centre:
            self.design = self.latin_hypercube(base, ctx)
            self.centre = centre
            self.designs += 1
        point = self.design.pop(0)
        return {name: ctx.from_unit(name, u) for name, u in zip(ctx.space, point, strict=True)}

    def latin_hypercube(self, base: dict, ctx: Any) -> list[list[float]]:
        movable = self.movable(ctx)
        size = max(MIN_POINTS, min(MAX_POINTS, len(movable)))
        columns = []
        for name, spec in ctx.space.items():
            u0 = ctx.to_unit(name, base[name])
            if name not in movable:
                columns.append([u0] * size)
                continue
            strata = list(range(size))
            ctx.rng.shuffle(strata)
            if spec["type"] == "choice":
                n = len(spec["choices"])
                start = spec["choices"].index(base[name]) if base[name] in spec["choices"] else 0
                # the design's rows walk every option, starting next to the incumbent's
                columns.append([((start + 1 + s) % n) / max(n - 1, 1) for s in strata])
                continue
            offsets = [(s + ctx.rng.random()) / size for s in strata]
            columns.append([reflect(u0 + RADIUS * (2.0 * o - 1.0)) for o in offsets])
        return [[column[row] for column in columns] for row in range(size)]

    def state_dict(self) -> dict:
        return {"design": [list(p) for p in self.design], "centre": self.centre, "designs": self.designs}

    def load_state_dict(self, state: dict) -> None:
        self.design = [[float(x) for x in p] for p in state.get("design", [])]
        self.centre = int(state.get("centre", -1))
        self.designs = int(state.get("designs", 0))


MECHANISM = OrthogonalExploration
