"""A tiny in-test domain shared by the engine and research tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import Scalar, SearchSpace


class QuadraticDomain:
    """A tiny in-test domain: sum of squared distances to a target, with an optional crash point."""

    name = "quadratic"
    direction: Direction = "minimize"

    def __init__(self, dims: int = 4, crash_when: float | None = None) -> None:
        self.space = SearchSpace.from_dict({
            f"x{i}": {"type": "float", "low": -5.0, "high": 5.0, "default": 4.0} for i in range(dims)
        })
        self.crash_when = crash_when
        self.calls = 0

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        self.calls += 1
        if self.crash_when is not None and params["x0"] == self.crash_when:
            return TrialResult(status="crashed", message="boom")
        value = sum((float(v) - 1.0) ** 2 for v in params.values())
        return TrialResult(status="ok", value=value if math.isfinite(value) else None)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}
