"""Typed, frozen records at the archive's boundary: what is stored, what callers read back."""

from __future__ import annotations

import math
import sys
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.untrusted import clean_text

# The archive's format (archive.json and index.sqlite): 2 added the runs table (one row per run that
# claimed its id here) and effects that carry their scope and score (mechanism_archive/effects.py);
# 3 added the results table (what each run found in its task: its best points, for later runs to recall).
FORMAT_VERSION = 3
RECORD_FORMAT_VERSION = 1  # record.json's own format: unchanged by formats 2 and 3
MIN_PREFIX = 6
FRESH, RECALLED = "fresh", "recalled"  # how a run began (mechanism_archive/effects.py pools the two apart)
STARTS: tuple[str, ...] = (FRESH, RECALLED)
PROVEN_RUNS = 3  # the fewest runs whose interval may prove a mechanism's effect: one window of one run is a hint

Status = Literal["accepted", "rejected-static", "rejected-smoke", "rolled-back", "dead"]
Origin = Literal["offline-recipe", "llm", "user"]
EventKind = Literal["archived", "status", "effect", "hook_stats"]
STATUSES: tuple[str, ...] = get_args(Status)
ORIGINS: tuple[str, ...] = get_args(Origin)
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordFile(_Frozen):
    """`record.json`: the immutable description of a mechanism's first archival."""

    format_version: int = RECORD_FORMAT_VERSION
    id: str
    source_sha256: str
    source_bytes: int
    name: str
    class_name: str
    origin: Origin
    parents: tuple[str, ...] = ()
    created: str
    run_id: str
    status: Status
    reason: str = ""
    session: dict[str, Any] = Field(default_factory=dict)


class ArchiveEvent(_Frozen):
    """One row of the append-only event log."""

    seq: int
    ts: str
    mechanism_id: str
    run_id: str
    kind: EventKind
    status: Status | None = None
    reason: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class EffectEstimate(_Frozen):
    """What the runs measured of one mechanism in one scope: a domain and its space (signature), or every
    domain whose space has this shape (domain and signature None). The interval is Student's t at 95 %
    over the runs' scores (mechanism_archive/effects.py); one run gives a hint, no interval."""

    mechanism_id: str
    domain: str | None
    space_signature: str | None
    space_shape: str
    start: str = FRESH  # how its runs began
    runs: int
    mean: float
    low: float | None = None
    high: float | None = None

    @property
    def space_label(self) -> str:
        """The space signature as tables show it, with how the runs began when they recalled points first."""
        return (self.space_signature or "-") + (" (recalled start)" if self.start != FRESH else "")

    @property
    def proven(self) -> bool:
        """At least PROVEN_RUNS runs and an interval that excludes zero."""
        return (self.runs >= PROVEN_RUNS and self.low is not None and self.high is not None
                and (self.low > 0 or self.high < 0))

    @property
    def sign(self) -> Literal["positive", "negative"] | None:
        """Which way it is proven, or None while it is not."""
        if not self.proven:
            return None
        return "positive" if self.mean > 0 else "negative"

    def describe(self) -> str:
        """E.g. `+0.12 [+0.031, +0.21] over 4 runs, proven`; `+0.3 over 1 run (a hint)`."""
        runs = f"{self.runs} run{'s' if self.runs != 1 else ''}"
        if self.low is None or self.high is None:
            return f"{self.mean:+.3g} over {runs} (a hint)"
        verdict = "proven" if self.proven else ("not proven" if self.runs >= PROVEN_RUNS
                                                else f"needs {PROVEN_RUNS}+ runs")
        return f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}] over {runs}, {verdict}"


class MechanismSummary(_Frozen):
    """One line of `archive list`: identity plus the latest status and effect, and what the runs measured
    of it, per domain and space (`estimates`, most runs first)."""

    id: str
    name: str
    class_name: str
    origin: Origin
    parents: tuple[str, ...]
    created: str
    first_run: str
    status: Status
    status_run: str
    reason: str = ""
    effect: dict[str, Any] | None = None
    effect_run: str | None = None
    estimates: tuple[EffectEstimate, ...] = ()
    generation: int = 0  # 0: no parent; else one more than its deepest parent

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def estimate(self) -> EffectEstimate | None:
        """The estimate measured over the most runs (one domain and space), if any."""
        return self.estimates[0] if self.estimates else None

    @property
    def effect_delta(self) -> float | None:
        delta = (self.effect or {}).get("delta")
        return float(delta) if isinstance(delta, int | float) and not isinstance(delta, bool) else None


class MechanismRecord(_Frozen):
    """Everything about one mechanism: the stored record, its reports, source and full history."""

    summary: MechanismSummary
    record: RecordFile
    source: str
    gate_report: dict[str, Any] | None = None
    box_report: dict[str, Any] | None = None
    history: tuple[ArchiveEvent, ...] = ()

    @property
    def id(self) -> str:
        return self.summary.id

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def status(self) -> Status:
        return self.summary.status

    @property
    def parents(self) -> tuple[str, ...]:
        return self.summary.parents

    @property
    def status_by_run(self) -> dict[str, Status]:
        """The latest status of this mechanism in each run that touched it, in first-touched order."""
        out: dict[str, Status] = {}
        for event in self.history:
            if event.status is not None:
                out[event.run_id] = event.status
        return out

    @property
    def effects(self) -> dict[str, dict[str, Any]]:
        """The latest measured effect per run."""
        return {e.run_id: e.payload for e in self.history if e.kind == "effect"}

    @property
    def hook_stats(self) -> dict[str, dict[str, Any]]:
        """The latest hook statistics per run."""
        return {e.run_id: e.payload for e in self.history if e.kind == "hook_stats"}


class RunClaim(_Frozen):
    """A run entered in the archive: the id it goes by there, and its horizon (the last event when it was
    entered: the effects it may read as earlier runs' evidence are those up to it)."""

    run_id: str
    horizon: int


class RunResult(_Frozen):
    """One row of the results table: what a run found in its task (its scope's domain and space), as the run
    recorded it. The payload's points are untrusted data (a mechanism or a model proposed them)."""

    seq: int
    run_id: str
    domain: str
    space_signature: str
    payload: dict[str, Any]


class Lineage(_Frozen):
    """A mechanism's ancestors and descendants with the edges among them (a DAG: several parents allowed)."""

    focus: str
    ancestors: tuple[str, ...]
    descendants: tuple[str, ...]
    nodes: dict[str, MechanismSummary]
    parents: dict[str, tuple[str, ...]]
    children: dict[str, tuple[str, ...]]


class VerifyProblem(_Frozen):
    kind: str
    detail: str
    mechanism_id: str | None = None

    def render(self) -> str:
        where = f"{self.mechanism_id[:12]}: " if self.mechanism_id else ""
        return f"[{self.kind}] {where}{self.detail}"


class VerifyReport(_Frozen):
    mechanisms: int
    events: int
    problems: tuple[VerifyProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def json_safe(value: Any, where: str = "value") -> Any:
    """A strict-JSON copy of value: non-finite floats become None, tuples lists, strings encodable (no lone
    surrogates or control characters: they are often generated text); anything else is bad input."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value, sys.maxsize)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, BaseModel):
        return json_safe(value.model_dump(mode="json"), where)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"{where} has a non-string key {key!r}", "use string keys (JSON objects)")
            out[key] = json_safe(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise UsageError(f"{where} is a {type(value).__name__}, which JSON cannot hold",
                     "pass only dicts, lists, strings, numbers, booleans and None")
