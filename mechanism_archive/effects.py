"""Effects across runs: each run's measured effect of a mechanism, pooled per scope into an estimate.

A run records at most one effect of a mechanism (the controller's window after injecting it); its
`score` is a signed, scale-free number, positive when the mechanism helped whatever the direction
(engine/outer/research/effect_window.py says how it is computed), and its `scope` names the domain and
the space it was measured on. Here the scores of one mechanism are pooled over runs:

- per scope (domain, space signature): what `archive list/show` print, and what makes a mechanism
  *proven* for a domain;
- per space shape (the parameters' names and types, any bounds, any domain): "a similar space".

Either way, runs that started differently are pooled apart: a run that began by measuring points earlier
runs found (a recall, engine/outer/research/recall.py) judges its mechanisms against a search already
near those points, so their scores there answer another question than in a run that started from
nothing. The scope's `start` ("fresh" or "recalled") says which.

The estimate is the mean over runs with a two-sided 95 % Student-t interval (mean ± t(0.975, n-1) ·
sd / √n); one run gives a hint without an interval. Proven means at least PROVEN_RUNS runs and an
interval that excludes zero. An effect without a score or scope (one recorded by an archive of format
1, or by a run resumed from before it) counts nowhere: there is no telling where it was measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bilevel_evolve.mechanism_archive.models import FRESH, STARTS, ArchiveEvent, EffectEstimate

SIGNATURE_CHARS = 16
# Two-sided 95 % quantiles of Student's t by degrees of freedom; between two rows the lower row's
# (larger) value is used, so an interval is never narrower than it should be.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101,
         19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052,
         28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
_T975_LIMIT = 1.960


@dataclass(frozen=True)
class Scope:
    """Where an effect was measured: the run's domain and its search space."""

    domain: str
    signature: str  # the parameters' names, types and bounds
    shape: str  # the parameters' names and types only: spaces of this shape are "similar"
    start: str = FRESH  # how the run began: FRESH, or RECALLED (it measured earlier runs' best points first)

    def to_json(self) -> dict[str, str]:
        out = {"domain": self.domain, "space": self.signature, "shape": self.shape}
        return out | ({"start": self.start} if self.start != FRESH else {})

    @classmethod
    def from_json(cls, data: Any) -> Scope | None:
        if not isinstance(data, Mapping):
            return None
        domain, signature, shape = data.get("domain"), data.get("space"), data.get("shape")
        start = data.get("start", FRESH)
        if not (isinstance(domain, str) and isinstance(signature, str) and isinstance(shape, str)):
            return None
        if start not in STARTS:  # a start this version does not know: pooled with nothing
            return None
        return cls(domain, signature, shape, start) if domain and signature and shape else None


def scope_of(domain: str, space: Mapping[str, Mapping[str, Any]]) -> Scope:
    """The scope of a run on `domain` with `space` (SearchSpace.to_dict()). The signature is a stable hash of
    each parameter's name, type, bounds, log flag and choices (defaults left out: they move no bound)."""
    exact = sorted((name, _bounds(spec)) for name, spec in space.items())
    shape = sorted((name, str(spec.get("type"))) for name, spec in space.items())
    return Scope(domain=domain, signature=_digest(exact), shape=_digest(shape))


def _bounds(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in ("type", "low", "high", "log", "choices") if k in spec}


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:SIGNATURE_CHARS]


def t_quantile(df: int) -> float:
    """Student's t at 0.975 for df >= 1 degrees of freedom (conservative between table rows)."""
    if df < 1:
        raise ValueError("a t interval needs at least two runs")
    if df > max(_T975):
        return _T975_LIMIT
    return _T975[max(k for k in _T975 if k <= df)]


def interval(scores: list[float]) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the scores: the 95 % t interval, or no interval for a single score."""
    mean = statistics.fmean(scores)
    if len(scores) < 2:
        return mean, None, None
    half = t_quantile(len(scores) - 1) * statistics.stdev(scores) / math.sqrt(len(scores))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Measurement:
    """One run's effect of one mechanism, as pooled."""

    mechanism_id: str
    run_id: str
    scope: Scope
    score: float


def measurements(events: Iterable[ArchiveEvent], *, up_to: int | None = None) -> list[Measurement]:
    """The latest scored, scoped effect of each mechanism in each run (events up to seq `up_to`, if given)."""
    latest: dict[tuple[str, str], Measurement] = {}
    for event in events:
        if event.kind != "effect" or (up_to is not None and event.seq > up_to):
            continue
        scope = Scope.from_json(event.payload.get("scope"))
        score = event.payload.get("score")
        if scope is None or not isinstance(score, int | float) or isinstance(score, bool) or not math.isfinite(score):
            continue
        latest[(event.mechanism_id, event.run_id)] = Measurement(event.mechanism_id, event.run_id, scope, float(score))
    return list(latest.values())


def estimates(found: Iterable[Measurement]) -> list[EffectEstimate]:
    """One estimate per mechanism and scope (domain, signature, start), most runs first, then in
    first-measured order."""
    pooled: dict[tuple[str, str, str, str], list[Measurement]] = {}
    for m in found:
        pooled.setdefault((m.mechanism_id, m.scope.domain, m.scope.signature, m.scope.start), []).append(m)
    out = [_estimate(mid, ms, domain=domain, signature=signature)
           for (mid, domain, signature, _), ms in pooled.items()]
    return sorted(out, key=lambda e: -e.runs)


def shape_estimates(found: Iterable[Measurement], shape: str, start: str = FRESH) -> list[EffectEstimate]:
    """One estimate per mechanism over every run whose space has this shape, whatever its domain, that began
    as `start` did."""
    pooled: dict[str, list[Measurement]] = {}
    for m in found:
        if m.scope.shape == shape and m.scope.start == start:
            pooled.setdefault(m.mechanism_id, []).append(m)
    return sorted((_estimate(mid, ms) for mid, ms in pooled.items()), key=lambda e: -e.runs)


def _estimate(mechanism_id: str, found: list[Measurement], *, domain: str | None = None,
              signature: str | None = None) -> EffectEstimate:
    mean, low, high = interval([m.score for m in found])
    return EffectEstimate(mechanism_id=mechanism_id, domain=domain, space_signature=signature,
                          space_shape=found[0].scope.shape, start=found[0].scope.start, runs=len(found), mean=mean,
                          low=low, high=high)


def by_mechanism(found: Iterable[EffectEstimate]) -> dict[str, tuple[EffectEstimate, ...]]:
    out: dict[str, list[EffectEstimate]] = {}
    for e in found:
        out.setdefault(e.mechanism_id, []).append(e)
    return {k: tuple(v) for k, v in out.items()}
