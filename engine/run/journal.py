"""finished.jsonl: the results of trials that finished before their turn to be decided.

With several workers a trial can finish while an older one still runs. The trace records trials in
decision order, so such a result waits in memory; this journal keeps it across a crash, so that a
resumed run never runs a finished trial again. Append-only, flushed line by line like the trace.
A run of one worker never writes it (its trials finish in order).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from bilevel_evolve.ground.fileio import iter_complete_lines
from bilevel_evolve.ground.records import TrialResult
from bilevel_evolve.ground.space import Scalar

JOURNAL_FILE = "finished.jsonl"


class FinishedTrial(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    step: int
    params: dict[str, Scalar]
    result: TrialResult


class FinishedJournal:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_FILE
        self._fh: IO[bytes] | None = None

    def append(self, step: int, params: dict[str, Scalar], result: TrialResult) -> None:
        if self._fh is None:
            self._fh = self.path.open("ab")
        self._fh.write(FinishedTrial(step=step, params=params, result=result).model_dump_json().encode() + b"\n")
        self._fh.flush()

    def read(self, from_step: int) -> dict[int, FinishedTrial]:
        """The last entry of each step >= from_step (a step run twice, before and after a crash, counts
        with its later result). Lines that do not parse are skipped: the journal only saves work."""
        found: dict[int, FinishedTrial] = {}
        if not self.path.exists():
            return found
        for line in iter_complete_lines(self.path):
            try:
                entry = FinishedTrial.model_validate_json(line)
            except ValidationError:
                continue
            if entry.step >= from_step:
                found[entry.step] = entry
        return found

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
