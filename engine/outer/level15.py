"""Level 1.5: every K iterations, read the trace and change the inner loop's search configuration.

The control surface is SearchConfig (frozen/focus parameters, strategy, step scale, guidance,
mechanisms on/off). Every change is a ConfigChanged event carrying its reason. Two analysts:
the offline one applies fixed rules to the diagnosis; the LLM one is asked with a prompt file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.engine.analysis.diagnosis import Diagnosis, diagnose
from bilevel_evolve.engine.outer.base import OuterController, cycle_due
from bilevel_evolve.engine.outer.decisions import ChangeConfig, Decisions
from bilevel_evolve.ground.records import SearchConfig, Strategy

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.outer.view import LoopView

MAX_NEW_FREEZES = 5
MIN_ACTIVE = 4


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
    """Rules a careful person would apply: widen the search when it repeats itself or stalls,
    narrow it onto what works when it improves, stop spending trials on parameters that never help."""

    source = "offline"

    def decide(self, d: Diagnosis, config: SearchConfig, view: LoopView) -> ConfigDecision:
        useless = [n for n, p in d.params.items() if p.tried >= 4 and p.kept == 0 and n not in config.frozen]
        stuck = d.repetition_rate >= 0.4 or d.stagnation >= d.window
        if stuck:
            focus = [n for n in d.least_covered if n not in useless][:3]
            return ConfigDecision(
                diagnosis=f"stuck: repetition {d.repetition_rate:.0%}, {d.stagnation} iterations without a kept trial",
                strategy="explore", freeze=useless, focus=focus,
                step_scale=min(2.0, config.step_scale * 1.5),
                guidance=f"explore the least covered parameters first: {', '.join(focus)}")
        productive = [n for n, p in d.params.items() if p.kept > 0]
        return ConfigDecision(
            diagnosis=f"improving: gain {d.recent_gain:.4g} over the last {d.window} iterations",
            strategy="exploit", freeze=useless, focus=productive[:3],
            step_scale=max(0.25, config.step_scale * 0.75),
            guidance=f"refine the parameters that paid off: {', '.join(productive[:3]) or 'none yet'}")


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

    def before_step(self, view: LoopView) -> Decisions:
        iteration = view.iteration
        if not cycle_due(iteration, self.every):
            return ()
        before = view.search_config
        d = diagnose(view.history, view.space, view.direction, self.every)
        decision = self.analyst.decide(d, before, view)
        after = apply_decision(before, decision, view.space.names)
        if after == before:
            return ()
        self.changes += 1
        return (ChangeConfig(after, reason=decision.diagnosis, source=self.analyst.source),)

    def state_dict(self) -> dict[str, Any]:
        return {"changes": self.changes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.changes = int(state.get("changes", 0))


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
