"""The window of a Level 1.5 change: the K iterations after it against the K before it.

A window's numbers: its search trials, how many were kept, the share that failed, and its gain, how
much the best value improved from before the window to its end (in "better" units, 0 when it did not).
The window after a change measured worse when

- progress stopped: the window before gained more than the noise floor and the window after did not; or
- failures rose: the failure rate after exceeds the one before by more than FAILURE_RISE.

A window that gained nothing before the change (the search was stuck, which is why it changed) is not
made worse by a window after that gains nothing either: the change is kept until a later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bilevel_evolve.engine.analysis.trace_numbers import failure_rate
from bilevel_evolve.ground.records import Direction, TrialRecord, gain

FAILURE_RISE = 0.3


def measure(history: Sequence[TrialRecord], start: int, end: int, direction: Direction) -> dict[str, Any]:
    """The numbers of the search trials of iterations start .. end - 1 (JSON: checkpointed with the
    controller)."""
    window = [t for t in history if t.source != "baseline" and start <= t.iteration < end]
    before = _best([t for t in history if t.iteration < start], direction)
    at_end = _best([t for t in history if t.iteration < end], direction)
    progress = 0.0 if before is None or at_end is None else max(0.0, gain(at_end, before, direction))
    return {"trials": len(window), "kept": sum(t.accepted for t in window), "failure_rate": failure_rate(window),
            "gain": progress}


def worse(before: dict[str, Any], after: dict[str, Any], noise: float) -> str | None:
    """Why the window after a change measured worse than the one before it, or None."""
    if not after["trials"]:
        return None
    if before["gain"] > noise >= after["gain"]:
        return (f"the {after['trials']} iterations after it found no new best (gain {after['gain']:.4g}, noise "
                f"floor {noise:.4g}) where the {before['trials']} before it gained {before['gain']:.4g}")
    if after["failure_rate"] > before["failure_rate"] + FAILURE_RISE:
        return f"the failure rate rose from {before['failure_rate']:.0%} to {after['failure_rate']:.0%}"
    return None


def _best(trials: Sequence[TrialRecord], direction: Direction) -> float | None:
    values = [t.value for t in trials if t.status == "ok" and t.value is not None]
    if not values:
        return None
    return min(values) if direction == "minimize" else max(values)
