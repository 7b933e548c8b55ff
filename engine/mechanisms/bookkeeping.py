"""Keeps the archive true to what live mechanisms did: rollbacks, hook statistics, `dead`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bilevel_evolve.engine.outer.base import OuterController

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.decisions import Decisions
    from bilevel_evolve.engine.outer.view import LoopView, MechanismView
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.sandbox.hosts.base import HookFailure


class ArchiveBookkeeper(OuterController):
    """An OuterController present whenever mechanisms run, whoever wrote them (Level 2 or a user).
    It writes the archive only; the loop has already traced what it records."""

    name = "mechanisms"

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def on_rollback(self, view: LoopView, mech: MechanismView, failure: HookFailure) -> Decisions:
        run_id = view.config.run_id
        self.archive.set_status(mech.id, "rolled-back", run_id=run_id,
                                reason=f"hook {failure.hook} {failure.kind}: {failure.reason}",
                                key=f"{run_id}:rollback:{mech.id}:{view.step}")
        return ()

    def on_finish(self, view: LoopView) -> Decisions:
        run_id = view.config.run_id
        # An extended run finishes again: its later finishes record under keys of their own (the step), so the
        # archive's latest statistics are the whole run's; a crash-resumed finish still records once.
        again = f"@{view.step}" if view.config.extensions else ""
        for mech in view.mechanisms:
            stats = {h: dict(s) for h, s in mech.stats.items()}
            self.archive.record_hook_stats(mech.id, run_id=run_id, stats=stats,
                                           key=f"{run_id}:stats:{mech.id}{again}")
            if mech.changed_decisions == 0:
                self.archive.set_status(mech.id, "dead", run_id=run_id, key=f"{run_id}:dead:{mech.id}{again}",
                                        reason=f"{mech.calls} hook calls, none changed a decision")
        return ()

    def on_extend(self, view: LoopView) -> Decisions:
        """The finish marked `dead` the mechanisms that had changed no decision; they are live again."""
        run_id = view.config.run_id
        for mech in view.mechanisms:
            if mech.changed_decisions == 0:
                self.archive.set_status(mech.id, "accepted", run_id=run_id, key=f"{run_id}:live:{mech.id}@{view.step}",
                                        reason=f"live again: the run was extended at step {view.step}")
        return ()
