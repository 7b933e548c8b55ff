"""Level 1.5: every K iterations, read the trace and change the inner loop's search configuration.

The control surface is SearchConfig (frozen/focus parameters, strategy, step scale, guidance,
mechanisms on/off). Every change is a ConfigChanged event carrying its reason. Two analysts:
the offline one applies fixed rules to the diagnosis; the LLM one is asked with a prompt file.

Whichever analyst decided it, a change is measured: at the next cycle the controller compares the K
iterations after it with the K before it (engine/outer/level15_window.py) and, when the window after
measured worse (the search had found a new best, by more than the noise floor, before the change and
found none after it, or the failure rate rose by more than 30 points), it changes the configuration
back, with that reason, and does not make the same change again in the run. A cycle that reverts
decides nothing else, so the configuration it restores gets its own window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.engine.analysis.diagnosis import Diagnosis, diagnose
from bilevel_evolve.engine.outer import level15_window
from bilevel_evolve.engine.outer.base import OuterController, cycle_due
from bilevel_evolve.engine.outer.decisions import ChangeConfig, Decisions
from bilevel_evolve.ground.records import Direction, SearchConfig, Strategy, TrialRecord, gain

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.outer.view import LoopView

MAX_NEW_FREEZES = 5
MIN_ACTIVE = 4
FREEZE_EVIDENCE = 8  # trials of a parameter, none kept, before the offline analyst freezes it
SUCCESS_TARGET = 0.2  # the 1/5 success rule of the offline analyst's step scale
STEP_FACTOR = 1.5
STEP_RANGE = (0.1, 4.0)
MAX_REMEMBERED = 16  # reverted configurations remembered per run


class ConfigDecision(BaseModel):
    """What an analyst answers (also the LLM's JSON schema)."""

    model_config = ConfigDict(extra="forbid")
    diagnosis: str
    strategy: Strategy
    freeze: list[str] = Field(default_factory=list)
    unfreeze: list[str] = Field(default_factory=list)
    focus: list[str] = Field(default_factory=list)
    step_scale: float = Field(default=1.0, gt=0, le=10)
    guidance: str = ""
    mechanisms_enabled: bool = True


class Analyst(Protocol):
    source: str

    def decide(self, diagnosis: Diagnosis, config: SearchConfig, view: LoopView) -> ConfigDecision: ...


class OfflineAnalyst:
    """Rules a careful person would apply: the step scale follows the 1/5 success rule (Rechenberg):
    more than a fifth of the window's trials set a new best, the steps are too cautious and grow by
    STEP_FACTOR; fewer (a stall), they are too bold and shrink by it, within STEP_RANGE. The search is widened
    (strategy explore on the least covered parameters) when it repeats itself, or when it stalls with
    the smallest steps already; it is narrowed onto what works while it improves; parameters that
    never helped in FREEZE_EVIDENCE tries stop getting trials."""

    source = "offline"

    def decide(self, d: Diagnosis, config: SearchConfig, view: LoopView) -> ConfigDecision:
        useless = [n for n, p in d.params.items()
                   if p.tried >= FREEZE_EVIDENCE and p.kept == 0 and n not in config.frozen]
        low, high = STEP_RANGE
        repeating = d.repetition_rate >= 0.4
        stalled = d.stagnation >= d.window
        if repeating or (stalled and config.step_scale <= low):
            focus = [n for n in d.least_covered if n not in useless][:3]
            why = (f"repetition {d.repetition_rate:.0%}" if repeating else
                   f"the smallest step scale ({low:g}) found nothing either")
            return ConfigDecision(
                diagnosis=f"stuck: {why}, {d.stagnation} iterations without a kept trial",
                strategy="explore", freeze=useless, focus=focus, step_scale=1.0,
                guidance=f"explore the least covered parameters first: {', '.join(focus)}")
        success = success_share(view.history, d.window, view.direction)
        factor = STEP_FACTOR if success > SUCCESS_TARGET else 1 / STEP_FACTOR if success < SUCCESS_TARGET else 1.0
        step = round(min(high, max(low, config.step_scale * factor)), 6)
        if stalled:
            return ConfigDecision(
                diagnosis=f"stalled: no kept trial in the last {d.stagnation} iterations; smaller steps",
                strategy=config.strategy, freeze=useless, focus=list(config.focus), step_scale=step,
                guidance=config.guidance)
        productive = [n for n, p in d.params.items() if p.kept > 0]
        return ConfigDecision(
            diagnosis=f"improving: gain {d.recent_gain:.4g} over the last {d.window} iterations, "
                      f"{success:.0%} of them new bests",
            strategy="exploit", freeze=useless, focus=productive[:3], step_scale=step,
            guidance=f"refine the parameters that paid off: {', '.join(productive[:3]) or 'none yet'}")


def success_share(history: Sequence[TrialRecord], window: int, direction: Direction) -> float:
    """The share of the last `window` search trials that set a new best (0 with none): a success of the
    1/5 rule; a trial an acceptance mechanism kept although it was worse is none."""
    best: float | None = None
    new_best: list[bool] = []
    for t in history:
        better = t.status == "ok" and t.value is not None and (best is None or gain(t.value, best, direction) > 0)
        if better:
            best = t.value
        if t.source != "baseline":
            new_best.append(better)
    recent = new_best[-window:]
    return sum(recent) / len(recent) if recent else 0.0


_RUNGS = ((20, 5, 8, 1.0), (10, 5, 5, 1.0), (10, 3, 3, 0.5), (5, 3, 2, 0.25), (3, 1, 1, 0.1), (1, 1, 1, 0.0))


class LLMAnalyst:
    source = "llm"

    def __init__(self, client: LLMClient, briefing: Briefing | None = None) -> None:
        from bilevel_evolve.engine.llm.briefing import Briefing

        self.client = client
        self.briefing = briefing or Briefing()

    def decide(self, d: Diagnosis, config: SearchConfig, view: LoopView) -> ConfigDecision:
        from bilevel_evolve.engine.llm.budget import fit_messages

        space = view.space

        def problems(answer: ConfigDecision) -> list[str]:
            names = set(space.names)
            return [f"{key} names unknown parameter {n!r}" for key in ("freeze", "unfreeze", "focus")
                    for n in getattr(answer, key) if n not in names]

        messages = fit_messages(lambda rung: self._messages(d, config, view, *_RUNGS[rung]), len(_RUNGS),
                                self.briefing.budget, "level15", ConfigDecision)
        return self.client.complete_json(messages, ConfigDecision, "level15", check=problems)

    def _messages(self, d: Diagnosis, config: SearchConfig, view: LoopView, recent: int, best: int, failures: int,
                  share: float) -> list[dict[str, str]]:
        from bilevel_evolve.engine.llm.prompts import prompt_messages
        from bilevel_evolve.engine.llm.summary import (
            format_config,
            format_failures,
            format_space,
            format_trials,
            format_usage,
        )

        space, history = view.space, view.history
        return prompt_messages(
            "level15_system", "level15", space=format_space(space, config.frozen), direction=view.direction,
            metric=self.briefing.metric, brief=self.briefing.brief_text(share),
            history=format_trials(history, space, view.direction, recent=recent, best=best),
            failures=format_failures(history, failures), usage=format_usage(history, space),
            config=format_config(config), diagnosis="\n".join(f"- {b}: {e}" for b, _, e in d.bottlenecks()))


class ConfigController(OuterController):
    """The OuterController for Level 1.5."""

    name = "level15"

    def __init__(self, analyst: Analyst, every: int = 5) -> None:
        self.analyst = analyst
        self.every = every
        self.changes = 0
        self.reverts = 0
        self.last: dict[str, Any] | None = None  # the latest change, until the window after it is judged
        self.rejected: list[dict[str, Any]] = []  # configurations reverted in this run (JSON), newest last

    def before_step(self, view: LoopView) -> Decisions:
        iteration = view.iteration
        if not cycle_due(iteration, self.every):
            return ()
        before = view.search_config
        revert = self._judge_last(view)
        if revert is not None:
            return (revert,)
        d = diagnose(view.history, view.space, view.direction, self.every)
        decision = self.analyst.decide(d, before, view)
        after = apply_decision(before, decision, view.space.names)
        if after == before or after.model_dump(mode="json") in self.rejected:
            return ()
        self.changes += 1
        self.last = {"iteration": iteration, "before": before.model_dump(mode="json"),
                     "after": after.model_dump(mode="json"), "reason": decision.diagnosis,
                     "window_before": level15_window.measure(view.history, iteration - self.every, iteration,
                                                             view.direction)}
        return (ChangeConfig(after, reason=decision.diagnosis, source=self.analyst.source),)

    def _judge_last(self, view: LoopView) -> ChangeConfig | None:
        """The latest change's verdict, once its window is over: a ChangeConfig back when it measured
        worse (and the configuration in force is still the one it made), else None."""
        last, self.last = self.last, None
        if last is None:
            return None
        after = level15_window.measure(view.history, last["iteration"], view.iteration, view.direction)
        why = level15_window.worse(last["window_before"], after, view.noise_floor)
        if why is None or view.search_config.model_dump(mode="json") != last["after"]:
            return None
        self.rejected = [*self.rejected, last["after"]][-MAX_REMEMBERED:]
        self.changes += 1
        self.reverts += 1
        reason = f"reverted the change of iteration {last['iteration']} ({last['reason']}): {why}"
        return ChangeConfig(SearchConfig.model_validate(last["before"]), reason=reason, source=self.analyst.source)

    def state_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "reverts": self.reverts, "last": self.last, "rejected": self.rejected}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.changes = int(state.get("changes", 0))
        self.reverts = int(state.get("reverts", 0))
        self.last = state.get("last")
        self.rejected = list(state.get("rejected", []))


def apply_decision(config: SearchConfig, decision: ConfigDecision, names: list[str]) -> SearchConfig:
    """Enforce the limits: at most 5 new freezes per cycle, at least 4 (or all, if fewer) active."""
    frozen = [n for n in config.frozen if n not in decision.unfreeze]
    floor = min(MIN_ACTIVE, len(names))
    for name in decision.freeze[:MAX_NEW_FREEZES]:
        if name in names and name not in frozen and len(names) - len(frozen) - 1 >= floor:
            frozen.append(name)
    focus = tuple(n for n in decision.focus if n in names and n not in frozen)
    strategy: Literal["explore", "exploit", "focused"] = decision.strategy
    if strategy == "focused" and not focus:
        strategy = "exploit"
    return SearchConfig(frozen=tuple(frozen), focus=focus, strategy=strategy, step_scale=decision.step_scale,
                        guidance=decision.guidance, mechanisms_enabled=decision.mechanisms_enabled)
