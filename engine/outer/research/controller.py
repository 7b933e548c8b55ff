"""Level 2: every M iterations a research session writes a new mechanism, vets it and injects it.

Session: (1) analyze the trace, (2) hypothesize bottlenecks and pick one (impact x feasibility /
complexity), (3)+(4) specify and write the mechanism, then gate -> box with up to N repair rounds fed
by the reports. Accepted: archived and injected. Rejected: archived as such and rolled back (the
active set stays what it was). After injection the controller measures the mechanism's effect over
the next M iterations, reverts one that makes the search measurably worse, and at the end marks
`dead` every mechanism whose hooks never changed a decision.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.engine.analysis.trace_numbers import failure_rate
from bilevel_evolve.engine.llm.summary import format_history, format_space
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.decisions import Decision, Decisions, Inject, Record, Reject, Rollback
from bilevel_evolve.engine.outer.research.candidates import Candidate, ResearchInput, Scientist
from bilevel_evolve.engine.outer.research.vetting import Vetter, Vetting
from bilevel_evolve.engine.run.events import EffectMeasured, ResearchSessionEvent
from bilevel_evolve.ground.records import gain

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.view import LoopView, MechanismView
    from bilevel_evolve.ground.records import TrialRecord
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.sandbox.hosts.base import HookFailure

log = structlog.get_logger("bilevel_evolve.engine.outer.research")


class ResearchController(OuterController):
    """Its hooks are generators: the loop applies each decision as it is yielded, so what comes
    after a rollback or an injection (the active-set limit, the session's input) sees the new set."""

    name = "level2"

    def __init__(self, scientist: Scientist, archive: Archive, vetter: Vetter, *, every: int = 8,
                 repair_rounds: int = 2, max_active: int = 4) -> None:
        self.scientist = scientist
        self.archive = archive
        self.vetter = vetter
        self.every = every
        self.repair_rounds = repair_rounds
        self.max_active = max_active
        self.sessions = 0
        self.tried: list[str] = []
        self.pending: dict[str, dict[str, Any]] = {}  # mechanism id -> effect window bookkeeping

    # ---- OuterController --------------------------------------------------------------------------
    def before_step(self, view: LoopView) -> Iterator[Decision]:
        yield from self._measure_effects(view, final=False)
        if view.iteration < self.every or view.iteration % self.every:
            return
        if not view.runs_mechanisms or len(view.mechanisms) >= self.max_active:
            return
        yield from self._session(view)

    def on_rollback(self, view: LoopView, mech: MechanismView, failure: HookFailure) -> Decisions:
        self.pending.pop(mech.id, None)  # the archive side is the ArchiveBookkeeper's
        return ()

    def on_inject_failed(self, view: LoopView, inject: Inject, failure: HookFailure) -> Decisions:
        self.pending.pop(inject.mechanism, None)
        run_id = view.config.run_id
        reason = f"could not be loaded into the mechanism host: {failure.reason}"
        self.archive.set_status(inject.mechanism, "rolled-back", run_id=run_id, reason=reason,
                                key=f"{run_id}:inject-failed:{inject.mechanism}")
        return (Reject(inject.mechanism, inject.name, "rolled-back", reason),)

    def on_finish(self, view: LoopView) -> Iterator[Decision]:
        yield from self._measure_effects(view, final=True)

    def state_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "tried": self.tried, "pending": self.pending}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sessions = int(state.get("sessions", 0))
        self.tried = list(state.get("tried", []))
        self.pending = dict(state.get("pending", {}))

    # ---- one research session ---------------------------------------------------------------------
    def _session(self, view: LoopView) -> Iterator[Decision]:
        self.sessions += 1
        space = view.space
        history = view.history
        run_id = view.config.run_id
        diagnosis = diagnose(history, space, view.direction, self.every)
        data = ResearchInput(diagnosis=diagnosis, active=tuple(m.name for m in view.mechanisms),
                             tried=frozenset(self.tried), session_number=self.sessions,
                             space_text=format_space(space, view.search_config.frozen),
                             history_text=format_history(history, space), loop=view)
        hypotheses = self.scientist.hypothesize(data)
        chosen = max(hypotheses, key=lambda h: h.score) if hypotheses else None
        candidates: list[dict[str, Any]] = []
        candidate = self.scientist.write(chosen, data) if chosen else None
        rounds = 0
        while candidate is not None:
            self.tried.append(candidate.name)
            vetting = self.vetter.vet(candidate, space.to_dict(), view.direction)
            mech_id = self._archive(run_id, candidate, vetting, view.step, len(candidates))
            candidates.append({"id": mech_id, "name": candidate.name, "status": vetting.status,
                               "reason": vetting.reason, "parents": list(candidate.parents)})
            if vetting.accepted:
                self._open_effect_window(view, mech_id)
                yield Inject(mech_id, candidate.name, self.archive.source(mech_id))
                break
            yield Reject(mech_id, candidate.name, vetting.status, f"{vetting.reason} — previous mechanism set kept")
            log.warning("candidate_rejected", name=candidate.name, status=vetting.status, reason=vetting.reason)
            rounds += 1
            if rounds > self.repair_rounds:
                break
            failed = replace(candidate, notes={**candidate.notes, "id": mech_id})
            candidate = self.scientist.repair(failed, vetting.text, rounds, data)
        yield Record(ResearchSessionEvent(
            step=view.step, iteration=view.iteration, session_id=f"{run_id}/s{self.sessions}",
            source=self.scientist.origin, diagnosis=diagnosis.to_json(),
            hypotheses=tuple(h.to_json() for h in hypotheses), chosen=chosen.bottleneck if chosen else "",
            candidates=tuple(candidates)))

    def _archive(self, run_id: str, candidate: Candidate, vetting: Vetting, step: int, n: int) -> str:
        record = self.archive.add(
            candidate.source, name=candidate.name, class_name=vetting.class_name or candidate.name,
            origin=candidate.origin, parents=candidate.parents, run_id=run_id,
            session=candidate.session, gate_report=vetting.gate, box_report=vetting.box, status=vetting.status,
            reason=vetting.reason, key=f"{run_id}:session:{step}:{n}")
        return record.id

    def _open_effect_window(self, view: LoopView, mech_id: str) -> None:
        """What the search looked like at injection; _measure_effects compares M iterations later."""
        recent = view.history[-self.every:]
        window = [t.value for t in recent if t.value is not None]
        best = view.best
        self.pending[mech_id] = {"step": view.step, "iteration": view.iteration,
                                 "best_before": best.value if best else None,
                                 "median_before": statistics.median(window) if window else None,
                                 "fail_before": failure_rate(recent)}

    # ---- effect of an injected mechanism ------------------------------------------------------------
    def _measure_effects(self, view: LoopView, *, final: bool) -> Iterator[Decision]:
        for mech_id, start in list(self.pending.items()):
            done = view.iteration - start["iteration"]
            if done < self.every and not final:
                continue
            if done <= 0:
                del self.pending[mech_id]
                continue
            effect = _effect(start, view.history[-done:], view, done)
            del self.pending[mech_id]
            run_id = view.config.run_id
            self.archive.record_effect(mech_id, run_id=run_id, effect=effect, key=f"{run_id}:effect:{mech_id}")
            yield Record(EffectMeasured(step=view.step, iteration=view.iteration, mechanism=mech_id, effect=effect))
            if effect["verdict"] == "worse" and view.runs_mechanisms:
                reason = f"made the search worse: {effect['why']}"
                self.archive.set_status(mech_id, "rolled-back", run_id=run_id, reason=reason,
                                        key=f"{run_id}:reverted:{mech_id}")
                yield Rollback(mech_id, reason)


def _effect(start: dict[str, Any], after: Sequence[TrialRecord], view: LoopView, window: int) -> dict[str, Any]:
    direction = view.direction
    best_after = view.best.value if view.best else None
    before = start["best_before"]
    delta = None if before is None or best_after is None else best_after - before
    improved = before is not None and best_after is not None and gain(best_after, before, direction) > 0
    values = [t.value for t in after if t.value is not None]
    median_after = statistics.median(values) if values else None
    fail_after = failure_rate(after)
    median_before = start["median_before"]
    margin = max(view.noise_floor, 0.05 * abs(median_before or 0.0))
    worse_median = (median_before is not None and median_after is not None
                    and gain(median_after, median_before, direction) < -margin)
    worse_fail = fail_after > start["fail_before"] + 0.3
    verdict = "improved" if improved else ("worse" if worse_median or worse_fail else "neutral")
    why = ""
    if verdict == "worse":
        why = (f"failure rate {start['fail_before']:.0%} -> {fail_after:.0%}" if worse_fail else
               f"no new best, and the median trial value went {median_before:.6g} -> {median_after:.6g}")
    return {"before": before, "after": best_after, "delta": delta, "window": window,
            "median_before": median_before, "median_after": median_after, "verdict": verdict, "why": why}
