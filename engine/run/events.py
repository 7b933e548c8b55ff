"""Trace events: one pydantic model per kind, one JSON line each in trace.jsonl.

Much of what an event holds was produced by mechanisms and models (names, notes, reasons, exception
text, returned structures), so every event is fitted as it is made (ground/untrusted.fit_json):
surrogates and control characters replaced, each text capped, all of its text, values and depth
bounded. No event can fail to serialize, no trace line exceeds MAX_LINE_BYTES, and an event read back
from the trace is the one that was written.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
    model_validator,
)

from bilevel_evolve.ground.records import Direction, Hints, SearchConfig, TrialRecord, TrialStatus
from bilevel_evolve.ground.space import Scalar
from bilevel_evolve.ground.untrusted import fit_fields, plain_fields

TEXT_CHARS = 8_000  # one text of an event (a reason, a note, a trial's message, a string in a hook's answer)
TEXT_BUDGET = 64_000  # all the text of one event together
MAX_VALUES = 5_000  # the values of one event's structures together
# What those limits make the longest line (every text and key escaped, every value a cut string).
MAX_LINE_BYTES = 1024 * 1024


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    t: float = Field(default_factory=time.time)

    @model_validator(mode="before")
    @classmethod
    def _fitted(cls, data: Any) -> Any:
        """Untrusted text and structures made safe to write and show, whoever built the event."""
        return fitted_fields(cls, data, text_limit=TEXT_CHARS, text_budget=TEXT_BUDGET, max_items=MAX_VALUES)


def fitted_fields(model: type[BaseModel], data: Any, **limits: int) -> Any:
    """The fields `model` is being built from, through ground.untrusted.fit_fields with these limits: in
    the model's field order and with its `kind` filled in, so that a model built in code and the same
    model read back from its JSON (every field present, in that order) are fitted alike. A nested model
    is fitted as its fields."""
    if not isinstance(data, dict):
        return data
    kind = model.model_fields.get("kind")
    # Nearly every event has nothing to fit; then order does not matter, and the kind it will be given
    # is counted as the read-back event (which holds it) counts it.
    unfilled = kind is not None and "kind" not in data
    room = len(str(kind.default)) if unfilled and kind is not None else 0
    if plain_fields(data, limits["text_limit"], limits["text_budget"] - room, limits["max_items"] - unfilled):
        return data
    given = {"kind": kind.default, **data} if kind is not None else data
    ordered = {name: given[name] for name in model.model_fields if name in given}
    ordered |= {name: value for name, value in given.items() if name not in ordered}  # unknown: refused later
    plain = {name: value.model_dump() if isinstance(value, BaseModel) else value for name, value in ordered.items()}
    return fit_fields(plain, **limits)


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    run_id: str
    domain: str
    direction: Direction
    agent: str
    levels: tuple[str, ...]
    seed: int
    iterations: int
    space: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RunResumed(_Event):
    kind: Literal["run_resumed"] = "run_resumed"
    step: int
    discarded_events: int
    recovered_trials: int


class RunExtended(_Event):
    """`evolve resume --iterations/--max-cost` raised the run's limits (from before to now, asked `at`); it
    is traced when the extension starts, after the last run_finished when the run had finished."""

    kind: Literal["run_extended"] = "run_extended"
    step: int
    at: str
    iterations_before: int
    iterations: int
    max_cost_before: float | None = None
    max_cost_usd: float | None = None


class ProposalMade(_Event):
    kind: Literal["proposal"] = "proposal"
    step: int
    iteration: int
    params: dict[str, Scalar]
    source: str
    rationale: str = ""
    valid: bool = True
    problem: str = ""


class TrialFinished(_Event):
    kind: Literal["trial"] = "trial"
    step: int
    iteration: int
    params: dict[str, Scalar]
    status: TrialStatus
    value: float | None
    duration_s: float
    source: str
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    recovered: bool = False
    reason: str = ""  # why it did not succeed, one cleaned line (TrialResult.reason); "" for an ok trial

    @model_serializer(mode="wrap")
    def _without_empty_reason(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A trial with no reason is written as before reasons existed, so such traces stay byte-identical."""
        data: dict[str, Any] = handler(self)
        if not self.reason:
            data.pop("reason", None)
        return data

    def record(self, accepted: bool) -> TrialRecord:
        """The trial as history holds it, with its keep/discard decision."""
        return TrialRecord(iteration=self.iteration, params=self.params, status=self.status, value=self.value,
                           accepted=accepted, source=self.source, duration_s=self.duration_s, reason=self.reason)


