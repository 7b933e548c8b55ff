"""Rebuild, from a trace alone, the exact ctx every hook saw at every step (for replay)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bilevel_evolve.engine.run.events import (
    ConfigChanged,
    DecisionMade,
    Event,
    HintsGiven,
    HookCalled,
    ProposalMade,
    RunStarted,
    TrialFinished,
)
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.records import Hints, SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import SearchSpace


@dataclass
class StepView:
    step: int
    iteration: int
    ctx: SearchContext  # as the guide hook saw it (no hints yet)
    hints: Hints  # what the later hooks of this step saw in ctx.hints
    proposal: dict[str, Any] | None  # the proposal that was evaluated
    trial: TrialRecord | None  # the evaluated trial with the keep/discard verdict of the rule
    hook_calls: list[HookCalled] = field(default_factory=list)

    def ctx_for(self, hook: str) -> SearchContext:
        if hook == "guide":
            return self.ctx
        return SearchContext(space=self.ctx.space, direction=self.ctx.direction, iteration=self.iteration,
                             history=self.ctx.history, incumbent=self.ctx.incumbent, config=self.ctx.config,
                             hints=self.hints)


@dataclass(frozen=True)
class TraceInfo:
    run_id: str
    seed: int
    domain: str
    space: SearchSpace


def trace_info(events: list[Event]) -> TraceInfo:
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    if started is None or not started.space:
        raise UsageError("the trace has no run_started event with a search space",
                         "pass the trace.jsonl of a run made by this version of Bilevel Evolve")
    return TraceInfo(started.run_id, started.seed, started.domain, SearchSpace.from_dict(started.space))


def step_views(events: list[Event]) -> Iterator[StepView]:
    info = trace_info(events)
    started = next(e for e in events if isinstance(e, RunStarted))
    by_step: dict[int, dict[str, Any]] = {}
    for e in events:
        step = getattr(e, "step", None)
        if step is None:
            continue
        slot = by_step.setdefault(step, {"calls": []})
        if isinstance(e, HookCalled):
            slot["calls"].append(e)
        elif isinstance(e, ConfigChanged):
            slot["config"] = e.after
        elif isinstance(e, HintsGiven):
            slot["hints"] = e.hints
        elif isinstance(e, ProposalMade):
            slot["proposal"] = e
        elif isinstance(e, TrialFinished):
            slot["trial"] = e
        elif isinstance(e, DecisionMade):
            slot["decision"] = e
    history: list[TrialRecord] = []
    incumbent: TrialRecord | None = None
    config = SearchConfig()
    for step in sorted(by_step):
        slot = by_step[step]
        config = slot.get("config", config)
        trial_event: TrialFinished | None = slot.get("trial")
        decision: DecisionMade | None = slot.get("decision")
        iteration = trial_event.iteration if trial_event else 0
        ctx = SearchContext(space=info.space, direction=started.direction, iteration=iteration,
                            history=tuple(history), incumbent=incumbent, config=config)
        record = None
        if trial_event is not None and decision is not None:
            record = trial_event.record(decision.accepted)
        proposal = slot.get("proposal")
        yield StepView(step, iteration, ctx, slot.get("hints", Hints()),
                       proposal.params if proposal and proposal.valid else None, record, slot["calls"])
        if record is not None and decision is not None:
            history.append(record)
            if decision.incumbent_step is not None and decision.incumbent_step < len(history):
                incumbent = history[decision.incumbent_step]
