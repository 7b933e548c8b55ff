"""Keep/discard rules: strict improvement, or improvement beyond a measured noise floor."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bilevel_evolve.ground.records import Direction, TrialRecord, gain


@dataclass(frozen=True)
class AcceptanceRule:
    direction: Direction
    noise_floor: float = 0.0

    def judge(self, value: float | None, status: str, incumbent: TrialRecord | None) -> tuple[bool, str]:
        if status != "ok" or value is None:
            return False, f"trial {status}"
        if incumbent is None or incumbent.value is None:
            return True, "first successful trial"
        margin = gain(value, incumbent.value, self.direction)
        if margin > self.noise_floor:
            floor = f" (noise floor {self.noise_floor:.4g})" if self.noise_floor else ""
            return True, f"improves on incumbent by {margin:.4g}{floor}"
        if margin > 0:
            return False, f"gain {margin:.4g} within noise floor {self.noise_floor:.4g}"
        return False, f"no improvement ({value:.6g} vs {incumbent.value:.6g})"


def noise_floor(values: list[float], multiplier: float) -> float:
    """The margin a trial must beat: multiplier x the sample sd of repeated baseline runs."""
    return multiplier * statistics.stdev(values) if len(values) >= 2 else 0.0
