"""Tabu search: step from the incumbent, refuse recently visited regions, remember what failed."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

TABU_SIZE = 25
GRID = 20


@dataclass
class Move:
    name: str
    delta: float
    tries: int = 0
    wins: int = 0
    history: list[float] = field(default_factory=list)


def _cell(params: dict, space: dict) -> tuple:
    """Coarse grid cell of a parameter dict, used as the tabu key."""
    key = []
    for name in sorted(space):
        spec = space[name]
        value = params.get(name, spec.get("default"))
        if spec["type"] == "choice":
            key.append(str(value))
            continue
        low, high = float(spec["low"]), float(spec["high"])
        if spec.get("log"):
            low, high, value = math.log(low), math.log(high), math.log(max(float(value), 1e-300))
        span = (high - low) or 1.0
        key.append(int(np.clip((float(value) - low) / span * GRID, 0, GRID - 1)))
    return tuple(key)


class TabuSearch:
    name = "tabu-search"

    def __init__(self, tabu_size: int = TABU_SIZE) -> None:
        super().__init__()
        self._tabu: deque = deque(maxlen=tabu_size)
        self._moves: dict[str, Move] = {}
        self._rejections = 0
        self._last_move: str | None = None

    def _neighbour(self, base: dict, ctx) -> dict:
        params = dict(base)
        names = [n for n in ctx.space if n not in ctx.config.frozen]
        if not names:
            return params
        name = ctx.rng.choice(names)
        spec = ctx.space[name]
        if spec["type"] == "choice":
            params[name] = ctx.rng.choice(list(spec["choices"]))
            self._last_move = f"{name}:switch"
            return params
        low, high = float(spec["low"]), float(spec["high"])
        step = 0.1 * ctx.config.step_scale
        if spec.get("log"):
            value = math.log(float(params[name])) + ctx.rng.gauss(0.0, step) * (math.log(high) - math.log(low))
            new = math.exp(value)
        else:
            new = float(params[name]) + ctx.rng.gauss(0.0, step) * (high - low)
        new = min(max(new, low), high)
        params[name] = round(new) if spec["type"] == "int" else new
        self._last_move = f"{name}:{'up' if new >= float(base[name]) else 'down'}"
        return params

    def guide(self, ctx) -> dict | None:
        if not self._moves:
            return None
        ranked = sorted(self._moves.values(), key=lambda m: m.wins / max(m.tries, 1), reverse=True)
        best = [m.name.split(":")[0] for m in ranked[:2] if m.wins]
        worst = [m.name.split(":")[0] for m in ranked[-2:] if m.tries > 3 and not m.wins]
        return {"focus": best, "avoid": worst, "note": f"{len(self._tabu)} cells are tabu"}

    def propose(self, ctx) -> dict | None:
        if ctx.incumbent is None:
            return None
        for _attempt in range(10):
            candidate = self._neighbour(dict(ctx.incumbent.params), ctx)
            if _cell(candidate, ctx.space) not in self._tabu:
                return candidate
        return None

    def review(self, proposal: dict, ctx) -> dict | None:
        if _cell(proposal, ctx.space) in self._tabu and ctx.iteration > 0:
            self._rejections += 1
            return {"reject": "the proposal falls in a recently visited (tabu) cell"}
        return None

    def observe(self, trial, ctx) -> None:
        self._tabu.append(_cell(dict(trial.params), ctx.space))
        if self._last_move is None or trial.source != "mechanism":
            return
        move = self._moves.setdefault(self._last_move, Move(self._last_move, 0.0))
        move.tries += 1
        if trial.accepted:
            move.wins += 1
        if trial.value is not None:
            move.history.append(float(trial.value))
            move.history = move.history[-10:]

    def state_dict(self) -> dict:
        return {
            "tabu": [list(cell) for cell in self._tabu],
            "moves": {k: {"tries": m.tries, "wins": m.wins, "history": m.history} for k, m in self._moves.items()},
            "rejections": self._rejections,
        }

    def load_state_dict(self, state: dict) -> None:
        self._tabu.clear()
        self._tabu.extend(tuple(cell) for cell in state.get("tabu", []))
        self._moves = {
            k: Move(k, 0.0, tries=v["tries"], wins=v["wins"], history=list(v["history"]))
            for k, v in state.get("moves", {}).items()
        }
        self._rejections = int(state.get("rejections", 0))


MECHANISM = TabuSearch
