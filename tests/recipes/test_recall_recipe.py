"""The recall mechanism: which earlier points a run recalls (validated, one per run, best first), how they enter
its source (as literals, whatever the text of a value), and what it proposes (each point once)."""

from __future__ import annotations

import importlib.util
import itertools
from typing import Any

import pytest
from recipe_driver import SPACE, SPACE_DICT, make_ctx, record

from bilevel_evolve.engine.outer.research.recall import (
    RECALL_POINTS,
    RecalledPoint,
    recall_source,
    recalled_points,
)
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import PendingTrial, SearchConfig
from bilevel_evolve.ground.space import SearchSpace
from bilevel_evolve.mechanism_archive.models import RunResult
from bilevel_evolve.sandbox.gate import check_source

_counter = itertools.count()


def _point(x: float, **overrides: Any) -> dict[str, Any]:
    return {**SPACE.defaults(), "x": x, **overrides}


def _result(seq: int, run: str, *points: tuple[dict[str, Any], Any], direction: str = "minimize") -> RunResult:
    return RunResult(seq=seq, run_id=run, domain="d", space_signature="s", payload={
        "direction": direction, "points": [{"params": p, "value": v} for p, v in points]})


def _load(source: MechanismSource) -> Any:
    spec = importlib.util.spec_from_loader(f"recall_under_test_{next(_counter)}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source.text(), "recall.py", "exec"), module.__dict__)  # our own generated source, in a test
    return module.MECHANISM()


def test_a_run_recalls_the_best_valid_point_of_each_earlier_run_best_first() -> None:
    results = [
        _result(1, "a", (_point(1.0), 3.0), (_point(1.5), 3.5)),
        _result(2, "b", (_point(2.0), 1.0)),
        _result(3, "b", (_point(2.5), 2.0)),  # b was extended: its latest result is the one recalled
        _result(4, "c", (_point(99.0), 0.1), (_point(3.0), 2.5)),  # its best is off the space: its next one
        _result(5, "d", (_point(4.0), None), ({"x": 1.0}, 0.2)),  # no value / not every parameter: nothing
        _result(6, "e", (_point(1.0), 2.9)),  # the same point as a's: recalled once
        _result(7, "f", (_point(0.5), 0.3), direction="maximize"),  # measured in the other direction
    ]
    points = recalled_points(results, SPACE, "minimize")
    assert [(p.run_id, p.params["x"], p.value) for p in points] == [("b", 2.5, 2.0), ("c", 3.0, 2.5),
                                                                   ("e", 1.0, 2.9)]
    assert len(points) == RECALL_POINTS
    assert [p.run_id for p in recalled_points(results, SPACE, "maximize")] == ["f"]


def test_the_recall_source_passes_the_gate_and_proposes_each_point_once() -> None:
    points = [RecalledPoint(_point(x), v, f"r{x}") for x, v in ((1.0, 0.1), (2.0, 0.2), (3.0, 0.3))]
    source = recall_source(points)
    gate = check_source(source)
    assert gate.ok and gate.hooks == ("propose",)
    mech = _load(source)
    assert mech.propose(make_ctx([])) == _point(1.0)
    history = [record(0, SPACE.defaults(), 5.0, True), record(1, _point(1.0), 0.1, True)]
    assert mech.propose(make_ctx(history)) == _point(2.0)
    in_flight = (PendingTrial(iteration=2, params=_point(2.0)),)
    assert mech.propose(make_ctx(history, pending=in_flight)) == _point(3.0)
    everything = [*history, record(2, _point(2.0), 0.2, False), record(3, _point(3.0), 0.3, False)]
    assert mech.propose(make_ctx(everything)) is None


def test_a_frozen_parameter_keeps_the_incumbents_value() -> None:
    mech = _load(recall_source([RecalledPoint(_point(1.0, depth=7), 0.1, "r")]))
    incumbent = record(0, SPACE.defaults(), 5.0, True)
    proposed = mech.propose(make_ctx([incumbent], config=SearchConfig(frozen=("depth",))))
    assert proposed == _point(1.0, depth=SPACE.defaults()["depth"])


@pytest.mark.parametrize("hostile", ["a'], __import__('os')#", 'x"""\nimport os\n', "\\'; POINTS = 0"])
def test_a_value_of_any_text_enters_the_source_as_a_literal(hostile: str) -> None:
    space = SearchSpace.from_dict({**SPACE_DICT, "act": {"type": "choice", "choices": ["relu", hostile],
                                                         "default": "relu"}})
    (point,) = recalled_points([_result(1, "r", (_point(1.0, act=hostile), 0.1))], space, "minimize")
    source = recall_source([point])
    assert check_source(source).ok
    assert _load(source).propose(make_ctx([])) == _point(1.0, act=hostile)