class DecisionMade(_Event):
    kind: Literal["decision"] = "decision"
    step: int
    iteration: int
    accepted: bool
    reason: str
    value: float | None
    incumbent_value: float | None
    best_value: float | None
    incumbent_step: int | None = None
    overridden_by: str | None = None


class NoiseFloorMeasured(_Event):
    kind: Literal["noise_floor"] = "noise_floor"
    values: tuple[float, ...]
    floor: float


class ConfigChanged(_Event):
    kind: Literal["config_changed"] = "config_changed"
    step: int
    iteration: int
    before: SearchConfig
    after: SearchConfig
    reason: str
    source: str


class HookCalled(_Event):
    """One hook call of an active mechanism: its inputs beyond ctx, its answer, and whether it
    changed what the loop would otherwise have done. Replay re-runs exactly these calls."""

    kind: Literal["hook"] = "hook"
    step: int
    iteration: int
    mechanism: str
    hook: str
    args: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    changed: bool = False
    ms: float = 0.0


class MechanismAskedModel(_Event):
    """One ctx.llm call of a mechanism's hook, which the engine made for it (engine/mechanisms/model.py).
    The texts are excerpts (the cassette holds them whole in a run with a model)."""

    kind: Literal["mechanism_llm"] = "mechanism_llm"
    step: int
    iteration: int
    mechanism: str
    hook: str
    call: int  # 1 for the hook call's first
    purpose: str
    origin: str  # live, cassette or offline
    prompt_chars: int
    answer_chars: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wait_ms: float = 0.0
    prompt: str = ""
    answer: str = ""


class HintsGiven(_Event):
    kind: Literal["hints"] = "hints"
    step: int
    iteration: int
    hints: Hints


class ResearchSessionEvent(_Event):
    kind: Literal["research_session"] = "research_session"
    step: int
    iteration: int
    session_id: str
    source: str
    diagnosis: dict[str, Any]
    hypotheses: tuple[dict[str, Any], ...]
    chosen: str
    candidates: tuple[dict[str, Any], ...]


class MechanismInjected(_Event):
    kind: Literal["injection"] = "injection"
    step: int
    iteration: int
    mechanism: str
    name: str
    active: tuple[str, ...]


class MechanismRolledBack(_Event):
    kind: Literal["rollback"] = "rollback"
    step: int
    iteration: int
    mechanism: str
    name: str
    status: str
    reason: str
    active: tuple[str, ...]


class PipelineChanged(_Event):
    """Level 1.5 of a text run changed the revision pipeline's knobs (engine/text/settings.py)."""

    kind: Literal["pipeline_changed"] = "pipeline_changed"
    step: int
    iteration: int
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    source: str


class EffectMeasured(_Event):
    kind: Literal["effect"] = "effect"
    step: int
    iteration: int
    mechanism: str
    effect: dict[str, Any]


class RunStopped(_Event):
    """The run stopped itself because its trials cannot succeed (a failed baseline, or the first K trials
    all failed). It is not finished: `evolve resume` runs the failed step again once the cause is fixed."""

    kind: Literal["run_stopped"] = "run_stopped"
    step: int
    iteration: int
    reason: str
    trial_dir: str
    fix: str


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    status: Literal["completed", "budget_exhausted", "interrupted"]
    steps: int
    best_value: float | None
    best_params: dict[str, Scalar] | None
    summary: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[
    RunStarted | RunResumed | RunExtended | ProposalMade | TrialFinished | DecisionMade | NoiseFloorMeasured
    | ConfigChanged | HookCalled | MechanismAskedModel | HintsGiven | ResearchSessionEvent | MechanismInjected
    | MechanismRolledBack | EffectMeasured | PipelineChanged | RunStopped | RunFinished,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(line: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(line)
