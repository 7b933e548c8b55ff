"""N trials in flight, decided in proposal order: the same decisions whatever order they finish in.

The rule: after deciding step j the loop proposes step j + N, seeing the trials decided up to j and,
as `ctx.pending`, the proposals j + 1 .. j + N - 1 whose trials are running. So what any step sees
is fixed by the seed and N alone; with N = 1 it is the sequential loop exactly.

The scheduler holds the steps in flight (proposed, not decided), hands their trials to an executor,
and gives each result back when its step's turn comes. A result that arrives early waits in memory
and in the journal (engine.run.journal); the steps in flight are saved in every checkpoint. A
resumed run so has every proposal it had made, and reruns only the trials that had not finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from bilevel_evolve.engine.run.events import Event, TrialFinished
from bilevel_evolve.engine.run.executors import TrialExecutor, TrialJob
from bilevel_evolve.engine.run.journal import FinishedJournal
from bilevel_evolve.ground.records import Hints, PendingTrial, TrialResult
from bilevel_evolve.ground.space import Scalar

log = structlog.get_logger("bilevel_evolve.engine.run.scheduler")


@dataclass(frozen=True)
class InFlight:
    """A proposed step not yet decided. `preset` is the result of a step that runs no trial (its
    proposal was invalid, rejected on review, or unusable): known the moment it is proposed."""

    step: int
    iteration: int
    baseline: bool
    params: dict[str, Scalar]
    source: str
    hints: Hints = field(default_factory=Hints)
    preset: TrialResult | None = None

    @property
    def runs(self) -> bool:
        return self.preset is None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "iteration": self.iteration, "baseline": self.baseline, "params": self.params,
                "source": self.source, "hints": self.hints.model_dump(mode="json"),
                "preset": None if self.preset is None else self.preset.model_dump(mode="json")}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> InFlight:
        preset = raw.get("preset")
        return cls(step=int(raw["step"]), iteration=int(raw["iteration"]), baseline=bool(raw["baseline"]),
                   params=dict(raw["params"]), source=str(raw["source"]), hints=Hints.model_validate(raw["hints"]),
                   preset=None if preset is None else TrialResult.model_validate(preset))


@dataclass(frozen=True)
class Recovered:
    """A trial's result kept from an attempt that crashed before the step was decided."""

    params: dict[str, Scalar]
    result: TrialResult


def recovered_results(tail: Sequence[Event], journal: FinishedJournal, from_step: int) -> dict[int, Recovered]:
    """The results an interrupted attempt left for steps >= from_step: the trials it had finished ahead
    of their turn (the journal), and those it traced after its last checkpoint (the trace's tail)."""
    found = {step: Recovered(e.params, e.result) for step, e in journal.read(from_step).items()}
    for e in tail:
        if isinstance(e, TrialFinished) and e.step >= from_step:
            fields = {name: getattr(e, name) for name in TrialResult.model_fields if hasattr(e, name)}
            found[e.step] = Recovered(dict(e.params), TrialResult(**fields))
    return found


@dataclass(frozen=True)
class Settled:
    entry: InFlight
    result: TrialResult
    recovered: bool  # the resumed run found a result for this step from before the crash


class TrialScheduler:
    def __init__(self, executor: TrialExecutor, journal: FinishedJournal) -> None:
        self.executor = executor
        self.journal = journal
        self._in_flight: dict[int, InFlight] = {}  # in step order
        self._results: dict[int, TrialResult] = {}
        self._recovered: dict[int, Recovered] = {}
        self._found_recovered: set[int] = set()

    def next_step(self, steps_done: int) -> int:
        """The first step not proposed yet."""
        return steps_done + len(self._in_flight)

    def pending(self) -> tuple[PendingTrial, ...]:
        """The proposals whose trials are in flight, in proposal order (what `ctx.pending` holds)."""
        return tuple(PendingTrial(iteration=e.iteration, params=e.params, source=e.source)
                     for e in self._in_flight.values() if e.runs)

    def add(self, entry: InFlight, job: TrialJob | None) -> None:
        """A step just proposed: its trial (job, for a step that runs one) starts now, unless a resumed
        run holds its result already."""
        self._in_flight[entry.step] = entry
        if not entry.runs or job is None:
            return
        recovered = self._recovered.pop(entry.step, None)
        if recovered is not None:
            self._found_recovered.add(entry.step)
            if recovered.params == entry.params:
                self._results[entry.step] = recovered.result
                log.info("trial_recovered", step=entry.step)
                return
        self.executor.submit(job)

    def settle(self, step: int) -> Settled:
        """Wait for this step's result (the oldest in flight) and take the step out of flight. Results of
        younger steps that finish meanwhile are journaled: they are not in the trace until their turn."""
        entry = self._in_flight[step]
        if entry.preset is not None:
            result = entry.preset
        else:
            while step not in self._results:
                done, result = self.executor.next_finished()
                self._results[done] = result
                if done != step:
                    self.journal.append(done, self._in_flight[done].params, result)
            result = self._results.pop(step)
        del self._in_flight[step]
        recovered = step in self._found_recovered
        self._found_recovered.discard(step)
        return Settled(entry, result, recovered)

    # ---- checkpoint and resume ---------------------------------------------------------------------
    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self._in_flight.values()]

    def restore(self, in_flight: list[dict[str, Any]], recovered: dict[int, Recovered],
                job_of: Callable[[InFlight], TrialJob]) -> None:
        """Back to a checkpoint: its steps in flight, their trials started again unless a result was
        recovered for them, and the recovered results of the steps after (proposed again, the same)."""
        self._recovered = dict(recovered)
        for raw in in_flight:
            entry = InFlight.from_json(raw)
            self.add(entry, job_of(entry) if entry.runs else None)

    def close(self) -> None:
        self.executor.close()
        self.journal.close()
