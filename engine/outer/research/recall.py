"""What a run leaves in the archive of its task, and what a later run on the same task recalls of it.

Mechanisms are what Level 2 learns about searching; this is what a run learned about its task. At its
finish a Level 2 run records its result (mechanism_archive: the results table): its RECORDED_POINTS best
distinct points (baseline trials left out: every run measures those). At its first iteration a run whose
archive holds results for its exact scope (the same domain and space: values of another task mean
nothing here) writes the recall recipe (recipes/recall.py) with the best point of each of the
RECALL_POINTS best earlier runs, one point per run so that the points come from different basins, and
vets and injects it like any mechanism: it proposes each point once. What the archive recorded after the
run's horizon is not read (a resumed run recalls what it recalled; one ablation's runs never recall each
other's), and --no-reuse recalls nothing.

A recalled point is untrusted data (any mechanism or model may have proposed it): only a point the space
validates, with a finite value measured in the run's direction, is recalled, and it enters the source as
Python literals (repr of floats, ints, bools and strings), never as text of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bilevel_evolve.engine.outer.research.recipes import RECALL_RECIPE, recipe_source
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import SpaceError
from bilevel_evolve.ground.records import gain

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.view import LoopView
    from bilevel_evolve.ground.records import Direction
    from bilevel_evolve.ground.space import SearchSpace
    from bilevel_evolve.mechanism_archive.models import RunResult

RECORDED_POINTS = 3  # a run's best distinct points, recorded at its finish
RECALL_POINTS = 3  # the earlier runs whose best point a run recalls
RECALL = RECALL_RECIPE.name  # the family of every recall mechanism: never reused, never a parent
T = TypeVar("T")
_POINTS_LINE = "POINTS: list = []  # the recalled points, written in by the engine"


@dataclass(frozen=True)
class RecalledPoint:
    params: dict[str, Any]
    value: float
    run_id: str

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "value": self.value}


def run_result(view: LoopView) -> dict[str, Any]:
    """What the run found: its best distinct points (measured, not the baseline), best first."""
    measured = [t for t in view.history if t.status == "ok" and t.value is not None and t.source != "baseline"
                and math.isfinite(t.value)]
    best = _best_distinct(measured, lambda t: (t.params, t.value or 0.0), view.direction, RECORDED_POINTS)
    return {"direction": view.direction,
            "points": [{"params": dict(t.params), "value": t.value, "iteration": t.iteration} for t in best]}


def recalled_points(results: Sequence[RunResult], space: SearchSpace, direction: Direction) -> list[RecalledPoint]:
    """The best valid point of each earlier run (from its latest result), best first, RECALL_POINTS at most."""
    latest = {r.run_id: r.payload for r in results}  # in seq order: an extended run's later result wins
    best: list[RecalledPoint] = []
    for run_id, payload in latest.items():
        if payload.get("direction") != direction:
            continue
        point = next((p for p in (_point(raw, space) for raw in payload.get("points") or ()) if p), None)
        if point is not None:
            best.append(RecalledPoint(point[0], point[1], run_id))
    return _best_distinct(best, lambda p: (p.params, p.value), direction, RECALL_POINTS)


def recall_source(points: Sequence[RecalledPoint]) -> MechanismSource:
    """The recall recipe with these points in it."""
    template = recipe_source(RECALL_RECIPE).decode("utf-8")
    if _POINTS_LINE not in template:
        raise AssertionError("recipes/recall.py lost its POINTS line")
    literal = "[" + ", ".join(_literal(p.params) for p in points) + "]"
    return MechanismSource.from_text(template.replace(_POINTS_LINE, f"POINTS: list = {literal}", 1))


def _point(raw: Any, space: SearchSpace) -> tuple[dict[str, Any], float] | None:
    """A recorded point as (params the space validates, its value), or None."""
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict):
        return None
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    try:
        return space.validate_params(raw["params"]), float(value)
    except SpaceError:
        return None


def _literal(params: dict[str, Any]) -> str:
    parts = []
    for name, value in params.items():
        if not isinstance(value, bool | int | float | str):  # validate_params gives nothing else
            raise TypeError(f"a recalled value of {name!r} is a {type(value).__name__}")
        parts.append(f"{name!r}: {value!r}")
    return "{" + ", ".join(parts) + "}"


def _best_distinct(items: Sequence[T], point: Callable[[T], tuple[Mapping[str, Any], float]], direction: Direction,
                   limit: int) -> list[T]:
    """The `limit` best of `items` in the run's direction, each at a point (its params) none before it had."""
    out: list[T] = []
    for item in sorted(items, key=lambda i: -gain(point(i)[1], 0.0, direction)):
        if all(point(kept)[0] != point(item)[0] for kept in out):
            out.append(item)
        if len(out) == limit:
            break
    return out
