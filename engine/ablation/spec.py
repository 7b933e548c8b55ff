"""What an ablation is: groups x repeats (+ baselines) of ordinary runs, and their seeds."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.errors import UsageError

FORMAT_VERSION = 1
# The paper's groups: which levels each one runs.
GROUPS: dict[str, tuple[str, ...]] = {
    "A": ("1",),
    "B": ("1", "1.5"),
    "C": ("1", "1.5", "2"),
    "D": ("1", "2"),
}
BASELINES = ("random", "optuna")
BASELINES_EXTRA_FIX = "install the baselines extra: pip install 'bilevel-evolve[baselines]'"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AblationSpec(_Frozen):
    """Everything that decides an ablation's results. Worker count and progress display are not
    part of it: they change how fast it runs, never what it finds."""

    format_version: int = FORMAT_VERSION
    domain: str
    groups: tuple[str, ...]
    repeats: int = Field(ge=1, le=1000)
    iterations: int = Field(ge=1, le=1_000_000)
    baselines: tuple[str, ...] = ()
    seed: int = 0
    archive: str
    # the `evolve run` options every run gets, by name (see engine/wiring/run_options.py)
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> dict[str, Any]:
        return RUN_OPTIONS.each_run(value)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [g for g in value if g not in GROUPS]
        if unknown or not value:
            raise ValueError(f"groups must be drawn from {', '.join(GROUPS)}; got {list(value)}")
        return value

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [b for b in value if b not in BASELINES]
        if unknown:
            raise ValueError(f"baselines must be drawn from {', '.join(BASELINES)}; got {list(value)}")
        return value

    def run_options(self, run: PlannedRun, run_dir: Path) -> dict[str, Any]:
        """The `evolve run` option values of one planned run."""
        return {**self.options, "domain": self.domain, "iterations": self.iterations, "levels": run.levels,
                "agent": run.agent, "seed": run.seed, "run_dir": run_dir, "archive": self.archive,
                "no_progress": True}

    def differences(self, other: AblationSpec) -> list[str]:
        """Human-readable 'field: mine -> theirs' lines for every field that differs."""
        mine, theirs = self.model_dump(), other.model_dump()
        out = []
        for key in mine:
            if key == "options":
                out += [f"{k}: {v!r} -> {theirs[key][k]!r}" for k, v in mine[key].items() if v != theirs[key][k]]
            elif mine[key] != theirs[key]:
                out.append(f"{key}: {mine[key]!r} -> {theirs[key]!r}")
        return out


class PlannedRun(_Frozen):
    """One run of the ablation: a group (or baseline) at one repeat."""

    name: str  # also the run directory's name and the run id, e.g. "C-r2"
    label: str  # "A".."D", or a baseline name
    repeat: int
    levels: tuple[str, ...]
    agent: str
    seed: int

    @property
    def is_baseline(self) -> bool:
        return self.label in BASELINES


def parse_groups(text: str) -> tuple[str, ...]:
    names = [g.strip().upper() for g in text.split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUPS]
    if unknown or not names:
        listing = "; ".join(f"{g} = levels {'+'.join(lv)}" for g, lv in GROUPS.items())
        raise UsageError(f"unknown group{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                         if unknown else "no group given", f"use --groups drawn from A, B, C, D ({listing})")
    return tuple(dict.fromkeys(names))


def parse_baselines(text: str | None) -> tuple[str, ...]:
    names = [b.strip().lower() for b in (text or "").split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise UsageError(f"unknown baseline {', '.join(map(repr, unknown))}",
                         f"use --baselines drawn from {', '.join(BASELINES)}")
    return tuple(dict.fromkeys(names))


def repeat_seed(seed: int, repeat: int) -> int:
    """The run seed of one repeat: independent across repeats, shared by every group of a repeat
    so that groups are compared on equal footing."""
    digest = hashlib.sha256(f"ablation:{seed}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def plan(spec: AblationSpec) -> list[PlannedRun]:
    """Every run, repeat by repeat (so early repeats complete the whole table first)."""
    runs: list[PlannedRun] = []
    for repeat in range(1, spec.repeats + 1):
        seed = repeat_seed(spec.seed, repeat)
        for group in spec.groups:
            runs.append(PlannedRun(name=f"{group}-r{repeat}", label=group, repeat=repeat, levels=GROUPS[group],
                                   agent=spec.options["agent"], seed=seed))
        for baseline in spec.baselines:
            runs.append(PlannedRun(name=f"{baseline}-r{repeat}", label=baseline, repeat=repeat, levels=("1",),
                                   agent=baseline, seed=seed))
    return runs
