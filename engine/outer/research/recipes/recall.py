"""Recall: proposes, once each, the best points that earlier runs on this same task found.

Bottleneck: a run that starts from nothing. A shared archive holds what earlier runs on this domain and
space found; without it, every run spends its first trials finding again the region the last one ended in.
How: the engine writes the recalled points into POINTS (full parameter dicts, best first, each validated
against the space) when it writes this mechanism for a run. `propose` returns the first of them that the
run has neither measured nor has in flight (frozen parameters keep the incumbent's value), so each is
measured once, on this run's own budget and noise; once all are, it proposes nothing more.
"""

from __future__ import annotations

from typing import Any

POINTS: list = []  # the recalled points, written in by the engine


class Recall:
    name = "recall"

    def propose(self, ctx: Any) -> dict | None:
        measured = [dict(t.params) for t in ctx.history] + [dict(p.params) for p in ctx.pending]
        base = dict(ctx.incumbent.params) if ctx.incumbent is not None else {}
        for point in POINTS:
            params = dict(point)
            for name in ctx.config.frozen:
                if name in base:
                    params[name] = base[name]
            if params not in measured:
                return params
        return None


MECHANISM = Recall
