"""Typed, frozen records shared by the loop, agents, domains and mechanisms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bilevel_evolve.ground.space import Scalar, SearchSpace
from bilevel_evolve.ground.untrusted import clean_text, fit_text

TrialStatus = Literal["ok", "failed", "crashed", "timeout", "invalid", "rejected"]
REASON_CHARS = 200  # a failure reason is one line of at most this many characters
TEXT_CHARS = 8_000  # any other text of a record (a message, a rationale, a note, a name)
Direction = Literal["minimize", "maximize"]
Strategy = Literal["explore", "exploit", "focused"]


def gain(new: float, old: float, direction: Direction) -> float:
    """How much better `new` is than `old` in this direction (negative when worse)."""
    return old - new if direction == "minimize" else new - old


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _safe_text(cls, data: Any) -> Any:
        """Messages, rationales, sources, notes and guidance are often mechanisms' or models' words:
        every text field (and tuple of texts) is made safe to keep and show here (ground.untrusted).
        One pass over the fields (a record is built for every trial; a validator per field costs more)."""
        if not isinstance(data, dict):
            return data
        return {name: _safe_value(value) for name, value in data.items()}


def _safe_value(value: Any) -> Any:
    if isinstance(value, str):
        return fit_text(value, TEXT_CHARS)
    if isinstance(value, tuple | list) and all(isinstance(item, str) for item in value):
        return tuple(fit_text(item, TEXT_CHARS) for item in value)
    return value


class TrialResult(_Frozen):
    """What a domain returns for one trial."""

    status: TrialStatus
    value: float | None = None
    duration_s: float = 0.0
    message: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    # Why a trial did not succeed, in one line drawn from its output ("ModuleNotFoundError: No module named
    # 'kernels'", "killed at the time limit (900 s)"); the message's first line when the domain gives none.
    # It is trial output, so it is cleaned and capped here; "" for an ok trial.
    reason: str = Field(default="", validate_default=True)

    @field_validator("reason")
    @classmethod
    def _one_clean_line(cls, reason: str, info: ValidationInfo) -> str:
        if info.data.get("status", "ok") == "ok":
            return ""
        message = str(info.data.get("message", ""))[:4 * REASON_CHARS]
        return one_line_reason(reason or next((line for line in message.splitlines() if line.strip()), ""))


def one_line_reason(text: str) -> str:
    """Untrusted text as one clean line of at most REASON_CHARS characters (applying it twice changes nothing)."""
    line = clean_text(text, 4 * REASON_CHARS, one_line=True).strip()
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


class TrialRecord(_Frozen):
    """One evaluated trial as the history (and every mechanism) sees it."""

    iteration: int
    params: dict[str, Scalar]
    status: TrialStatus
    value: float | None
    accepted: bool
    source: str = "agent"
    duration_s: float = 0.0
    # In-process only (prompts, reports): left out of dumps, so mechanisms' ctx stays as the contract says.
    reason: str = Field(default="", exclude=True)


class Proposal(_Frozen):
    params: dict[str, Scalar]
    rationale: str = ""
    source: str = "agent"


class PendingTrial(_Frozen):
    """A proposal whose trial is in flight (several workers): proposed, not yet decided."""

    iteration: int
    params: dict[str, Scalar]
    source: str = "agent"


class Hints(_Frozen):
    """Merged guide() output of the active mechanisms, read by the proposer."""

    focus: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class SearchConfig(_Frozen):
    """Level 1.5's control surface over the inner loop."""

    frozen: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()
    strategy: Strategy = "exploit"
    step_scale: float = Field(default=1.0, gt=0, le=10)
    guidance: str = ""
    mechanisms_enabled: bool = True


@dataclass(frozen=True)
class SearchContext:
    """Read-only view of the search that agents receive each iteration. Mechanisms get its JSON
    form, rebuilt by ground/contract/ctx.py with a `rng` seeded from (run seed, iteration, hook)."""

    space: SearchSpace
    direction: Direction
    iteration: int
    history: tuple[TrialRecord, ...]
    incumbent: TrialRecord | None
    config: SearchConfig
    hints: Hints = field(default_factory=Hints)
    pending: tuple[PendingTrial, ...] = ()  # in flight, in proposal order: propose none of them again

    def better(self, a: float, b: float) -> bool:
        """True when value a is strictly better than value b in this direction."""
        return gain(a, b, self.direction) > 0

    def to_json(self, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The serializable form sent to sandboxed mechanisms and recorded for replay. A caller
        that keeps its trials' dumps passes them as `history` (`[t.model_dump() for t in
        self.history]`, made earlier) rather than having every trial dumped again."""
        return {
            "space": self.space.to_dict(),
            "direction": self.direction,
            "iteration": self.iteration,
            "history": [t.model_dump() for t in self.history] if history is None else history,
            "incumbent": self.incumbent.model_dump() if self.incumbent else None,
            "config": self.config.model_dump(),
            "hints": self.hints.model_dump(),
            "pending": [p.model_dump() for p in self.pending],
        }
