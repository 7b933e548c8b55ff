"""The run's configuration, written to config.json when the run starts and read back on resume.

It is rewritten (atomically) only when `evolve resume --iterations/--max-cost` raises the run's limits:
each such change is kept in `extensions`, in order, and traced as a `run_extended` event.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bilevel_evolve.ground.contract.interface import MAX_RETURN_BYTES, MAX_STATE_BYTES

FORMAT_VERSION = 1
LEVELS = ("1", "1.5", "2")


class LLMSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    provider: str = "openai"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    max_cost_usd: float | None = Field(default=None, gt=0)
    price: str | None = None  # "IN,OUT" USD per million tokens, for models the price table lacks


class RunExtension(BaseModel):
    """One raise of a run's limits by `evolve resume RUN --iterations N [--max-cost USD]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    at: str  # when it was asked: UTC, ISO 8601
    steps_done: int = Field(ge=0)  # the steps the run had decided then
    iterations_before: int = Field(ge=1)
    iterations: int = Field(ge=1)
    max_cost_before: float | None = None
    max_cost_usd: float | None = None


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    run_id: str
    domain: str
    domain_options: dict[str, Any] = Field(default_factory=dict)
    iterations: int = Field(ge=1, le=1_000_000)
    levels: tuple[str, ...] = ("1",)
    agent: str = "offline"
    llm: LLMSettings = LLMSettings()
    seed: int = 0
    acceptance: Literal["strict", "noise-aware"] = "strict"
    noise_repeats: int = Field(default=3, ge=2, le=50)
    noise_multiplier: float = Field(default=2.0, ge=0)
    archive: str | None = None
    mechanisms: tuple[str, ...] = ()  # archive ids of user mechanisms active from the first iteration
    mechanism_runtime: Literal["container", "host"] = "container"
    # What one live mechanism may spend (engine/mechanisms/budget.py): seconds in hooks per iteration and
    # over the run (None: 1 s per iteration), and bytes of JSON per hook call; past them it is rolled back.
    mechanism_step_budget_s: float = Field(default=5.0, gt=0, le=3600)
    mechanism_run_budget_s: float | None = Field(default=None, gt=0)
    mechanism_return_bytes: int = Field(default=MAX_RETURN_BYTES, ge=1024, le=MAX_STATE_BYTES)
    level15_every: int = Field(default=5, ge=1)
    level2_every: int = Field(default=8, ge=2)
    # When a research session is called: every level2_every iterations, or when the trace shows it is needed
    # (stagnation, repetition, a mechanism that stopped paying; engine/outer/research/need.py).
    level2_trigger: Literal["every", "need"] = "every"
    # What Level 2 may learn from the archive's earlier runs (engine/outer/research/memory.py): the effects
    # recorded up to this archive event (None: set when the run is entered in the archive, to the last event
    # then; evolve ablate sets one for all its runs), unless no_reuse (then: as if the archive were fresh).
    archive_horizon: int | None = Field(default=None, ge=0)
    no_reuse: bool = False
    repair_rounds: int = Field(default=2, ge=0, le=10)
    # Trials in flight at once; the decisions depend on it (engine/run/scheduler.py), so it is the run's.
    workers: int = Field(default=1, ge=1, le=256)
    executor: Literal["local", "ray"] = "local"  # where trials run (engine/run/placement.py)
    ray_address: str | None = None  # --executor ray: HOST:PORT, ray://HOST:PORT, auto or local (RAY_ADDRESS)
    gpus: tuple[str, ...] | None = None  # device ids the trials share out; None: discovered
    gpus_per_trial: int | None = Field(default=None, ge=0, le=64)  # None: the GPUs divided by the workers
    # What the LLM levels are told about the task: the domain's brief, extended or replaced by a file of
    # the user's (read at the start and frozen in the run directory as brief.json), or nothing ("off").
    brief: str | None = None
    brief_mode: Literal["extend", "replace", "off"] = "extend"
    prompt_tokens: int = Field(default=12_000, ge=2_000, le=1_000_000)  # the most one prompt may hold (estimated)
    fail_fast: int = Field(default=5, ge=0)  # stop when the baseline or the first K search trials fail; 0: never
    # The Docker runtime of the sandbox containers, smoke tests and live mechanisms alike (sandbox/runtime.py):
    # None for the engine's default (runc); runsc for gVisor, where the engine has it registered.
    sandbox_runtime: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # Every raise of the limits above by `evolve resume --iterations/--max-cost`, oldest first (not an option).
    extensions: tuple[RunExtension, ...] = ()

    @field_validator("brief_mode")
    @classmethod
    def _replace_needs_a_brief(cls, mode: str, info: ValidationInfo) -> str:
        if mode == "replace" and not info.data.get("brief"):
            raise ValueError("replace needs a brief file to replace the domain's brief with (--brief FILE)")
        return mode

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [lv for lv in value if lv not in LEVELS]
        if unknown or "1" not in value:
            raise ValueError(f"levels must include 1 and be drawn from {', '.join(LEVELS)}; got {value}")
        return tuple(lv for lv in LEVELS if lv in value)

    @property
    def baseline_steps(self) -> int:
        return self.noise_repeats if self.acceptance == "noise-aware" else 1

    @property
    def total_steps(self) -> int:
        return self.baseline_steps + self.iterations
