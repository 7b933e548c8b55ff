"""The JSON form of a run's successive ctxs, each trial dumped once.

A step's phases share one ctx, and each step's history is the last one plus a trial: so the ctx is
converted once per ctx object, and a ctx whose history starts with the very trial records of the
last one reuses their dicts. Consecutive ctxs then share those dicts, which is how a mechanism host
sees that a worker already holds them and sends only the new trials (`sandbox/hosts/history.py`).
The dicts are never changed once made.
"""

from __future__ import annotations

import operator
from typing import Any

from bilevel_evolve.ground.records import SearchContext, TrialRecord


class CtxJson:
    """`ctx.to_json()`, with the dumps of the trials earlier ctxs had already made reused."""

    def __init__(self) -> None:
        self._last: tuple[SearchContext, dict[str, Any]] | None = None
        self._records: list[TrialRecord] = []  # the trials dumped so far, in history order
        self._dumps: list[dict[str, Any]] = []  # their model_dump()s

    def __call__(self, ctx: SearchContext) -> dict[str, Any]:
        if self._last is None or self._last[0] is not ctx:
            self._last = (ctx, ctx.to_json(history=self._history(ctx.history)))
        return self._last[1]

    def _history(self, history: tuple[TrialRecord, ...]) -> list[dict[str, Any]]:
        kept = len(self._records)
        if len(history) < kept or not all(map(operator.is_, self._records, history)):
            self._records, self._dumps, kept = [], [], 0  # another history: start over
        for record in history[kept:]:
            self._records.append(record)
            self._dumps.append(record.model_dump())
        return list(self._dumps)
