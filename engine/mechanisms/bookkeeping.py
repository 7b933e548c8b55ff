"""Keeps the archive true to what live mechanisms did: rollbacks, hook statistics, `dead`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bilevel_evolve.engine.mechanisms.active_set import ActiveMechanism
    from bilevel_evolve.engine.run.loop import InnerLoop
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.sandbox.hosts.base import HookFailure


class ArchiveBookkeeper:
    """An OuterController present whenever mechanisms run, whoever wrote them (Level 2 or a user)."""

    name = "mechanisms"

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def before_step(self, loop: InnerLoop, step: int, iteration: int) -> None:
        return None

    def on_rollback(self, loop: InnerLoop, mech: ActiveMechanism, failure: HookFailure, step: int) -> None:
        run_id = loop.config.run_id
        self.archive.set_status(mech.id, "rolled-back", run_id=run_id,
                                reason=f"hook {failure.hook} {failure.kind}: {failure.reason}",
                                key=f"{run_id}:rollback:{mech.id}:{step}")

    def on_finish(self, loop: InnerLoop) -> None:
        if loop.mechanisms is None:
            return
        run_id = loop.config.run_id
        for mech in list(loop.mechanisms.active):
            stats = {h: vars(s) for h, s in mech.stats.items()}
            self.archive.record_hook_stats(mech.id, run_id=run_id, stats=stats, key=f"{run_id}:stats:{mech.id}")
            if mech.changed_decisions == 0:
                calls = sum(s.calls for s in mech.stats.values())
                self.archive.set_status(mech.id, "dead", run_id=run_id, key=f"{run_id}:dead:{mech.id}",
                                        reason=f"{calls} hook calls, none changed a decision")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
