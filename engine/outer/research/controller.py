"""Level 2: research sessions that reuse what earlier runs proved, then write, vet and inject new mechanisms.

When: every M iterations (--level2-every), or with --level2-trigger need when the trace calls for one; the
first one at the first iteration where the space has choices or ints of few values (need.py). A session
first reuses: the next mechanism the archive proved for this domain or a similar space
(engine/outer/research/memory.py) is injected as it was vetted. With none left it researches: (1) analyze
the trace, (2) hypothesize bottlenecks and pick one (the critique's impact x feasibility / complexity, or
a bandit over the archived effects of the recipe families: ranking.py), (3)+(4) specify and write the
mechanism, as a child of archived parents where the archive has some to build on (evolution.py), then gate
-> box with up to N repair rounds fed by the reports. Accepted: archived and injected. Rejected: archived
as such and rolled back (the active set stays what it was). After injection the controller measures the
mechanism's effect over the next M iterations (effect_window.py), records it with its score and scope for
later runs, reverts one that makes the search measurably worse (a mechanism the archive proved is reverted
only when failures rose: one window's median is one more measurement of it, not evidence against a proof
over runs), and at the end marks `dead` every mechanism whose hooks never changed a decision.

Before all that, at its first iteration, a run recalls its task (recall.py): where earlier runs on the
same domain and space recorded results, a recall mechanism proposes their best points first. At its
finish the run records its own result for the runs after it. The recall takes no place among the
--max-active mechanisms and counts as no session (the scientist's agenda is the same with or without it).

A run whose archive holds nothing from earlier runs (a fresh one, or --no-reuse) decides exactly as
sessions did before the archive had a memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog

from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.engine.llm.summary import format_history, format_space
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.decisions import Decision, Decisions, Inject, Record, Reject, Rollback
from bilevel_evolve.engine.outer.research import effect_window
from bilevel_evolve.engine.outer.research.candidates import Candidate, ResearchInput, Scientist
from bilevel_evolve.engine.outer.research.evolution import FRESH, SessionPlan, plan_session
from bilevel_evolve.engine.outer.research.memory import ArchivedMechanism, ArchiveMemory
from bilevel_evolve.engine.outer.research.need import Need, opening_need, session_need
from bilevel_evolve.engine.outer.research.ranking import rank
from bilevel_evolve.engine.outer.research.recall import RECALL, recall_source, recalled_points, run_result
from bilevel_evolve.engine.outer.research.recipes import find_recipe, recipe_source
from bilevel_evolve.engine.outer.research.vetting import Vetter, Vetting
from bilevel_evolve.engine.run.events import EffectMeasured, ResearchSessionEvent
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.mechanism_archive.effects import Scope, scope_of
from bilevel_evolve.mechanism_archive.models import RECALLED

if TYPE_CHECKING:
    from bilevel_evolve.engine.analysis.diagnosis import Diagnosis
    from bilevel_evolve.engine.outer.research.candidates import Hypothesis
    from bilevel_evolve.engine.outer.view import LoopView, MechanismView
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.sandbox.hosts.base import HookFailure

log = structlog.get_logger("bilevel_evolve.engine.outer.research")
_PERIODIC = Need("")  # the every-M trigger: no reason recorded, as before the need trigger existed


@dataclass(frozen=True)
class _Session:
    """One session's setting: the loop, why it was called and what it diagnosed."""

    view: LoopView
    diagnosis: Diagnosis
    recorded_diagnosis: dict[str, Any]
    session_id: str


class ResearchController(OuterController):
    """Its hooks are generators: the loop applies each decision as it is yielded, so what comes
    after a rollback or an injection (the active-set limit, the session's input) sees the new set."""

    name = "level2"

    def __init__(self, scientist: Scientist, archive: Archive, vetter: Vetter, *, every: int = 8,
                 repair_rounds: int = 2, max_active: int = 4, recall: bool = True) -> None:
        self.scientist = scientist
        self.archive = archive
        self.vetter = vetter
        self.every = every
        self.repair_rounds = repair_rounds
        self.max_active = max_active
        self.recall = recall  # whether runs leave their best points and recall earlier runs' (False: a text run)
        self.sessions = 0
        self.tried: list[str] = []
        self.pending: dict[str, dict[str, Any]] = {}  # mechanism id -> effect window bookkeeping
        self.seen: list[str] = []  # every mechanism this controller archived or reused in this run
        self.last_session = 0  # the iteration of the latest session (the need trigger's gap)
        self.injected_at: dict[str, int] = {}  # mechanism id -> the iteration it went live
        self.verdicts: dict[str, str] = {}  # mechanism id -> its measured effect's verdict in this run
        self.answered: list[str] = []  # mechanisms that stopped paying and have had their session
        # Windows the run's finish measured before their M iterations were up (or could not measure: a
        # mechanism injected at the last step): an extension of the run reopens those of live mechanisms.
        self.cut_short: dict[str, dict[str, Any]] = {}
        self.reopened: list[str] = []  # their effect is recorded again, under a key of its own
        self.recalled = False  # whether the run's first iteration has looked for earlier runs' results
        self.recall_id: str | None = None  # the recall mechanism, when one went live
        self._memory: ArchiveMemory | None = None  # read at the first session: fixed by the run's horizon
        self._scope: Scope | None = None

    # ---- OuterController --------------------------------------------------------------------------
    def before_step(self, view: LoopView) -> Iterator[Decision]:
        yield from self._measure_effects(view, final=False)
        if self.recall and not self.recalled and view.runs_mechanisms:
            self.recalled = True
            yield from self._recall(view)
        need = self._due(view)
        if need is None:
            return
        searching = [m for m in view.mechanisms if m.id != self.recall_id]
        if not view.runs_mechanisms or len(searching) >= self.max_active:
            return
        yield from self._session(view, need)

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
        if self.recall:  # first, so the final effects come after it: a run's horizon past them reads it (index.py)
            self.archive.record_result(view.config.run_id, self._scope_of(view), run_result(view),
                                       key=f"{view.config.run_id}:result@{view.step}")
        self.cut_short = {mech_id: start for mech_id, start in self.pending.items()
                          if view.iteration - start["iteration"] < self.every}
        yield from self._measure_effects(view, final=True)

    def on_extend(self, view: LoopView) -> Decisions:
        """The run goes on past its finish: a live mechanism's window that the finish cut short is open again,
        so its effect is measured over M iterations, as in a run that had been this long from the start."""
        live = {m.id for m in view.mechanisms}
        for mech_id, start in self.cut_short.items():
            if mech_id in live:
                self.pending[mech_id] = start
                self.reopened.append(mech_id)
        self.cut_short = {}
        return ()

    def state_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "tried": self.tried, "pending": self.pending, "seen": self.seen,
                "last_session": self.last_session, "injected_at": self.injected_at, "verdicts": self.verdicts,
                "answered": self.answered, "recalled": self.recalled, "recall_id": self.recall_id} | (
                    {"cut_short": self.cut_short} if self.cut_short else {}) | (
                    {"reopened": self.reopened} if self.reopened else {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sessions = int(state.get("sessions", 0))
        self.tried = list(state.get("tried", []))
        self.pending = dict(state.get("pending", {}))
        self.seen = list(state.get("seen", []))
        self.last_session = int(state.get("last_session", 0))
        self.injected_at = {str(k): int(v) for k, v in dict(state.get("injected_at", {})).items()}
        self.verdicts = {str(k): str(v) for k, v in dict(state.get("verdicts", {})).items()}
        self.answered = list(state.get("answered", []))
        self.recalled = bool(state.get("recalled", True))  # a run checkpointed before recall existed: none
        recall_id = state.get("recall_id")
        self.recall_id = str(recall_id) if recall_id else None
        self.cut_short = dict(state.get("cut_short", {}))
        self.reopened = list(state.get("reopened", []))

    # ---- when ---------------------------------------------------------------------------------------
    def _due(self, view: LoopView) -> Need | None:
        if self.sessions == 0 and view.iteration >= 1:
            opening = opening_need(view.space, view.search_config.frozen)
            if opening is not None:
                return opening
        if view.config.level2_trigger == "every":
            return None if view.iteration < self.every or view.iteration % self.every else _PERIODIC
        return session_need(view.history, view.space, view.direction, iteration=view.iteration, every=self.every,
                            last_session=self.last_session, mechanisms=view.mechanisms,
                            injected_at=self.injected_at, verdicts=self.verdicts, answered=self.answered)

    def _scope_of(self, view: LoopView) -> Scope:
        if self._scope is None:
            self._scope = scope_of(view.config.domain, view.space.to_dict())
        return self._scope

    def _effect_scope(self, view: LoopView) -> Scope:
        """Where this run's effects are measured and read: its scope, and whether it began with a recall."""
        scope = self._scope_of(view)
        return replace(scope, start=RECALLED) if self.recall_id else scope

    @staticmethod
    def _horizon(view: LoopView) -> int | None:
        """How far this run reads earlier runs in the archive (None: not at all, as with --no-reuse)."""
        return None if view.config.no_reuse else view.config.archive_horizon

    def _memory_of(self, view: LoopView) -> ArchiveMemory:
        if self._memory is None:
            self._memory = ArchiveMemory.load(self.archive, self._effect_scope(view), self._horizon(view))
        return self._memory

    # ---- recall: earlier runs' best points on this task --------------------------------------------
    def _recall(self, view: LoopView) -> Iterator[Decision]:
        horizon = self._horizon(view)
        if horizon is None:
            return
        points = recalled_points(self.archive.results(self._scope_of(view), horizon=horizon), view.space,
                                 view.direction)
        if not points:
            return
        runs = [p.to_json() for p in points]
        session = {"family": RECALL, "recipe": RECALL, "recalled": runs,
                   "description": f"the best point of each of {len(points)} earlier runs on this task, "
                                  "proposed once each"}
        candidate = Candidate(name=RECALL, source=recall_source(points), origin="offline-recipe", session=session)
        vetting = self.vetter.vet(candidate, view.space.to_dict(), view.direction)
        mech_id = self._archive(view.config.run_id, candidate, vetting, view.step, 0, what="recall")
        self.seen.append(mech_id)
        entry: dict[str, Any] = {"id": mech_id, "name": RECALL, "status": vetting.status, "reason": vetting.reason,
                                 "parents": [], "recalled": runs}
        if vetting.accepted:
            self.recall_id = mech_id
            self._open_effect_window(view, mech_id)
            yield Inject(mech_id, RECALL, self.archive.source(mech_id))
        else:
            yield Reject(mech_id, RECALL, vetting.status, f"{vetting.reason} — the run starts without its recall")
        yield Record(ResearchSessionEvent(
            step=view.step, iteration=view.iteration, session_id=f"{view.config.run_id}/recall",
            source=self.scientist.origin, diagnosis={}, hypotheses=(),
            chosen=f"recall: {len(points)} points from earlier runs", candidates=(entry,)))

    # ---- one research session ---------------------------------------------------------------------
    def _session(self, view: LoopView, need: Need) -> Iterator[Decision]:
        self.sessions += 1
        self.last_session = view.iteration
        if need.mechanism is not None:
            self.answered.append(need.mechanism)
        diagnosis = diagnose(view.history, view.space, view.direction, self.every)
        recorded = diagnosis.to_json() | ({"trigger": need.reason} if need.reason else {})
        at = _Session(view, diagnosis, recorded, f"{view.config.run_id}/s{self.sessions}")
        memory = self._memory_of(view)
        proven = self._next_proven(view, memory)
        if proven is not None:
            yield from self._reuse(at, proven)
        else:
            yield from self._research(at, memory)

    def _next_proven(self, view: LoopView, memory: ArchiveMemory) -> ArchivedMechanism | None:
        """The surest proven mechanism this run has not had yet (from the controller's own state, so a
        session repeated after a crash decides as it did)."""
        active = {m.id for m in view.mechanisms}
        return next((m for m in memory.proven if m.id not in active and m.id not in self.seen), None)

    def _proven(self, mech_id: str) -> ArchivedMechanism | None:
        """The archive's proof for a mechanism this run reused, if it is one."""
        memory = self._memory
        return next((m for m in memory.proven if m.id == mech_id), None) if memory is not None else None

    def _reuse(self, at: _Session, mech: ArchivedMechanism) -> Iterator[Decision]:
        view = at.view
        run_id = view.config.run_id
        self.seen.append(mech.id)
        self._tried(mech.name, mech.family)
        where = "a similar space" if mech.similar_space else view.config.domain
        reason = f"reused: proven on {where}, effect {mech.estimate.describe()}"
        self.archive.set_status(mech.id, "accepted", run_id=run_id, reason=reason, key=f"{run_id}:reused:{mech.id}")
        self._open_effect_window(view, mech.id)
        yield Inject(mech.id, mech.name, self.archive.source(mech.id))
        yield Record(ResearchSessionEvent(
            step=view.step, iteration=view.iteration, session_id=at.session_id, source=self.scientist.origin,
            diagnosis=at.recorded_diagnosis, hypotheses=(), chosen=f"reuse: {mech.name}",
            candidates=({"id": mech.id, "name": mech.name, "status": "accepted", "reason": reason, "parents": [],
                         "reused": True, "estimate": mech.to_json()},)))

    def _research(self, at: _Session, memory: ArchiveMemory) -> Iterator[Decision]:
        view = at.view
        space = view.space
        data = ResearchInput(diagnosis=at.diagnosis, active=tuple(m.name for m in view.mechanisms),
                             tried=frozenset(self.tried), session_number=self.sessions,
                             space_text=format_space(space, view.search_config.frozen),
                             history_text=format_history(view.history, space), loop=view,
                             memory=None if memory.empty else memory)
        hypotheses = self.scientist.hypothesize(data)
        ranking = rank(hypotheses, memory.family_scores)
        chosen = ranking.chosen
        plan = self._plan(view, chosen, memory) if chosen else FRESH
        if plan.mode != "fresh":
            data = replace(data, plan=plan)
        candidates: list[dict[str, Any]] = []
        candidate = self.scientist.write(chosen, data) if chosen else None
        rounds = 0
        while candidate is not None:
            self._tried(candidate.name, str(candidate.session.get("family") or candidate.name))
            vetting = self.vetter.vet(candidate, space.to_dict(), view.direction)
            mech_id = self._archive(view.config.run_id, candidate, vetting, view.step, len(candidates), what="session")
            self.seen.append(mech_id)
            entry: dict[str, Any] = {"id": mech_id, "name": candidate.name, "status": vetting.status,
                                     "reason": vetting.reason, "parents": list(candidate.parents)}
            if "mode" in candidate.session:
                entry["mode"] = candidate.session["mode"]
            candidates.append(entry)
            if vetting.accepted and mech_id in {m.id for m in view.mechanisms}:
                entry["reason"] = "the same source as an active mechanism: nothing to inject"
                break
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
            candidate = self.scientist.repair(failed, vetting.repair_text or vetting.text, rounds, data)
        recorded = tuple(h.to_json() | ranking.recorded(h) for h in hypotheses)
        yield Record(ResearchSessionEvent(
            step=view.step, iteration=view.iteration, session_id=at.session_id, source=self.scientist.origin,
            diagnosis=at.recorded_diagnosis, hypotheses=recorded, chosen=chosen.bottleneck if chosen else "",
            candidates=tuple(candidates)))

    def _plan(self, view: LoopView, chosen: Hypothesis, memory: ArchiveMemory) -> SessionPlan:
        if not memory.parents:
            return FRESH
        return plan_session(chosen, memory.parents, active=[m.id for m in view.mechanisms],
                            measured=memory.family_scores.keys(), seed=f"horizon {view.config.archive_horizon}",
                            recipe_id=self._archived_recipe(chosen.recipe))

    def _archived_recipe(self, name: str | None) -> str | None:
        recipe = find_recipe(name) if name else None
        if recipe is None:
            return None
        mid = MechanismSource(recipe_source(recipe)).sha256
        return mid if mid in self.archive else None

    def _tried(self, name: str, family: str) -> None:
        self.tried += [name] if family == name else [name, family]

    def _archive(self, run_id: str, candidate: Candidate, vetting: Vetting, step: int, n: int, *, what: str) -> str:
        record = self.archive.add(
            candidate.source, name=candidate.name, class_name=vetting.class_name or candidate.name,
            origin=candidate.origin, parents=candidate.parents, run_id=run_id,
            session=candidate.session, gate_report=vetting.gate, box_report=vetting.box, status=vetting.status,
            reason=vetting.reason, key=f"{run_id}:{what}:{step}:{n}")
        return record.id

    def _open_effect_window(self, view: LoopView, mech_id: str) -> None:
        """What the search looked like at injection; _measure_effects compares M iterations later."""
        self.pending[mech_id] = effect_window.open_window(view, self.every)
        self.injected_at[mech_id] = view.iteration

    # ---- effect of an injected mechanism ------------------------------------------------------------
    def _measure_effects(self, view: LoopView, *, final: bool) -> Iterator[Decision]:
        for mech_id, start in list(self.pending.items()):
            done = view.iteration - start["iteration"]
            if done < self.every and not final:
                continue
            if done <= 0:
                del self.pending[mech_id]
                continue
            effect = effect_window.measure(start, view.history[-done:], view, done)
            del self.pending[mech_id]
            self.verdicts[mech_id] = effect["verdict"]
            run_id = view.config.run_id
            # the archive's record also says where it was measured and how it compares across runs
            recorded = {**effect, "score": effect_window.score(start, effect, view),
                        "scope": self._effect_scope(view).to_json()}
            again = f"@{view.step}" if mech_id in self.reopened else ""  # the latest effect of a run is the one read
            self.archive.record_effect(mech_id, run_id=run_id, effect=recorded,
                                       key=f"{run_id}:effect:{mech_id}{again}")
            proven = self._proven(mech_id)
            if effect["verdict"] == "worse" and effect.get("cause") == "median" and proven is not None:
                effect = {**effect, "kept": f"proven over {proven.estimate.runs} runs: one window is a hint"}
            yield Record(EffectMeasured(step=view.step, iteration=view.iteration, mechanism=mech_id, effect=effect))
            if effect["verdict"] == "worse" and view.runs_mechanisms and "kept" not in effect:
                reason = f"made the search worse: {effect['why']}"
                self.archive.set_status(mech_id, "rolled-back", run_id=run_id, reason=reason,
                                        key=f"{run_id}:reverted:{mech_id}")
                yield Rollback(mech_id, reason)
