"""The outer loop's contract with the inner loop: controllers called at step boundaries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bilevel_evolve.engine.mechanisms.active_set import ActiveMechanism
    from bilevel_evolve.engine.run.loop import InnerLoop
    from bilevel_evolve.sandbox.hosts.base import HookFailure


class OuterController(Protocol):
    """Level 1.5 and Level 2 both implement this. before_step runs at most once per step: the
    loop checkpoints right after it, so a crash never repeats a finished research session."""

    name: str

    def before_step(self, loop: InnerLoop, step: int, iteration: int) -> None: ...

    def on_rollback(self, loop: InnerLoop, mech: ActiveMechanism, failure: HookFailure, step: int) -> None: ...

    def on_finish(self, loop: InnerLoop) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
