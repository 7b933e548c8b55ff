"""Numbers per run and per group, read from the runs' own traces (nothing else is trusted)."""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.engine.ablation.spec import GROUPS, AblationSpec, PlannedRun, plan
from bilevel_evolve.engine.ablation.store import run_dir
from bilevel_evolve.engine.analysis.trace_numbers import summarize
from bilevel_evolve.engine.run.events import MechanismInjected, MechanismRolledBack, RunStarted
from bilevel_evolve.engine.run.store import CONFIG_FILE, RunStore
from bilevel_evolve.ground.records import Direction

NOT_EVALUATED = ("invalid", "rejected")  # proposals that never reached the domain


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineageEntry(_Frozen):
    step: int
    mechanism: str
    name: str
    kind: str  # "injected", "rolled-back", "rejected-static", "rejected-smoke", ...
    reason: str = ""


class RunResult(_Frozen):
    name: str
    label: str
    repeat: int
    seed: int
    direction: Direction
    finished: bool
    baseline: float | None
    best: float | None
    evaluations: int
    best_so_far: tuple[float | None, ...]
    lineage: tuple[LineageEntry, ...] = ()

    @property
    def change(self) -> float | None:
        """best - baseline: negative is better when minimizing, as in the paper."""
        return None if self.best is None or self.baseline is None else self.best - self.baseline

    @property
    def injected(self) -> int:
        return sum(1 for e in self.lineage if e.kind == "injected")

    @property
    def rolled_back(self) -> int:
        return sum(1 for e in self.lineage if e.kind != "injected")

    @property
    def rejected(self) -> int:
        return sum(1 for e in self.lineage if e.kind.startswith("rejected"))


class GroupStats(_Frozen):
    label: str
    levels: str
    runs: int
    planned: int
    mean_change: float | None
    sd_change: float | None
    ratio_vs_a: float | None
    mean_best: float | None
    sd_best: float | None
    median_best: float | None
    mean_evaluations: float
    injected: int
    rolled_back: int
    rejected: int


class AblationSummary(_Frozen):
    spec: AblationSpec
    direction: Direction | None
    runs: tuple[RunResult, ...]
    groups: tuple[GroupStats, ...]

    def group(self, label: str) -> GroupStats | None:
        return next((g for g in self.groups if g.label == label), None)

    def runs_of(self, label: str) -> list[RunResult]:
        return [r for r in self.runs if r.label == label]


def read_run(path: Path, planned: PlannedRun) -> RunResult | None:
    """The run's numbers, or None when it has not run a trial yet."""
    if not (path / CONFIG_FILE).is_file():
        return None
    events = RunStore.open(path).events()
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    if started is None:
        return None
    s = summarize(events, started.direction)
    lineage = []
    for e in events:
        if isinstance(e, MechanismInjected):
            lineage.append(LineageEntry(step=e.step, mechanism=e.mechanism, name=e.name, kind="injected"))
        elif isinstance(e, MechanismRolledBack):
            lineage.append(LineageEntry(step=e.step, mechanism=e.mechanism, name=e.name, kind=e.status,
                                        reason=e.reason))
    return RunResult(name=planned.name, label=planned.label, repeat=planned.repeat, seed=planned.seed,
                     direction=started.direction, finished=s.finished is not None,
                     baseline=s.baseline_value, best=s.best.value if s.best else None,
                     evaluations=sum(1 for t in s.trials if t.status not in NOT_EVALUATED),
                     best_so_far=tuple(s.best_so_far), lineage=tuple(lineage))


def summarize_ablation(spec: AblationSpec, out: Path) -> AblationSummary:
    planned = plan(spec)
    results = [r for p in planned if (r := read_run(run_dir(out, p.name), p)) is not None]
    direction = results[0].direction if results else None
    labels = [*spec.groups, *spec.baselines]
    stats = [_group_stats(label, [r for r in results if r.label == label], spec.repeats) for label in labels]
    a_change = next((g.mean_change for g in stats if g.label == "A"), None)
    stats = [g.model_copy(update={"ratio_vs_a": _ratio(g.mean_change, a_change)}) for g in stats]
    return AblationSummary(spec=spec, direction=direction, runs=tuple(results), groups=tuple(stats))


def _group_stats(label: str, runs: list[RunResult], planned: int) -> GroupStats:
    changes = [r.change for r in runs if r.change is not None]
    bests = [r.best for r in runs if r.best is not None]
    levels = "+".join(GROUPS[label]) if label in GROUPS else "1 (baseline)"
    return GroupStats(label=label, levels=levels, runs=len(runs), planned=planned,
                      mean_change=_mean(changes), sd_change=_sd(changes), ratio_vs_a=None,
                      mean_best=_mean(bests), sd_best=_sd(bests),
                      median_best=statistics.median(bests) if bests else None,
                      mean_evaluations=_mean([float(r.evaluations) for r in runs]) or 0.0,
                      injected=sum(r.injected for r in runs), rolled_back=sum(r.rolled_back for r in runs),
                      rejected=sum(r.rejected for r in runs))


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _sd(values: list[float]) -> float | None:
    if not values:
        return None
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference
