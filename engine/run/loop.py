"""Level 1: propose -> execute -> evaluate -> keep/discard, one checkpointed step at a time.

With N workers, N steps are in flight: proposed, their trials running, decided one at a time in
proposal order (engine.run.scheduler says what each step sees).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.engine.agents.base import Agent, start_point
from bilevel_evolve.engine.agents.batch import propose_many
from bilevel_evolve.engine.analysis.trace_numbers import baseline_reference
from bilevel_evolve.engine.mechanisms.active_set import ActiveMechanism, MechanismSet
from bilevel_evolve.engine.mechanisms.budget import HookBudget
from bilevel_evolve.engine.mechanisms.model import MechanismModel
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.view import LoopView, MechanismView
from bilevel_evolve.engine.run.acceptance import AcceptanceRule, noise_floor
from bilevel_evolve.engine.run.events import (
    DecisionMade,
    Event,
    MechanismInjected,
    MechanismRolledBack,
    NoiseFloorMeasured,
    ProposalMade,
    RunExtended,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStopped,
    TrialFinished,
)
from bilevel_evolve.engine.run.executors import InlineExecutor, TrialExecutor, TrialJob
from bilevel_evolve.engine.run.fail_fast import FailFast
from bilevel_evolve.engine.run.journal import FinishedJournal
from bilevel_evolve.engine.run.loop_checkpoint import LoopCheckpoint
from bilevel_evolve.engine.run.loop_state import LoopState, loggable, rebuild_state, trial_seed
from bilevel_evolve.engine.run.outer_decisions import OuterDecisions
from bilevel_evolve.engine.run.scheduler import InFlight, TrialScheduler, recovered_results
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError, InvalidAgentOutput, RunDirError, SpaceError
from bilevel_evolve.ground.records import (
    Hints,
    Proposal,
    SearchContext,
    TrialRecord,
    TrialResult,
    TrialStatus,
)
from bilevel_evolve.sandbox.hosts.base import HookFailure, MechanismHost

log = structlog.get_logger("bilevel_evolve.engine.run.loop")

MAX_AGENT_FAILURES = 3  # consecutive unusable proposer answers before the run stops (resumable)
StepCallback = Callable[[int, int, TrialRecord, "TrialRecord | None"], None]


@dataclass
class LoopOutcome:
    status: str
    steps: int
    best: TrialRecord | None


class InnerLoop(OuterDecisions, LoopCheckpoint):
    def __init__(self, store: RunStore, config: RunConfig, domain: Domain, agent: Agent,
                 on_step: StepCallback | None = None, *, mechanism_host: MechanismHost | None = None,
                 outer: Sequence[OuterController] = (),
                 mechanism_source: Callable[[str], MechanismSource] | None = None,
                 fail_fast: FailFast | None = None, mechanism_model: MechanismModel | None = None) -> None:
        self.store = store
        self.config = config
        self.domain = domain
        self.agent = agent
        self.on_step = on_step
        self.mechanisms = None if mechanism_host is None else MechanismSet(
            mechanism_host, config.seed, self._emit, on_rollback=self._rolled_back, budget=HookBudget.of(config),
            model=mechanism_model)
        self.outer = list(outer)
        self.mechanism_source = mechanism_source
        self.fail_fast = fail_fast
        self.state = LoopState()
        self.scheduler = TrialScheduler(InlineExecutor(domain), FinishedJournal(store.path))
        self._batch: list[Proposal] = []  # the rest of a batch the proposer gave (several workers starting)
        self._batch_hints = Hints()
        self._outer_done_step = -1
        self._step_now = 0
        self._agent_failures = 0
        self._extensions_traced = 0  # of config.extensions: those the trace holds a run_extended event of
        self._log = log.bind(run_id=config.run_id)

    def run_trials_on(self, executor: TrialExecutor) -> None:
        """Where the trials run (the default: inline, one worker); set before start or resume."""
        self.scheduler.executor = executor

    # ---- start / resume ---------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        self._emit(RunStarted(run_id=cfg.run_id, domain=cfg.domain, direction=self.domain.direction,
                              agent=cfg.agent, levels=cfg.levels,
                              seed=cfg.seed, iterations=cfg.iterations,
                              space=self.domain.space.to_dict()))
        self._extensions_traced = len(cfg.extensions)  # raised before the first step: run_started says it all
        self._inject_user_mechanisms()
        self._checkpoint(force_durable=True)

    def _inject_user_mechanisms(self) -> None:
        """Mechanisms given with --mechanism (already vetted and archived) are live from step 0."""
        if self.mechanisms is None or not self.config.mechanisms:
            return
        if self.mechanism_source is None:
            raise RunDirError("user mechanisms need the archive they were vetted into", "pass --archive")
        for mech_id in self.config.mechanisms:
            mech = self.mechanisms.add(mech_id, self.mechanism_source(mech_id), 0)
            self._emit(MechanismInjected(step=0, iteration=0, mechanism=mech_id, name=mech.name,
                                         active=self.mechanisms.ids()))

    def resume(self) -> None:
        checkpoint = self.store.load_checkpoint()
        if checkpoint is None:  # crashed before the first checkpoint: nothing ran yet
            self.store.rewind_trace(0)
            self.start()
            return
        kept, tail = self.store.rewind_trace(checkpoint.trace_lines)
        self.state = rebuild_state(kept, checkpoint, self.domain.direction)
        self.agent.load_state_dict(checkpoint.agent_state)
        self._restore_outer(checkpoint.extra)
        stopped = any(isinstance(e, RunStopped) for e in tail)  # the failed trial runs again after the fix
        recovered = {} if stopped else recovered_results(tail, self.scheduler.journal, checkpoint.steps_done)
        self.scheduler.restore(checkpoint.extra.get("in_flight", []), recovered, self._job)
        self._trace_extensions(int(checkpoint.extra.get("extensions", 0)), checkpoint.steps_done,
                               finished=checkpoint.status != "running")
        self._emit(RunResumed(step=checkpoint.steps_done, discarded_events=len(tail),
                              recovered_trials=len(recovered)))
        self._checkpoint(force_durable=True)
        self._log.info("resumed", step=checkpoint.steps_done, discarded=len(tail), recoverable=len(recovered))

    def _trace_extensions(self, traced: int, step: int, *, finished: bool) -> None:
        """Trace each raise of the run's limits that config.json records and the kept trace does not: the
        extension starts here (a finished run's controllers are told). The checkpoint right after counts
        them; a crash before it discards these lines with the tail, and the next resume writes them again."""
        new = self.config.extensions[traced:]
        for ext in new:
            self._emit(RunExtended(step=step, at=ext.at, iterations_before=ext.iterations_before,
                                   iterations=ext.iterations, max_cost_before=ext.max_cost_before,
                                   max_cost_usd=ext.max_cost_usd))
            self._log.info("extended", step=step, iterations_before=ext.iterations_before, iterations=ext.iterations,
                           max_cost_before=ext.max_cost_before, max_cost_usd=ext.max_cost_usd)
        self._extensions_traced = max(traced, len(self.config.extensions))
        if new and finished:
            view = LoopView(self, step, self._iteration_of(step))
            for controller in self.outer:
                self._apply_all(controller, controller.on_extend(view), view)

    # ---- the loop ------------------------------------------------------------------------------
    def run(self) -> LoopOutcome:
        total = self.config.total_steps
        while self.state.steps_done < total:
            record = self.advance()
            if self.on_step:
                self.on_step(self.state.steps_done, total, record, self.state.best)
        return self.finish("completed")

    def finish(self, status: str) -> LoopOutcome:
        done = self.state.steps_done
        view = LoopView(self, done, max(0, done - self.config.baseline_steps))  # the iterations run
        for controller in self.outer:
            self._apply_all(controller, controller.on_finish(view), view)
        best = self.state.best
        self._emit(RunFinished(status=status, steps=self.state.steps_done,  # type: ignore[arg-type]
                               best_value=best.value if best else None,
                               best_params=dict(best.params) if best else None))
        self._checkpoint(status=status, force_durable=True)
        return LoopOutcome(status, self.state.steps_done, best)

    def context(self, iteration: int) -> SearchContext:
        s = self.state
        return SearchContext(space=self.domain.space, direction=self.domain.direction, iteration=iteration,
                             history=tuple(s.history), incumbent=s.incumbent, config=s.search_config,
                             pending=self.scheduler.pending())

    def advance(self) -> TrialRecord:
        """One step of the run: propose what the workers can take, then decide the oldest step in flight."""
        self._propose_ahead(self.config.total_steps)
        return self._settle_next()

    def _propose_ahead(self, total: int) -> None:
        """Propose every step a worker can take now: up to steps_done + workers (engine.run.scheduler)."""
        end = min(total, self.state.steps_done + self.config.workers)
        while (step := self.scheduler.next_step(self.state.steps_done)) < end:
            self._propose(step, end)

    def _propose(self, step: int, end: int) -> None:
        """Propose step (the proposer asked for the steps up to end at once when it starts a batch) and
        put it in flight: its trial starts now."""
        baseline = step < self.config.baseline_steps
        iteration = self._iteration_of(step)
        self._step_now = step
        if not baseline and self._before_step(step, iteration):
            self._batch = []  # the outer levels changed the search: proposals asked before that are dropped
        mechs = self._live_mechanisms(baseline)
        ctx = self.context(iteration)
        skip: tuple[TrialStatus, str] | None = None  # a step that runs no trial: (status, why)
        if baseline:
            proposal = Proposal(params=self.domain.space.defaults(), source="baseline",
                                rationale="baseline: the space's defaults")
        else:
            if self._batch:
                ctx = replace(ctx, hints=self._batch_hints)
                proposal = self._batch.pop(0)
            else:
                if mechs:
                    ctx = replace(ctx, hints=mechs.guide(ctx, step))
                proposal, skip = self._ask(ctx, end - step)
            if mechs and skip is None:
                proposal = mechs.propose(ctx, proposal, step)
                proposal, rejection = mechs.review(ctx, proposal, step)
                skip = ("rejected", rejection) if rejection else None
        self._admit(step, iteration, baseline, proposal, skip, ctx.hints)

    def _before_step(self, step: int, iteration: int) -> bool:
        """The outer levels, once per step; True when they acted (then it is checkpointed at once)."""
        if not self.outer or self._outer_done_step >= step:
            return False
        traced = self.store.trace_lines
        view = LoopView(self, step, iteration)
        for controller in self.outer:
            self._apply_all(controller, controller.before_step(view), view)
        self._outer_done_step = step
        acted = self.store.trace_lines > traced  # every decision is traced
        if acted:
            self._checkpoint()
        return acted

    def _ask(self, ctx: SearchContext, n: int) -> tuple[Proposal, tuple[TrialStatus, str] | None]:
        """The proposer's point for this step; with n > 1 it proposes the next n steps at once (a batch)."""
        try:
            first, *rest = propose_many(self.agent, ctx, n)
        except InvalidAgentOutput as exc:  # e.g. an LLM answer still not JSON after the repair
            self._agent_failures += 1
            if self._agent_failures >= MAX_AGENT_FAILURES:  # not a bad answer: a broken set-up
                raise EvolveError(f"the proposer failed {self._agent_failures} times in a row; last: "
                                  f"{exc.problem}", "check the model and endpoint, then `evolve resume` "
                                  "the run (nothing is lost)") from None
            unusable = f"the proposer's answer was unusable: {exc.problem}"
            return Proposal(params=start_point(ctx), source=self.agent.name, rationale=unusable), ("invalid", unusable)
        self._agent_failures = 0
        self._batch, self._batch_hints = rest, ctx.hints
        return first, None

    def _admit(self, step: int, iteration: int, baseline: bool, proposal: Proposal,
               skip: tuple[TrialStatus, str] | None, hints: Hints) -> None:
        """Validate and trace the proposal, and put its step in flight."""
        try:
            params = self.domain.space.validate_params(proposal.params)
        except SpaceError as exc:
            self._emit(ProposalMade(step=step, iteration=iteration, params=loggable(proposal.params),
                                    source=proposal.source, rationale=proposal.rationale, valid=False,
                                    problem=exc.problem))
            self.scheduler.add(InFlight(step, iteration, baseline, {}, proposal.source, hints,
                                        preset=TrialResult(status="invalid", message=exc.problem)), None)
            return
        self._emit(ProposalMade(step=step, iteration=iteration, params=params, source=proposal.source,
                                rationale=proposal.rationale))
        # vetoed on review, or the proposer failed: nothing runs
        preset = None if skip is None else TrialResult(status=skip[0], message=skip[1])
        entry = InFlight(step, iteration, baseline, params, proposal.source, hints, preset)
        self.scheduler.add(entry, self._job(entry) if entry.runs else None)

    def _job(self, entry: InFlight) -> TrialJob:
        return TrialJob(entry.step, entry.params, trial_seed(self.config.seed, entry.step),
                        self.store.trial_dir(entry.step))

    def _settle_next(self) -> TrialRecord:
        """Decide the oldest step in flight, once its trial has finished."""
        step = self.state.steps_done
        self._step_now = step
        settled = self.scheduler.settle(step)
        entry, result = settled.entry, settled.result
        self._emit_trial(step, entry.iteration, entry.params, result, entry.source, recovered=settled.recovered)
        self._stop_if_failing(step, entry.iteration, entry.baseline, result)
        ctx = replace(self.context(entry.iteration), hints=entry.hints)  # as it is now, with the step's hints
        record = self._decide(step, entry.iteration, entry.params, result, entry.source, entry.baseline, ctx,
                              self._live_mechanisms(entry.baseline))
        self.state.steps_done = step + 1
        self._checkpoint()
        return record

    def _stop_if_failing(self, step: int, iteration: int, baseline: bool, result: TrialResult) -> None:
        """Fail fast (engine.run.fail_fast): raise before this step is checkpointed, so a resume redoes it."""
        if self.fail_fast is None or result.status == "ok":  # the common case: no path to look up
            return
        trial_dir = self.store.trial_dir(step)
        stop = self.fail_fast.check(step, baseline, result, self.state.history, trial_dir)
        if stop is not None:
            self._emit(RunStopped(step=step, iteration=iteration, reason=stop.reason, trial_dir=str(trial_dir),
                                  fix=stop.fix or ""))
            raise stop

    def _live_mechanisms(self, baseline: bool) -> MechanismSet | None:
        m = self.mechanisms
        if baseline or m is None or not m.active or not self.state.search_config.mechanisms_enabled:
            return None
        return m

    def _iteration_of(self, step: int) -> int:
        return max(0, step - self.config.baseline_steps + 1)  # baseline steps are iteration 0

    def _rolled_back(self, mech: ActiveMechanism, failure: HookFailure) -> None:
        """The mechanism set took out a mechanism whose hook failed: trace it, tell the controllers."""
        view = LoopView(self, self._step_now, self._iteration_of(self._step_now))
        self._log.warning("mechanism_rolled_back", mechanism=mech.name, hook=failure.hook, reason=failure.reason)
        self._emit(MechanismRolledBack(step=view.step, iteration=view.iteration, mechanism=mech.id, name=mech.name,
                                       status="rolled-back", reason=f"hook {failure.hook} {failure.kind}: "
                                       f"{failure.reason}", active=self._active_ids()))
        gone = MechanismView.of(mech)
        for controller in self.outer:
            self._apply_all(controller, controller.on_rollback(view, gone, failure), view)

    def _emit_trial(self, step: int, iteration: int, params: dict, result: TrialResult, source: str,
                    recovered: bool = False) -> None:
        self._emit(TrialFinished(step=step, iteration=iteration, params=params, status=result.status,
                                 value=result.value, duration_s=result.duration_s, source=source,
                                 message=result.message, metrics=result.metrics, recovered=recovered,
                                 reason=result.reason))

    def _decide(self, step: int, iteration: int, params: dict, result: TrialResult, source: str,
                baseline: bool, ctx: SearchContext, mechs: MechanismSet | None) -> TrialRecord:
        s = self.state
        rule = AcceptanceRule(self.domain.direction, s.noise_floor)
        accepted, reason = rule.judge(result.value, result.status, s.incumbent)
        if baseline and result.status == "ok":
            accepted, reason = s.incumbent is None, "baseline"
        record = TrialRecord(iteration=iteration, params=params, status=result.status, value=result.value,
                             accepted=accepted, source=source, duration_s=result.duration_s, reason=result.reason)
        overridden_by = None
        if mechs:
            mechs.observe(ctx, record, step)
            final, overridden_by = mechs.accept(ctx, record, step)
            if overridden_by:
                reason = f"{'kept' if final else 'discarded'} by mechanism {overridden_by} ({reason})"
                record = record.model_copy(update={"accepted": final})
        s.append(record, self.domain.direction)
        if record.accepted:
            s.incumbent_step = len(s.history) - 1
        if baseline and step == self.config.baseline_steps - 1 and self.config.acceptance == "noise-aware":
            self._set_noise_floor()
        self._emit(DecisionMade(step=step, iteration=iteration, accepted=record.accepted, reason=reason,
                                value=result.value, incumbent_value=s.incumbent.value if s.incumbent else None,
                                best_value=s.best.value if s.best else None,
                                incumbent_step=s.incumbent_step, overridden_by=overridden_by))
        self._log.info("trial", step=step, iteration=iteration, status=result.status, value=result.value,
                       accepted=record.accepted, reason=reason)
        return record

    def _set_noise_floor(self) -> None:
        s = self.state
        baseline = [t for t in s.history if t.source == "baseline"]
        values = [t.value for t in baseline if t.value is not None]
        s.noise_floor = noise_floor(values, self.config.noise_multiplier)
        reference = baseline_reference(baseline)
        if reference is not None:  # the incumbent is the median baseline run, not a lucky one
            s.incumbent_step = next(i for i, t in enumerate(s.history) if t.source == "baseline"
                                    and t.value == reference)
        self._emit(NoiseFloorMeasured(values=tuple(values), floor=s.noise_floor))

    def _emit(self, event: Event) -> None:
        self.store.append(event)
