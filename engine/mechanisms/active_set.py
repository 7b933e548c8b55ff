"""The active mechanism set: calls every hook that exists, in archive order, every iteration.

It counts each hook's calls and the decisions it changed, and takes out a mechanism whose hook
raises, stalls, answers something invalid or goes over its time budget (rollback,
`engine/mechanisms/budget.py`), so the loop always goes on with the previous set. The engine
validates every answer itself: what a host returns is untrusted.

It also answers the hooks' ctx.llm requests (the host's `llm_service`, engine/mechanisms/model.py):
each is traced as a `mechanism_llm` event with the step, iteration, hook, tokens and cost, and its
time is the model's, not the mechanism's: a hook's time budget counts the call without it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bilevel_evolve.engine.mechanisms.budget import HookBudget, HookClock
from bilevel_evolve.engine.mechanisms.ctx_json import CtxJson
from bilevel_evolve.engine.mechanisms.model import MechanismModel
from bilevel_evolve.engine.run.events import Event, HintsGiven, HookCalled, MechanismAskedModel
from bilevel_evolve.ground.contract.returns import check_return
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import Hints, Proposal, SearchContext, TrialRecord
from bilevel_evolve.sandbox.hosts.base import HookFailure, MechanismHost
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmRequest

RollbackCallback = Callable[["ActiveMechanism", HookFailure], None]


@dataclass
class HookStats:
    calls: int = 0
    changed: int = 0
    ms: float = 0.0  # the hooks' own time (what ctx.llm waited for the model left out)
    llm_calls: int = 0


@dataclass
class ActiveMechanism:
    id: str
    name: str
    hooks: tuple[str, ...]
    injected_step: int
    stats: dict[str, HookStats] = field(default_factory=dict)

    @property
    def changed_decisions(self) -> int:
        return sum(s.changed for s in self.stats.values())

    @property
    def hook_seconds(self) -> float:
        return sum(s.ms for s in self.stats.values()) / 1000

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "hooks": list(self.hooks), "injected_step": self.injected_step,
                "stats": {h: vars(s) for h, s in self.stats.items()}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ActiveMechanism:
        return cls(raw["id"], raw["name"], tuple(raw["hooks"]), int(raw["injected_step"]),
                   {h: HookStats(**s) for h, s in raw.get("stats", {}).items()})


class MechanismSet:
    def __init__(self, host: MechanismHost, seed: int, emit: Callable[[Event], None],
                 on_rollback: RollbackCallback | None = None, budget: HookBudget | None = None,
                 model: MechanismModel | None = None) -> None:
        self.host = host
        self.seed = seed
        self.emit = emit
        self.on_rollback = on_rollback  # the inner loop installs its own
        self.active: list[ActiveMechanism] = []
        self.ctx_json = CtxJson()
        self.clock = HookClock(budget or HookBudget())
        self.model = model or MechanismModel(None)  # without the run's client: the offline stand-in
        self.calling: _Calling | None = None  # the hook call in progress
        host.llm_service = self._ask_model

    # ---- membership ---------------------------------------------------------------------------
    def add(self, mech_id: str, source: MechanismSource, step: int, state_json: str | None = None,
            restored: ActiveMechanism | None = None) -> ActiveMechanism:
        try:
            loaded = self.host.load(mech_id, source, state_json)
        except HookFailure:
            self.host.unload(mech_id)  # whatever the host set up for it before the failure
            raise
        mech = restored or ActiveMechanism(mech_id, loaded.name, loaded.hooks, step)
        self.active.append(mech)
        return mech

    def remove(self, mech_id: str) -> ActiveMechanism | None:
        mech = next((m for m in self.active if m.id == mech_id), None)
        if mech is not None:
            self.active.remove(mech)
            self.host.unload(mech_id)
            self.clock.forget(mech_id)
        return mech

    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.active)

    def states(self) -> dict[str, str]:
        states: dict[str, str] = {}
        for mech in list(self.active):
            if "state_dict" not in mech.hooks:
                continue
            try:
                states[mech.id] = self.host.state_json(mech.id)
            except HookFailure as failure:
                self._fail(mech, failure)
        return states

    # ---- the hooks, in the order the loop calls them -------------------------------------------
    def guide(self, ctx: SearchContext, step: int) -> Hints:
        focus: list[str] = []
        avoid: list[str] = []
        notes: list[str] = []
        call = _Call(self, ctx, step)
        for mech in self._with("guide"):
            value = call(mech, "guide", {})
            if value is _FAILED or not value:
                call.record(mech, "guide", {}, value, changed=False)
                continue
            focus += [n for n in value.get("focus", ()) if n not in focus]
            avoid += [n for n in value.get("avoid", ()) if n not in avoid]
            if value.get("note"):
                notes.append(f"{mech.name}: {value['note']}")
            call.record(mech, "guide", {}, value, changed=bool(value.get("focus") or value.get("avoid")))
        hints = Hints(focus=tuple(focus), avoid=tuple(avoid), notes=tuple(notes))
        if hints != Hints():
            self.emit(HintsGiven(step=step, iteration=ctx.iteration, hints=hints))
        return hints

    def propose(self, ctx: SearchContext, proposal: Proposal, step: int) -> Proposal:
        """Every mechanism's propose is called; the first (in archive order) that returns a point wins."""
        call = _Call(self, ctx, step)
        decided = False
        for mech in self._with("propose"):
            value = call(mech, "propose", {})
            answered = value is not _FAILED and value is not None
            changed = answered and not decided and value != proposal.params
            call.record(mech, "propose", {}, value, changed)
            if changed:
                proposal = Proposal(params=value, source=f"mechanism:{mech.name}",
                                    rationale=f"proposed by {mech.name}")
            decided = decided or answered
        return proposal

    def review(self, ctx: SearchContext, proposal: Proposal, step: int) -> tuple[Proposal, str | None]:
        """Reviews chain in archive order (a replacement is what the next one sees); after a
        rejection the remaining reviewers are still called, but nothing they say counts."""
        call = _Call(self, ctx, step)
        rejection: str | None = None
        for mech in self._with("review"):
            args = {"proposal": dict(proposal.params)}
            value = call(mech, "review", args)
            if value is _FAILED or value is None or rejection is not None:
                call.record(mech, "review", args, value, changed=False)
                continue
            if "reject" in value:
                call.record(mech, "review", args, value, changed=True)
                rejection = f"{mech.name}: {value['reject']}"
                continue
            changed = value["replace"] != proposal.params
            call.record(mech, "review", args, value, changed)
            if changed:
                proposal = Proposal(params=value["replace"], source=f"mechanism:{mech.name}",
                                    rationale=f"replaced by {mech.name} on review")
        return proposal, rejection

    def stage(self, ctx: SearchContext, mech_id: str, draft: str, step: int) -> str | None:
        """One generated stage of a text run's pipeline (engine/text/stages.py): the draft it returns, or
        None when it has no stage hook or failed (then it is rolled back and the draft stays as it was)."""
        mech = next((m for m in self._with("stage") if m.id == mech_id), None)
        if mech is None:
            return None
        call = _Call(self, ctx, step)
        value = call(mech, "stage", {"draft": draft})
        # the trace keeps the texts' size and digest; the drafts themselves are in the run's draft book
        call.record(mech, "stage", {"draft": _digest(draft)}, value if value is _FAILED else _digest(value),
                    changed=value is not _FAILED and value != draft)
        return None if value is _FAILED else str(value)

    def observe(self, ctx: SearchContext, trial: TrialRecord, step: int) -> None:
        call = _Call(self, ctx, step)
        for mech in self._with("observe"):
            args = {"trial": trial.model_dump()}
            call.record(mech, "observe", args, call(mech, "observe", args), changed=False)

    def accept(self, ctx: SearchContext, trial: TrialRecord, step: int) -> tuple[bool, str | None]:
        """The keep/discard decision after overrides: (accepted, name of the mechanism that decided).
        Every accept hook is called; the first (in archive order) that answers True/False decides."""
        call = _Call(self, ctx, step)
        incumbent = ctx.incumbent.model_dump() if ctx.incumbent else None
        decision: tuple[bool, str | None] | None = None
        for mech in self._with("accept"):
            args = {"trial": trial.model_dump(), "incumbent": incumbent}
            value = call(mech, "accept", args)
            # a failed trial has no value to keep, whatever a mechanism says
            usable = value is not _FAILED and value is not None and not (trial.status != "ok" and value)
            changed = usable and decision is None and value != trial.accepted
            call.record(mech, "accept", args, value, changed)
            if usable and decision is None:
                decision = (bool(value), mech.name if changed else None)
        return decision or (trial.accepted, None)

    # ---- plumbing -----------------------------------------------------------------------------
    def _with(self, hook: str) -> list[ActiveMechanism]:
        return [m for m in list(self.active) if hook in m.hooks]

    def _fail(self, mech: ActiveMechanism, failure: HookFailure) -> None:
        self.remove(mech.id)
        if self.on_rollback is not None:
            self.on_rollback(mech, failure)

    def _ask_model(self, request: LlmRequest) -> str:
        """The host's llm_service: one ctx.llm request of the hook call in progress, answered and traced."""
        calling = self.calling
        if calling is None or calling.mech.id != request.mechanism:
            raise HookFailure(request.mechanism, request.hook, "invalid", "called ctx.llm outside its hook call")
        started = time.perf_counter()
        try:
            answer = self.model.answer(request)
        finally:
            waited = time.perf_counter() - started
            calling.waited_s += waited
        calling.llm_calls += 1
        self.emit(MechanismAskedModel(
            step=calling.step, iteration=calling.iteration, mechanism=request.mechanism, hook=request.hook,
            call=request.index, purpose=answer.purpose, origin=answer.origin, prompt_chars=len(request.prompt),
            answer_chars=len(answer.text), prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens, cost_usd=answer.cost_usd, wait_ms=round(waited * 1000, 3),
            prompt=request.prompt[:LLM_EXCERPT_CHARS], answer=answer.text[:LLM_EXCERPT_CHARS]))
        return answer.text


