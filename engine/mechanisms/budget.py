"""How much time a mechanism's hooks may take: in one step (all its hooks together) and over the run.

Every hook call already has a deadline; a mechanism that stays just under it on every call (a hook
busy for 4.9 s under a 5 s deadline) would still make each iteration take tens of seconds. The
budget counts the time each mechanism's calls take, engine side (the round trip included), and a
call that takes it past either limit fails as "over-budget": the mechanism is rolled back with
the reason. The run total is the sum of its hook statistics, so it survives a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bilevel_evolve.engine.wiring.run_config import RunConfig

RUN_SECONDS_PER_ITERATION = 1.0  # the run budget when none is set: this much per iteration on average
KEEP_STEPS = 1024  # steps whose spending is remembered per mechanism: more than --workers can hold in flight


@dataclass(frozen=True)
class HookBudget:
    step_s: float = 5.0
    run_s: float = math.inf

    @classmethod
    def of(cls, config: RunConfig) -> HookBudget:
        run_s = config.mechanism_run_budget_s
        if run_s is None:
            run_s = max(config.mechanism_step_budget_s, RUN_SECONDS_PER_ITERATION * config.iterations)
        return cls(step_s=config.mechanism_step_budget_s, run_s=run_s)


class HookClock:
    """The time each mechanism's hooks took in each recent step."""

    def __init__(self, budget: HookBudget) -> None:
        self.budget = budget
        self._by_step: dict[str, dict[int, float]] = {}  # mechanism -> step -> seconds

    def spend(self, mech_id: str, step: int, seconds: float, run_total_s: float) -> str | None:
        """Count one call; the reason it went over a budget, or None. `run_total_s`: the mechanism's
        time over the run, this call included."""
        steps = self._by_step.setdefault(mech_id, {})
        steps[step] = steps.get(step, 0.0) + seconds
        if len(steps) > KEEP_STEPS:
            del steps[min(steps)]
        if steps[step] > self.budget.step_s:
            return (f"its hooks took {steps[step]:.2f} s in this iteration; the budget is {self.budget.step_s:g} s "
                    "per iteration (--mechanism-step-budget)")
        if run_total_s > self.budget.run_s:
            return (f"its hooks took {run_total_s:.1f} s in this run; the budget is {self.budget.run_s:g} s "
                    "(--mechanism-run-budget)")
        return None

    def forget(self, mech_id: str) -> None:
        self._by_step.pop(mech_id, None)
