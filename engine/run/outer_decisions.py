"""How the inner loop applies what its outer levels decide: in order, each traced, as they come."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bilevel_evolve.engine.mechanisms.active_set import MechanismSet
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.decisions import ChangeConfig, Decision, Decisions, Inject, Record, Reject, Rollback
from bilevel_evolve.engine.outer.view import LoopView
from bilevel_evolve.engine.run.events import ConfigChanged, Event, MechanismInjected, MechanismRolledBack
from bilevel_evolve.engine.run.loop_state import LoopState
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox.hosts.base import HookFailure


class OuterDecisions:
    """Part of InnerLoop: the decisions of its controllers (ChangeConfig, Inject, Rollback, Reject, Record)."""

    state: LoopState
    mechanisms: MechanismSet | None
    _log: Any
    _emit: Callable[[Event], None]

    def _apply_all(self, controller: OuterController, decisions: Decisions, at: LoopView) -> None:
        """One at a time, as the controller produces them: the next one may depend on this one."""
        for decision in decisions:
            self._apply(controller, decision, at)

    def _apply(self, controller: OuterController, decision: Decision, at: LoopView) -> None:
        step, iteration = at.step, at.iteration
        match decision:
            case ChangeConfig(config=after, reason=reason, source=source):
                before = self.state.search_config
                self.state.search_config = after
                self._emit(ConfigChanged(step=step, iteration=iteration, before=before, after=after,
                                         reason=reason, source=source))
            case Inject():
                self._inject(controller, decision, at)
            case Rollback(mechanism=mech_id, reason=reason):
                mech = self._mechanism_set().remove(mech_id)
                self._emit(MechanismRolledBack(step=step, iteration=iteration, mechanism=mech_id,
                                               name=mech.name if mech else mech_id[:12], status="rolled-back",
                                               reason=reason, active=self._active_ids()))
            case Reject(mechanism=mech_id, name=name, status=status, reason=reason):
                self._emit(MechanismRolledBack(step=step, iteration=iteration, mechanism=mech_id, name=name,
                                               status=status, reason=reason, active=self._active_ids()))
            case Record(event=event):
                self._emit(event)

    def _inject(self, controller: OuterController, inject: Inject, at: LoopView) -> None:
        mechanisms = self._mechanism_set()
        try:
            mech = mechanisms.add(inject.mechanism, inject.source, at.step)
        except HookFailure as failure:  # the set is as it was; the controller says what to record
            self._apply_all(controller, controller.on_inject_failed(at, inject, failure), at)
            return
        self._emit(MechanismInjected(step=at.step, iteration=at.iteration, mechanism=inject.mechanism,
                                     name=mech.name, active=mechanisms.ids()))
        self._log.info("mechanism_injected", name=mech.name, id=inject.mechanism[:12])

    def _mechanism_set(self) -> MechanismSet:
        if self.mechanisms is None:
            raise EvolveError("an outer level changed the mechanism set of a run that has no mechanism host")
        return self.mechanisms

    def _active_ids(self) -> tuple[str, ...]:
        return () if self.mechanisms is None else self.mechanisms.ids()