LLM_EXCERPT_CHARS = 300  # how much of a ctx.llm prompt and answer the trace keeps


@dataclass
class _Calling:
    """The hook call in progress, for its ctx.llm requests."""

    mech: ActiveMechanism
    hook: str
    step: int
    iteration: int
    waited_s: float = 0.0  # in the model
    llm_calls: int = 0


class _Call:
    """Calls hooks for one loop phase (one ctx), validates answers, counts and traces them."""

    def __init__(self, owner: MechanismSet, ctx: SearchContext, step: int) -> None:
        self.owner = owner
        self.ctx_json = owner.ctx_json(ctx)
        self.iteration = ctx.iteration
        self.step = step
        self._ms = 0.0
        self._llm_calls = 0

    def __call__(self, mech: ActiveMechanism, hook: str, args: dict[str, Any]) -> Any:
        started = time.perf_counter()
        calling = self.owner.calling = _Calling(mech, hook, self.step, self.iteration)
        try:
            value = self.owner.host.call(mech.id, hook, self.ctx_json, self.owner.seed, args)
            problems = check_return(hook, value, self.ctx_json["space"])
            if problems:
                raise HookFailure(mech.id, hook, "invalid", "; ".join(problems))
            seconds = time.perf_counter() - started - calling.waited_s  # the hook's own time
            over = self.owner.clock.spend(mech.id, self.step, seconds, mech.hook_seconds + seconds)
            if over is not None:
                raise HookFailure(mech.id, hook, "over-budget", over)
        except HookFailure as failure:
            self.owner._fail(mech, failure)
            return _FAILED
        finally:
            self.owner.calling = None
            self._ms = (time.perf_counter() - started - calling.waited_s) * 1000
            self._llm_calls = calling.llm_calls
        return value

    def record(self, mech: ActiveMechanism, hook: str, args: dict[str, Any], value: Any, changed: bool) -> None:
        stats = mech.stats.setdefault(hook, HookStats())
        stats.calls += 1
        stats.ms += self._ms
        stats.llm_calls += self._llm_calls
        if value is _FAILED:
            return
        stats.changed += int(changed)
        self.owner.emit(HookCalled(step=self.step, iteration=self.iteration, mechanism=mech.id, hook=hook,
                                   args=args, result=value, changed=changed, ms=round(self._ms, 3)))


_FAILED = object()


def _digest(text: str) -> dict[str, Any]:
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}
