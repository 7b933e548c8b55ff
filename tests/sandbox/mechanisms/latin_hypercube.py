"""Latin hypercube warm-up: the first proposals cover every parameter's range evenly."""

from __future__ import annotations

import math

import torch

DESIGN_SIZE = 8


class LatinHypercubeWarmup:
    name = "latin-hypercube-warmup"

    def __init__(self) -> None:
        self._design: list[dict] = []
        self._used = 0

    def _build(self, ctx) -> None:
        gen = torch.Generator().manual_seed(ctx.rng.randrange(2**31))
        names = [n for n in sorted(ctx.space) if n not in ctx.config.frozen]
        columns = {}
        for name in names:
            perm = torch.randperm(DESIGN_SIZE, generator=gen).to(torch.float64)
            jitter = torch.rand(DESIGN_SIZE, generator=gen, dtype=torch.float64)
            columns[name] = ((perm + jitter) / DESIGN_SIZE).tolist()
        self._design = []
        for row in range(DESIGN_SIZE):
            params = {}
            for name in names:
                spec = ctx.space[name]
                u = columns[name][row]
                if spec["type"] == "choice":
                    choices = list(spec["choices"])
                    params[name] = choices[min(int(u * len(choices)), len(choices) - 1)]
                elif spec.get("log"):
                    lo, hi = math.log(spec["low"]), math.log(spec["high"])
                    params[name] = math.exp(lo + u * (hi - lo))
                else:
                    params[name] = spec["low"] + u * (spec["high"] - spec["low"])
                if spec["type"] == "int":
                    params[name] = round(params[name])
            self._design.append(params)

    def propose(self, ctx) -> dict | None:
        if self._used >= DESIGN_SIZE:
            return None
        if not self._design:
            self._build(ctx)
        params = self._design[self._used]
        self._used += 1
        base = dict(ctx.incumbent.params) if ctx.incumbent is not None else {}
        base.update(params)
        return base

    def state_dict(self) -> dict:
        return {"design": self._design, "used": self._used}

    def load_state_dict(self, state: dict) -> None:
        self._design = [dict(p) for p in state["design"]]
        self._used = int(state["used"])


MECHANISM = LatinHypercubeWarmup
