"""How the inner loop writes its checkpoint and brings back what the checkpoint holds beyond the trial
history (the controllers' states, the active mechanisms), the two halves of one format."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bilevel_evolve.engine.agents.base import Agent
from bilevel_evolve.engine.mechanisms.active_set import ActiveMechanism, MechanismSet
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.run.loop_state import LoopState
from bilevel_evolve.engine.run.scheduler import TrialScheduler
from bilevel_evolve.engine.run.store import Checkpoint, RunStore
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import RunDirError
from bilevel_evolve.sandbox.hosts.base import HookFailure


class LoopCheckpoint:
    """Part of InnerLoop: its checkpoint, written after every decided step and read back on resume."""

    state: LoopState
    store: RunStore
    agent: Agent
    scheduler: TrialScheduler
    outer: Sequence[OuterController]
    mechanisms: MechanismSet | None
    mechanism_source: Callable[[str], MechanismSource] | None
    _outer_done_step: int
    _extensions_traced: int
    _rolled_back: Callable[[ActiveMechanism, HookFailure], None]

    def _checkpoint(self, status: str = "running", force_durable: bool = False) -> None:
        s = self.state
        extra: dict = {"outer_done_step": self._outer_done_step,
                       "controllers": {c.name: c.state_dict() for c in self.outer}}
        if self._extensions_traced:
            extra["extensions"] = self._extensions_traced
        if in_flight := self.scheduler.to_json():
            extra["in_flight"] = in_flight
        if self.mechanisms is not None:
            states = self.mechanisms.states()
            extra["mechanisms"] = [m.to_json() for m in self.mechanisms.active]
            extra["mechanism_states"] = states
        self.store.save_checkpoint(
            Checkpoint(steps_done=s.steps_done, trace_lines=self.store.trace_lines, status=status,
                       incumbent_step=s.incumbent_step, noise_floor=s.noise_floor,
                       search_config=s.search_config, agent_state=self.agent.state_dict(), extra=extra),
            force_durable=force_durable)

    def _restore_outer(self, extra: dict) -> None:
        """Bring back the controllers' state and the active mechanism set exactly as checkpointed."""
        self._outer_done_step = int(extra.get("outer_done_step", -1))
        states = extra.get("controllers", {})
        for controller in self.outer:
            if controller.name in states:
                controller.load_state_dict(states[controller.name])
        if self.mechanisms is None or not extra.get("mechanisms"):
            return
        if self.mechanism_source is None:
            raise RunDirError("the checkpoint holds active mechanisms but no archive is configured",
                              "resume with the archive the run was started with")
        for raw in extra["mechanisms"]:
            mech = ActiveMechanism.from_json(raw)
            try:
                self.mechanisms.add(mech.id, self.mechanism_source(mech.id), mech.injected_step,
                                    state_json=extra.get("mechanism_states", {}).get(mech.id), restored=mech)
            except HookFailure as failure:  # it cannot come back from its checkpointed state: roll it back
                self._rolled_back(mech, failure)
