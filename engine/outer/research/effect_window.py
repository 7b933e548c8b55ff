"""A mechanism's effect on one run: the search as it stood at injection, against the M iterations after.

The trace's effect (EffectMeasured) holds what the run saw: the best and median trial value before and
after, the window, and a verdict (improved: a new best; worse: the median trial got worse by more than
the noise, or failures rose; else neutral) that may roll the mechanism back. The archive's record adds
what pools across runs (mechanism_archive/effects.py): the run's scope and a score,

    score = gain(median after, median before) / spread before,

the move of the typical trial in the window, positive when it got better whatever the direction, in
units of the spread of the values the run had seen at injection (max - min, at least the noise floor).
It is the median the verdict judges, made comparable between runs; a new best alone is no score (a best
only ever improves, so it would credit every mechanism that was active while the run progressed).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bilevel_evolve.engine.analysis.trace_numbers import failure_rate
from bilevel_evolve.ground.records import gain

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.view import LoopView
    from bilevel_evolve.ground.records import TrialRecord


def open_window(view: LoopView, window: int) -> dict[str, Any]:
    """What the search looked like at injection (JSON: it is checkpointed with the controller)."""
    recent = view.history[-window:]
    values = [t.value for t in recent if t.value is not None]
    seen = [t.value for t in view.history if t.value is not None and t.status == "ok"]
    best = view.best
    return {"step": view.step, "iteration": view.iteration, "best_before": best.value if best else None,
            "median_before": statistics.median(values) if values else None, "fail_before": failure_rate(recent),
            "spread_before": max(seen) - min(seen) if seen else None}


def measure(start: dict[str, Any], after: Sequence[TrialRecord], view: LoopView, window: int) -> dict[str, Any]:
    """The effect as the trace records it (and the controller judges it)."""
    direction = view.direction
    best_after = view.best.value if view.best else None
    before = start["best_before"]
    delta = None if before is None or best_after is None else best_after - before
    improved = before is not None and best_after is not None and gain(best_after, before, direction) > 0
    values = [t.value for t in after if t.value is not None]
    median_after = statistics.median(values) if values else None
    fail_after = failure_rate(after)
    median_before = start["median_before"]
    margin = max(view.noise_floor, 0.05 * abs(median_before or 0.0))
    worse_median = (median_before is not None and median_after is not None
                    and gain(median_after, median_before, direction) < -margin)
    worse_fail = fail_after > start["fail_before"] + 0.3
    verdict = "improved" if improved else ("worse" if worse_median or worse_fail else "neutral")
    why = ""
    if verdict == "worse":
        why = (f"failure rate {start['fail_before']:.0%} -> {fail_after:.0%}" if worse_fail else
               f"no new best, and the median trial value went {median_before:.6g} -> {median_after:.6g}")
    out = {"before": before, "after": best_after, "delta": delta, "window": window,
           "median_before": median_before, "median_after": median_after, "verdict": verdict, "why": why}
    return out | ({"cause": "failures" if worse_fail else "median"} if verdict == "worse" else {})


def score(start: dict[str, Any], effect: dict[str, Any], view: LoopView) -> float | None:
    """The effect as a number comparable between runs (see the module's docstring), or None when the window
    has no median on one side or the run had seen no spread (a window opened by an older version has none)."""
    before, after, spread = effect["median_before"], effect["median_after"], start.get("spread_before")
    if before is None or after is None or spread is None:
        return None
    scale = max(float(spread), view.noise_floor)
    if scale <= 0:
        return None
    return gain(after, before, view.direction) / scale
