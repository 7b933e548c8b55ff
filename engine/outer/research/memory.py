"""What Level 2 knows from the archive's earlier runs: the effects recorded up to the run's horizon.

Three readings of them drive a research session (engine/outer/research/controller.py):

- `proven`: mechanisms whose effect is proven positive (mechanism_archive/effects.py) for this domain and
  space, then those proven for a similar space (same parameter names and types) and not measured
  otherwise here; a session injects them before it writes anything new;
- `parents`: the mechanisms measured in at least PROVEN_RUNS runs here (or, when none was measured
  here, on a similar space) with a positive mean effect, best first: what a new candidate is written as
  a child of. One with fewer runs is still being measured: a session writes it again rather than a
  child of it (the offline scientist's catalog recipe is the same source, so the same mechanism);
- `family_scores`: every run's score of the members of each recipe family, for the bandit that ranks
  the hypotheses (engine/outer/research/ranking.py).

Recall mechanisms (recall.py) are left out of all three: each holds one task's points, not a way of
searching. And a run that recalled points reads the effects of runs that began so too, one that did not
the others' (the scope's start: mechanism_archive/effects.py), until no run that began as it did was
measured on a space of its shape: then the other start's effects are the best evidence there is.

The horizon makes the memory a fixed function of the archive: a resumed run reads what it read, and
runs that share an archive at once (an ablation's) cannot learn from each other mid-way. A run with no
horizon (one from before horizons) or with --no-reuse has an empty memory, as a fresh archive gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bilevel_evolve.engine.outer.research.recall import RECALL
from bilevel_evolve.mechanism_archive.effects import Measurement, Scope, estimates, measurements, shape_estimates
from bilevel_evolve.mechanism_archive.lineage import generations
from bilevel_evolve.mechanism_archive.models import PROVEN_RUNS

if TYPE_CHECKING:
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.mechanism_archive.models import EffectEstimate, MechanismRecord

MAX_PARENTS = 6


@dataclass(frozen=True)
class ArchivedMechanism:
    """An archived mechanism as a session may build on it. Its name and source are untrusted text."""

    id: str
    name: str
    family: str  # the recipe family ("tabu", "orthogonal+tabu"), else the mechanism's own name
    generation: int
    estimate: EffectEstimate  # here if measured here, else on similar spaces
    similar_space: bool  # the estimate pools other domains' runs on a space of this shape
    hooks: tuple[str, ...]
    hook_stats: dict[str, dict[str, Any]]  # the latest run's: hook -> {"calls", "changed", ...}
    source: str

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.family.split("+"))

    def to_json(self) -> dict[str, Any]:
        e = self.estimate
        return {"id": self.id, "name": self.name, "family": self.family, "generation": self.generation,
                "runs": e.runs, "mean": e.mean, "low": e.low, "high": e.high, "proven": e.proven,
                "similar_space": self.similar_space}


def family_of(session: dict[str, Any], name: str) -> str:
    family = session.get("family") or session.get("recipe")
    return family if isinstance(family, str) and family else name


@dataclass(frozen=True)
class ArchiveMemory:
    scope: Scope | None = None
    proven: tuple[ArchivedMechanism, ...] = ()
    parents: tuple[ArchivedMechanism, ...] = ()
    family_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.proven or self.parents or self.family_scores)

    @classmethod
    def load(cls, archive: Archive, scope: Scope, horizon: int | None) -> ArchiveMemory:
        if horizon is None:
            return cls(scope)
        records = _Records(archive, horizon)
        # a recall mechanism holds one task's points, not a way of searching: nothing to reuse or build on
        found = [m for m in measurements(archive.events(kind="effect", up_to=horizon))
                 if records.family(m.mechanism_id) != RECALL]
        scope = _read_as(scope, found)
        here = {e.mechanism_id: e for e in estimates(found)
                if (e.domain, e.space_signature, e.start) == (scope.domain, scope.signature, scope.start)}
        similar = {e.mechanism_id: e for e in shape_estimates(found, scope.shape, scope.start)}
        if not similar:  # every run measured here is on a space of this shape too
            return cls(scope)
        proven = [records.mechanism(mid, e, False) for mid, e in _by_low(here) if e.sign == "positive"]
        proven += [records.mechanism(mid, e, True) for mid, e in _by_low(similar)
                   if e.sign == "positive" and (mid not in here or here[mid].sign is None)]
        pool, pooled_similar = (here, False) if here else (similar, True)
        best_first = sorted(pool.items(), key=lambda kv: -kv[1].mean)
        parents = [records.mechanism(mid, e, pooled_similar) for mid, e in best_first
                   if e.runs >= PROVEN_RUNS and e.mean > 0 and e.sign != "negative"][:MAX_PARENTS]
        scores: dict[str, list[float]] = {}
        for m in found:
            measured_here = m.scope == scope
            if m.mechanism_id in pool and (measured_here or pooled_similar):
                for family in records.family(m.mechanism_id).split("+"):
                    scores.setdefault(family, []).append(m.score)
        return cls(scope, tuple(proven), tuple(parents), {k: tuple(v) for k, v in scores.items()})


def _read_as(scope: Scope, found: list[Measurement]) -> Scope:
    """The scope whose effects a run reads: its own, or, while no run that began as it did was measured on
    its space's shape, the other start's (the best evidence there is until then)."""
    if any(m.scope.shape == scope.shape and m.scope.start == scope.start for m in found):
        return scope
    return replace(scope, start=next((m.scope.start for m in found if m.scope.shape == scope.shape), scope.start))


def _by_low(pool: dict[str, EffectEstimate]) -> list[tuple[str, EffectEstimate]]:
    """Surest first: the highest lower bound of the interval."""
    return sorted(pool.items(), key=lambda kv: -(kv[1].low if kv[1].low is not None else kv[1].mean))


class _Records:
    """The archive's records of the mechanisms the memory names, each read once, as of the horizon (what was
    recorded later, even of these mechanisms, is not part of the memory)."""

    def __init__(self, archive: Archive, horizon: int) -> None:
        self.archive = archive
        self.horizon = horizon
        self.generation = generations({s.id: s for s in archive.list()})
        self._read: dict[str, MechanismRecord] = {}

    def record(self, mid: str) -> MechanismRecord:
        if mid not in self._read:
            self._read[mid] = self.archive.get(mid)
        return self._read[mid]

    def family(self, mid: str) -> str:
        record = self.record(mid)
        return family_of(record.record.session, record.name)

    def mechanism(self, mid: str, estimate: EffectEstimate, similar_space: bool) -> ArchivedMechanism:
        record = self.record(mid)
        stats = [e.payload for e in record.history if e.kind == "hook_stats" and e.seq <= self.horizon]
        return ArchivedMechanism(
            id=mid, name=record.name, family=self.family(mid), generation=self.generation.get(mid, 0),
            estimate=estimate, similar_space=similar_space, hooks=tuple((record.gate_report or {}).get("hooks") or ()),
            hook_stats=stats[-1] if stats else {}, source=record.source)
