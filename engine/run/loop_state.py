"""The inner loop's live state, and how a resumed run rebuilds it from the trace and the checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bilevel_evolve.engine.run.events import DecisionMade, Event, TrialFinished
from bilevel_evolve.engine.run.store import Checkpoint
from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.ground.records import Direction, SearchConfig, TrialRecord, gain


def trial_seed(seed: int, step: int) -> int:
    """Per-trial seed: a pure function of (run seed, step), so a resumed run draws the same ones."""
    return (seed * 1_000_003 + step * 7_919) % (2**31 - 1)


@dataclass
class LoopState:
    steps_done: int = 0
    history: list[TrialRecord] = field(default_factory=list)
    incumbent_step: int | None = None  # index into history (= the step) of the kept point
    noise_floor: float = 0.0
    search_config: SearchConfig = field(default_factory=SearchConfig)
    # The best successful trial so far. Not always the incumbent: a mechanism's accept hook may
    # keep a worse trial (annealing), and the noise-aware incumbent is the median baseline.
    best: TrialRecord | None = None

    def append(self, record: TrialRecord, direction: Direction) -> None:
        self.history.append(record)
        if record.status == "ok" and record.value is not None and (
            self.best is None or self.best.value is None or gain(record.value, self.best.value, direction) > 0
        ):
            self.best = record

    @property
    def incumbent(self) -> TrialRecord | None:
        return None if self.incumbent_step is None else self.history[self.incumbent_step]




def rebuild_state(events: Iterable[Event], checkpoint: Checkpoint, direction: Direction) -> LoopState:
    """History comes from the trace (append-only); live values from the checkpoint."""
    decisions = {e.step: e for e in events if isinstance(e, DecisionMade)}
    state = LoopState(steps_done=checkpoint.steps_done, noise_floor=checkpoint.noise_floor,
                      search_config=checkpoint.search_config, incumbent_step=checkpoint.incumbent_step)
    for e in events:
        if isinstance(e, TrialFinished):
            state.append(e.record(decisions[e.step].accepted), direction)
    if len(state.history) != checkpoint.steps_done:
        raise RunDirError(
            f"trace holds {len(state.history)} trials but the checkpoint counts {checkpoint.steps_done}",
            "the run directory was modified by hand; start a new run")
    return state


def loggable(params: object) -> dict:
    """An invalid proposal is still recorded, reduced to JSON scalars."""
    if not isinstance(params, dict):
        return {}
    return {str(k): v for k, v in params.items() if isinstance(v, str | int | float | bool)}
