"""Tabu search: stop the proposer from re-running points it has already tried.

Bottleneck: repetition. An LLM-like proposer that runs out of ideas cycles the same few proposals.
How: every evaluated point enters a tabu list (recent points, in normalized unit space). `review`
replaces a proposal that lands within a small radius of a tabu point (an exact repeat included) by
a perturbed incumbent that leaves the tabu region: it moves a parameter the history has varied
least, with a step drawn from ctx.rng.
"""

from __future__ import annotations

from typing import Any

TABU_SIZE = 32
RADIUS = 0.03  # Chebyshev distance in unit space; one ordinary proposer step (0.12) is well outside
ATTEMPTS = 24


class TabuSearch:
    name = "tabu-search"

    def __init__(self) -> None:
        self.tabu: list[list[float]] = []  # recent points as lists of unit coordinates, in space order
        self.replaced = 0

    def point(self, params: Any, ctx: Any) -> list[float]:
        return [ctx.to_unit(name, params[name]) for name in ctx.space]

    def is_tabu(self, point: list[float], running: list = ()) -> bool:
        """Within RADIUS of a tried point, or of one whose trial runs now (ctx.pending, several workers)."""
        return any(max(abs(a - b) for a, b in zip(point, other, strict=True)) <= RADIUS
                   for other in [*self.tabu, *running])

    def remember(self, point: list[float]) -> None:
        self.tabu.append(point)
        if len(self.tabu) > TABU_SIZE:
            self.tabu = self.tabu[-TABU_SIZE:]

    def observe(self, trial: Any, ctx: Any) -> None:
        self.remember(self.point(trial.params, ctx))

    def review(self, proposal: dict, ctx: Any) -> dict | None:
        if not self.tabu:  # injected mid-run: seed the list from the recent history
            for trial in ctx.history[-TABU_SIZE:]:
                self.remember(self.point(trial.params, ctx))
        running = [self.point(p.params, ctx) for p in ctx.pending]
        if not self.is_tabu(self.point(proposal, ctx), running):
            return None
        escape = self.escape(ctx, running)
        if escape is None:
            return None
        self.replaced += 1
        return {"replace": escape}

    def escape(self, ctx: Any, running: list = ()) -> dict | None:
        """A perturbed incumbent outside every tabu region, moving the least-varied parameters first."""
        base = dict(ctx.incumbent.params) if ctx.incumbent else {n: s["default"] for n, s in ctx.space.items()}
        movable = [n for n in ctx.space if n not in ctx.config.frozen] or list(ctx.space)
        spread = {n: len({round(ctx.to_unit(n, t.params[n]), 6) for t in ctx.history}) for n in movable}
        ranked = sorted(movable, key=lambda n: spread[n])
        for attempt in range(ATTEMPTS):
            # widen the pool of candidate parameters and the step as attempts fail
            pool = ranked[: 1 + attempt // 4]
            candidate = dict(base)
            for name in ctx.rng.sample(pool, min(len(pool), 1 + attempt // 8)):
                spec = ctx.space[name]
                if spec["type"] == "choice":
                    others = [c for c in spec["choices"] if c != base[name]]
                    candidate[name] = ctx.rng.choice(others) if others else base[name]
                    continue
                u = ctx.to_unit(name, base[name])
                step = ctx.rng.uniform(0.08, 0.2 + 0.02 * attempt)
                sign = ctx.rng.choice((-1.0, 1.0))
                if not 0.0 <= u + sign * step <= 1.0:
                    sign = -sign
                candidate[name] = ctx.from_unit(name, u + sign * step)
            if not self.is_tabu(self.point(candidate, ctx), running):
                return candidate
        return None

    def state_dict(self) -> dict:
        return {"tabu": [list(p) for p in self.tabu], "replaced": self.replaced}

    def load_state_dict(self, state: dict) -> None:
        self.tabu = [[float(x) for x in p] for p in state.get("tabu", [])]
        self.replaced = int(state.get("replaced", 0))


MECHANISM = TabuSearch
