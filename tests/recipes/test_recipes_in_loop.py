"""Each recipe injected into the real inner loop (offline prior, run store, mechanism set) through
a mechanism host: its hooks fire every iteration, it changes decisions, and it is never rolled back.

The host here is `LocalProcessHost` (worker processes, no container) so the test needs no Docker;
the workers speak the same protocol as the ones inside the sandbox container.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from recipe_driver import SPACE, objective

from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.mechanisms.active_set import MechanismSet
from bilevel_evolve.engine.outer.research.recipes import CATALOG, Recipe, get_recipe, recipe_source
from bilevel_evolve.engine.run.events import DecisionMade, HookCalled, MechanismRolledBack
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import Scalar
from bilevel_evolve.sandbox.hosts.base import HookFailure, LocalProcessHost

ITERATIONS = 24
# The hook through which each recipe changes what the loop does.
DECIDING_HOOK = {"tabu": "review", "bandit": "propose", "orthogonal": "propose", "annealing": "accept",
                 "restart": "propose", "surrogate": "propose", "parzen": "propose", "noise_guard": "propose"}


class MixedDomain:
    name = "mixed"
    space = SPACE
    direction: Direction = "minimize"

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        return TrialResult(status="ok", value=objective(params))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


def run_loop(tmp_path: Path, recipe: Recipe | None) -> tuple[list[Any], MechanismSet | None]:
    config = RunConfig(run_id="recipes", domain="mixed", iterations=ITERATIONS, seed=5)
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host")
    try:
        loop = InnerLoop(store, config, MixedDomain(), OfflineAgent(),
                         mechanism_host=host if recipe is not None else None)
        if recipe is not None:
            assert loop.mechanisms is not None
            loop.mechanisms.add(recipe.name, MechanismSource(recipe_source(recipe)), step=0)
        loop.start()
        loop.run()
        return store.events(), loop.mechanisms
    finally:
        host.close()
        store.close()


def best_value(events: list[Any]) -> float:
    return min(e.value for e in events if isinstance(e, DecisionMade) and e.value is not None)


@pytest.mark.parametrize("recipe", [r for r in CATALOG if r.expected_status == "accepted"], ids=lambda r: r.name)
def test_recipe_runs_live_in_the_inner_loop_and_changes_decisions(tmp_path: Path, recipe: Recipe) -> None:
    events, mechanisms = run_loop(tmp_path, recipe)
    assert mechanisms is not None and mechanisms.ids() == (recipe.name,), "rolled back"
    assert not [e for e in events if isinstance(e, MechanismRolledBack)]
    calls = [e for e in events if isinstance(e, HookCalled)]
    for hook in recipe.hooks:
        if hook in ("guide", "propose", "review", "observe", "accept"):
            assert sum(e.hook == hook for e in calls) == ITERATIONS, hook
    deciding = DECIDING_HOOK[recipe.name]
    assert any(e.changed for e in calls if e.hook == deciding), f"{recipe.name}: {deciding} never changed a decision"


def test_exploring_recipes_beat_the_offline_prior_alone(tmp_path: Path) -> None:
    alone = best_value(run_loop(tmp_path / "alone", None)[0])
    for name in ("tabu", "bandit", "orthogonal", "surrogate", "parzen"):
        events, _ = run_loop(tmp_path / name, get_recipe(name))
        assert best_value(events) < 0.5 * alone, name


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is not None, reason="scikit-learn is installed here")
def test_gp_sklearn_cannot_be_loaded_into_a_host_without_scikit_learn(tmp_path: Path) -> None:
    gp = get_recipe("gp_sklearn")
    host = LocalProcessHost(tmp_path / "host")
    try:
        with pytest.raises(HookFailure) as caught:
            host.load(gp.name, MechanismSource(recipe_source(gp)), None)
    finally:
        host.close()
    assert "No module named 'sklearn'" in caught.value.reason
