"""Multi-scale bandit: learn which parameter, step size and direction actually pay off.

Bottleneck: unexplored dimensions and a fixed step. The proposer walks the first few parameters in
one direction with one step size and never learns from the outcome.
How: UCB1 over arms = (parameter, step scale in {small, medium, large}, direction). `propose` picks
the arm with the best upper confidence bound (ties broken in an order drawn from ctx.rng)
and moves the incumbent by that arm; `observe` credits the arm with the normalized improvement its
proposal achieved. Choice parameters have two arms: the previous and the next option.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

SCALES = {"small": 0.03, "medium": 0.1, "large": 0.3}
EXPLORATION = 1.0  # UCB1 constant; a reward of 1 is a gain of one standard deviation of the values
# Every arm starts with one pseudo-pull of this reward, so an arm that paid off handsomely is pulled
# again before all 6 x d arms have been tried once (runs are often shorter than that).
PRIOR_REWARD = 0.1


def arms_of(ctx: Any) -> list[str]:
    """Arm keys "name|scale|sign" for every parameter that is not frozen, in space order."""
    arms = []
    for name, spec in ctx.space.items():
        if name in ctx.config.frozen:
            continue
        scales = ["small"] if spec["type"] == "choice" else list(SCALES)
        arms += [f"{name}|{scale}|{sign}" for scale in scales for sign in ("+", "-")]
    return arms


def move(ctx: Any, name: str, value: Any, scale: str, sign: str) -> Any:
    spec = ctx.space[name]
    step = 1 if sign == "+" else -1
    if spec["type"] == "choice":
        choices = list(spec["choices"])
        index = choices.index(value) if value in choices else 0
        return choices[(index + step) % len(choices)]
    moved = ctx.from_unit(name, ctx.to_unit(name, value) + step * SCALES[scale])
    if spec["type"] == "int" and moved == value:  # a small step on a coarse int still moves one unit
        moved = int(min(spec["high"], max(spec["low"], value + step)))
    return moved


class MultiScaleBandit:
    name = "multi-scale-bandit"

    def __init__(self) -> None:
        self.pulls: dict[str, int] = {}
        self.rewards: dict[str, float] = {}
        self.pending: list = []  # [{"arm": key, "params": proposal}] awaiting their trials, oldest first

    def score(self, arm: str, total: int) -> float:
        n = self.pulls.get(arm, 0) + 1
        mean = (self.rewards.get(arm, 0.0) + PRIOR_REWARD) / n
        return mean + EXPLORATION * math.sqrt(2.0 * math.log(total + 2) / n)

    def propose(self, ctx: Any) -> dict | None:
        # keep only proposals that can still be in flight (with one worker: none)
        self.pending = self.pending[-len(ctx.pending):] if ctx.pending else []
        running = [dict(p.params) for p in ctx.pending]
        base = dict(ctx.incumbent.params) if ctx.incumbent else {n: s["default"] for n, s in ctx.space.items()}
        arms = arms_of(ctx)
        ctx.rng.shuffle(arms)  # breaks ties (untried arms) without favouring the first parameters
        total = sum(self.pulls.get(a, 0) for a in arms)
        for arm in sorted(arms, key=lambda a: -self.score(a, total)):
            name, scale, sign = arm.split("|")
            params = dict(base)
            params[name] = move(ctx, name, base[name], scale, sign)
            # skip arms that sit against a bound, and points whose trials run now (several workers)
            if params[name] != base[name] and params not in running:
                self.pending.append({"arm": arm, "params": params})
                return params
        return None

    def observe(self, trial: Any, ctx: Any) -> None:
        ours = [p for p in self.pending if p["params"] == dict(trial.params)]
        if not ours:
            return  # another mechanism or the proposer chose this trial: not our arm's outcome
        self.pending.remove(ours[0])
        arm = ours[0]["arm"]
        self.pulls[arm] = self.pulls.get(arm, 0) + 1
        self.rewards[arm] = self.rewards.get(arm, 0.0) + self.reward(trial, ctx)

    def reward(self, trial: Any, ctx: Any) -> float:
        """Improvement over the incumbent in standard deviations of the values seen so far, clipped to [0, 1]."""
        incumbent = ctx.incumbent
        if trial.status != "ok" or trial.value is None or incumbent is None or incumbent.value is None:
            return 0.0
        values = [t.value for t in ctx.history if t.status == "ok" and t.value is not None]
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        spread = spread or abs(incumbent.value) or 1.0
        gain = incumbent.value - trial.value if ctx.direction == "minimize" else trial.value - incumbent.value
        return min(1.0, max(0.0, gain / spread))

    def state_dict(self) -> dict:
        return {"pulls": dict(self.pulls), "rewards": dict(self.rewards), "pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pulls = {str(k): int(v) for k, v in state.get("pulls", {}).items()}
        self.rewards = {str(k): float(v) for k, v in state.get("rewards", {}).items()}
        pending = state.get("pending") or []
        pending = [pending] if isinstance(pending, dict) else pending  # a state saved as one entry
        self.pending = [{"arm": p["arm"], "params": dict(p["params"])} for p in pending]


MECHANISM = MultiScaleBandit
