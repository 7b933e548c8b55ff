"""Per-run options a domain reads at load time (the CLI maps its flags onto these)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bilevel_evolve.ground.errors import UsageError


class DomainOptions(BaseModel):
    """Options shared by all domains; each domain reads the ones that apply to it.

    - trial_timeout_s: wall-clock limit of one trial (train_opt, command). train_opt defaults to
      3 x its time budget + 120 s (900 s where the budget is unknown); command to the spec's
      timeout_s. Function trials run in-process and are not time-limited.
    - time_budget_s: train_opt only; rewrites the TIME_BUDGET constant of the trial's copy.
    - python: interpreter for train.py, and for a command whose first word is python/python3
      (default: the interpreter running the engine).
    - space_file: JSON file replacing the domain's default search space (same format as SPACE).
    - noise_sd: function only; Gaussian noise (seeded by the trial seed) added to each value, to
      exercise noise-aware keep/discard on cheap objectives.
    - num_threads: CPU threads a train_opt trial may use (EVOLVE_NUM_THREADS, OMP_NUM_THREADS).
    - max_log_bytes: cap on each subprocess trial's log file (head and tail kept).
    - rubric: text only; the rubric file drafts are judged against (domains/text/domain.py says the default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trial_timeout_s: float | None = Field(default=None, gt=0)
    time_budget_s: float | None = Field(default=None, gt=0)
    python: str | None = None
    space_file: Path | None = None
    noise_sd: float = Field(default=0.0, ge=0)
    num_threads: int | None = Field(default=None, ge=1)
    max_log_bytes: int = Field(default=2_000_000, ge=4096)
    rubric: Path | None = None

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> DomainOptions:
        """Validate options read from a config file or flags; UsageError naming each bad one."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise UsageError(f"invalid domain options: {problems}",
                             f"valid options: {', '.join(cls.model_fields)}") from None
