"""Replay an archived mechanism in isolation over a recorded trace.

Over its own run's trace it re-makes every hook call the run recorded and compares the decisions
(identical for a deterministic mechanism). Over another run's trace ("what would it have done
there") it drives every hook at every search step with that run's contexts and inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.analysis.trace_contexts import StepView, step_views, trace_info
from bilevel_evolve.engine.run.events import HookCalled
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.contract.returns import check_return
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.sandbox.hosts.base import HookFailure, MechanismHost

_PARAM_MISMATCH = "invalid parameters"  # contract.returns' words for a point outside the trace's space


class ReplayCall(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: int
    iteration: int
    hook: str
    recorded: Any = None
    replayed: Any = None
    error: str | None = None
    identical: bool | None = None  # None when there is nothing recorded to compare with


class ReplayReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    mechanism: str
    name: str
    trace: str
    mode: Literal["recorded", "counterfactual"]
    runtime: str
    calls: tuple[ReplayCall, ...]

    @property
    def compared(self) -> int:
        return sum(c.identical is not None for c in self.calls)

    @property
    def identical(self) -> int:
        return sum(bool(c.identical) for c in self.calls)

    @property
    def errors(self) -> int:
        return sum(c.error is not None for c in self.calls)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.identical == self.compared

    def summary(self) -> str:
        if self.mode == "recorded":
            return (f"{self.identical}/{self.compared} recorded hook calls reproduced identically"
                    + (f", {self.errors} errors" if self.errors else ""))
        changed = sum(1 for c in self.calls if c.replayed not in (None, {}) and c.hook != "observe")
        return (f"{len(self.calls)} hook calls over another run's trace; {changed} would have acted; "
                f"{self.errors} errors")


def load_trace_events(trace: Path) -> list:
    path = trace if trace.is_dir() else trace.parent
    if trace.is_file() and trace.name != "trace.jsonl":
        raise UsageError(f"{trace} is not a trace.jsonl", "pass RUN_DIR/trace.jsonl or the run directory")
    return RunStore.open(path).events()


def replay_mechanism(mechanism_id: str, source: MechanismSource, name: str, trace: Path,
                     host: MechanismHost) -> ReplayReport:
    """`source` as `Archive.source` returns it: already checked to hash to `mechanism_id`."""
    events = load_trace_events(trace)
    info = trace_info(events)
    views = list(step_views(events))
    recorded = any(call.mechanism == mechanism_id for v in views for call in v.hook_calls)
    hooks = host.load(mechanism_id, source, None).hooks
    calls: list[ReplayCall] = []
    try:
        for view in views:
            if recorded:
                calls += [_replay_call(host, mechanism_id, view, c.hook, c.args, info.seed, c.result)
                          for c in view.hook_calls if c.mechanism == mechanism_id]
            elif view.iteration > 0 and view.trial is not None:
                calls += _counterfactual_step(host, mechanism_id, view, info.seed, hooks)
    finally:
        host.unload(mechanism_id)
    if not recorded and calls and all(c.error and _PARAM_MISMATCH in c.error for c in calls):
        raise UsageError(f"mechanism {mechanism_id[:12]} does not fit the trace's domain ({info.domain}): "
                         f"{calls[0].error}", "replay it over a trace of a run with the same parameters")
    return ReplayReport(mechanism=mechanism_id, name=name, trace=str(trace), runtime=host.kind,
                        mode="recorded" if recorded else "counterfactual", calls=tuple(calls))


def _replay_call(host: MechanismHost, mech_id: str, view: StepView, hook: str, args: dict[str, Any], seed: int,
                 expected: Any = None, compare: bool = True) -> ReplayCall:
    ctx_json = view.ctx_for(hook).to_json()
    try:
        value = host.call(mech_id, hook, ctx_json, seed, args)
        problems = check_return(hook, value, ctx_json["space"])
        error = "; ".join(problems) if problems else None
    except HookFailure as failure:
        value, error = None, f"{failure.kind}: {failure.reason}"
    # the trace holds the answer as its event fitted it (ground.untrusted): compare it fitted the same way
    fitted = HookCalled(step=view.step, iteration=view.iteration, mechanism=mech_id, hook=hook, args=args,
                        result=value).result
    same = (_canon(fitted) == _canon(expected)) if compare and error is None else (False if compare else None)
    return ReplayCall(step=view.step, iteration=view.iteration, hook=hook, recorded=expected if compare else None,
                      replayed=value, error=error, identical=same)


def _counterfactual_step(host: MechanismHost, mech_id: str, view: StepView, seed: int,
                         hooks: tuple[str, ...]) -> list[ReplayCall]:
    assert view.trial is not None
    trial = view.trial.model_dump()
    incumbent = view.ctx.incumbent.model_dump() if view.ctx.incumbent else None
    plan: list[tuple[str, dict[str, Any]]] = [
        ("guide", {}), ("propose", {}), ("review", {"proposal": view.proposal or dict(view.trial.params)}),
        ("observe", {"trial": trial}), ("accept", {"trial": trial, "incumbent": incumbent})]
    return [_replay_call(host, mech_id, view, hook, args, seed, compare=False) for hook, args in plan
            if hook in hooks]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
