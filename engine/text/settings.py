"""The revision pipeline's stages, and the knobs Level 1.5 turns on it.

Level 1.5 of a text run changes these (engine/outer/level15_text.py), each change a traced
`pipeline_changed` event with its reason: which stages run, a prompt override per stage (an
instruction added to that stage's prompt; the offline writer reads the criteria it names), and the
revision's boldness (how much one step may change: the number of edits a plan holds).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Stage = Literal["analysis", "hypotheses", "planning", "assessment", "revision"]
STAGES: tuple[Stage, ...] = ("analysis", "hypotheses", "planning", "assessment", "revision")
# Revision writes the candidate, so it always runs; the others may be switched off.
SWITCHABLE: tuple[Stage, ...] = ("analysis", "hypotheses", "planning", "assessment")
MAX_OVERRIDE_CHARS = 1000
MAX_EDITS = 4  # the edits of a plan at boldness 1 (at 0: one)


class PipelineSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    disabled: tuple[Stage, ...] = ()
    overrides: dict[Stage, str] = Field(default_factory=dict)
    boldness: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("disabled")
    @classmethod
    def _revision_runs(cls, disabled: tuple[Stage, ...]) -> tuple[Stage, ...]:
        if "revision" in disabled:
            raise ValueError("the revision stage writes the candidate: it cannot be switched off")
        return tuple(s for s in STAGES if s in disabled)

    @field_validator("overrides")
    @classmethod
    def _short(cls, overrides: dict[Stage, str]) -> dict[Stage, str]:
        return {stage: text.strip()[:MAX_OVERRIDE_CHARS] for stage, text in overrides.items() if text.strip()}

    def runs(self, stage: Stage) -> bool:
        return stage not in self.disabled

    @property
    def edits(self) -> int:
        """How many edits one plan may hold."""
        return 1 + round(self.boldness * (MAX_EDITS - 1))

    def describe(self) -> str:
        off = f"off: {', '.join(self.disabled)}" if self.disabled else "all stages on"
        overrides = "; ".join(f"{stage}: {text[:80]}" for stage, text in self.overrides.items())
        return f"boldness {self.boldness:.2f} ({self.edits} edits), {off}" + (f"; overrides: {overrides}"
                                                                              if overrides else "")


class SettingsHolder:
    """The run's current settings: read by the pipeline at every step, replaced by Level 1.5 only."""

    def __init__(self, settings: PipelineSettings | None = None) -> None:
        self.current = settings or PipelineSettings()
