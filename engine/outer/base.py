"""The outer loop's contract with the inner loop: controllers called at step boundaries.

A controller reads the loop through a LoopView and answers with decisions (engine.outer.decisions);
the loop applies them in order, as they come, and traces each. A controller only acts through its
decisions and its own stores (the archive), so everything it did to the run is in the trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.decisions import Decisions, Inject
    from bilevel_evolve.engine.outer.view import LoopView, MechanismView
    from bilevel_evolve.sandbox.hosts.base import HookFailure


class OuterController:
    """Level 1.5, Level 2 and the archive bookkeeper are these; each hook does nothing unless
    overridden. before_step runs at most once per step: the loop checkpoints right after it, so
    a crash never repeats a finished research session."""

    name: str

    def before_step(self, view: LoopView) -> Decisions:
        return ()

    def on_rollback(self, view: LoopView, mech: MechanismView, failure: HookFailure) -> Decisions:
        """A live mechanism's hook failed and the loop took it out (already traced)."""
        return ()

    def on_inject_failed(self, view: LoopView, inject: Inject, failure: HookFailure) -> Decisions:
        """This controller's Inject could not be loaded; the set is unchanged and nothing is traced yet."""
        return ()

    def on_finish(self, view: LoopView) -> Decisions:
        return ()

    def on_extend(self, view: LoopView) -> Decisions:
        """A finished run was extended (`evolve resume --iterations`) and goes on after its on_finish."""
        return ()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def cycle_due(iteration: int, every: int) -> bool:
    """Whether a controller that acts every `every` iterations acts before this one: at 1 + every,
    1 + 2 * every, ... (never before the first search iteration has a result to read)."""
    return iteration > 1 and (iteration - 1) % every == 0
