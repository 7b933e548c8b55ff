"""Test support: load a recipe from its file and drive its hooks the way the engine does.

The engine never imports recipes on the host (they run in the sandbox); tests load them from the
file in isolation so the hooks can be exercised quickly. `MiniLoop` is a small in-memory inner
loop with the real offline proposer and the real ctx built by `ground/contract/ctx.py`: guide ->
proposer -> propose -> review -> evaluate -> observe -> accept, every answer checked with the
engine's own hook contract.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.outer.research.recipes import CATALOG, Recipe
from bilevel_evolve.ground.contract.ctx import Context, Trial, build_context
from bilevel_evolve.ground.contract.returns import check_return
from bilevel_evolve.ground.records import Direction, Hints, PendingTrial, SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import Scalar, SearchSpace

RECIPE_DIR = Path(__file__).resolve().parents[2] / "engine" / "outer" / "research" / "recipes"
HOOK_ORDER = ("guide", "propose", "review", "observe", "accept")

SPACE_DICT: dict[str, dict[str, Any]] = {
    "x": {"type": "float", "low": -5.0, "high": 5.0, "default": 4.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 1e-2},
    "depth": {"type": "int", "low": 1, "high": 12, "default": 2},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
    "wd": {"type": "float", "low": 0.0, "high": 0.5, "default": 0.4},
    "dropout": {"type": "float", "low": 0.0, "high": 0.9, "default": 0.8},
}
SPACE = SearchSpace.from_dict(SPACE_DICT)
# The optimum in unit space. The last three parameters matter as much as the first three, and the
# offline prior never touches them: only a mechanism that looks there can find most of the gain.
TARGET = {"x": 0.55, "lr": 0.7, "depth": 0.4, "act": 1.0, "wd": 0.15, "dropout": 0.2}

_counter = itertools.count()


def load_recipe(recipe: Recipe) -> ModuleType:
    """Execute a recipe file as a throwaway module (never registered in sys.modules)."""
    path = RECIPE_DIR / recipe.file
    spec = importlib.util.spec_from_file_location(f"recipe_under_test_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_mechanism(recipe: Recipe) -> Any:
    return load_recipe(recipe).MECHANISM()


def runnable_recipes() -> list[Recipe]:
    """Recipes whose imports exist here (gp_sklearn only where scikit-learn is installed)."""
    return [r for r in CATALOG if all(importlib.util.find_spec(m) is not None for m in r.extra_imports)]


def objective(params: dict[str, Scalar]) -> float:
    """A bowl in unit space (sum of squares to TARGET, times 10)."""
    return 10.0 * sum((SPACE.to_unit(n, params[n]) - TARGET[n]) ** 2 for n in SPACE.names)


def unit_distance(a: dict[str, Scalar], b: dict[str, Scalar]) -> float:
    """Chebyshev distance of two points in unit space."""
    return max(abs(SPACE.to_unit(n, a[n]) - SPACE.to_unit(n, b[n])) for n in SPACE.names)


def record(iteration: int, params: dict[str, Scalar], value: float | None, accepted: bool,
           status: str = "ok") -> TrialRecord:
    return TrialRecord(iteration=iteration, params=params, status=status, value=value, accepted=accepted)  # type: ignore[arg-type]


def make_ctx(history: list[TrialRecord], *, iteration: int | None = None, incumbent: TrialRecord | None = None,
             seed: int = 0, hook: str = "", direction: Direction = "minimize",
             config: SearchConfig | None = None, pending: tuple[PendingTrial, ...] = ()) -> Context:
    """The ctx a hook receives, built exactly as the engine builds it (SearchContext.to_json)."""
    if incumbent is None:
        accepted = [t for t in history if t.accepted]
        incumbent = accepted[-1] if accepted else None
    ctx = SearchContext(space=SPACE, direction=direction,
                        iteration=len(history) if iteration is None else iteration,
                        history=tuple(history), incumbent=incumbent, config=config or SearchConfig(),
                        pending=pending)
    return build_context(ctx.to_json(), seed=seed, hook=hook)


def as_trial(rec: TrialRecord) -> Trial:
    return Trial.from_json(rec.model_dump())


def walk_history(steps: int, seed: int = 0) -> list[TrialRecord]:
    """A synthetic history that only ever varies the first three parameters (the prior's habit)."""
    rng = random.Random(seed)
    history: list[TrialRecord] = []
    best = math.inf
    params = SPACE.defaults()
    for i in range(steps):
        if i:
            params = dict(params)
            name = SPACE.names[i % 3]
            params[name] = SPACE.from_unit(name, rng.random())
        value = objective(params)
        history.append(record(i, params, value, accepted=value < best))
        best = min(best, value)
    return history


@dataclass
class MiniLoop:
    """An in-memory inner loop around one mechanism instance (or none)."""

    mechanism: Any
    seed: int = 0
    direction: Direction = "minimize"
    noise: float = 0.0
    config: SearchConfig = field(default_factory=SearchConfig)
    history: list[TrialRecord] = field(default_factory=list)
    incumbent: TrialRecord | None = None
    agent: OfflineAgent = field(default_factory=OfflineAgent)
    log: list[dict[str, Any]] = field(default_factory=list)

    def ctx(self, iteration: int, hook: str, hints: Hints | None = None) -> tuple[SearchContext, Context]:
        engine_ctx = SearchContext(space=SPACE, direction=self.direction, iteration=iteration,
                                   history=tuple(self.history), incumbent=self.incumbent, config=self.config,
                                   hints=hints or Hints())
        return engine_ctx, build_context(engine_ctx.to_json(), seed=self.seed, hook=hook)

    def call(self, hook: str, iteration: int, *args: Any, hints: Hints | None = None) -> Any:
        _, ctx = self.ctx(iteration, hook, hints)
        value = getattr(self.mechanism, hook)(*args, ctx)
        # what the engine receives is the JSON the sandbox sends back
        value = json.loads(json.dumps(value))
        problems = check_return(hook, value, SPACE_DICT)
        assert not problems, problems
        return value

    def has(self, hook: str) -> bool:
        return self.mechanism is not None and callable(getattr(self.mechanism, hook, None))

    def step(self) -> dict[str, Any]:
        iteration = len(self.history)
        entry: dict[str, Any] = {"iteration": iteration}
        hints = Hints()
        if self.has("guide"):
            guide = entry["guide"] = self.call("guide", iteration)
            if guide:
                hints = Hints(focus=tuple(guide.get("focus", ())), avoid=tuple(guide.get("avoid", ())))
        engine_ctx, _ = self.ctx(iteration, "", hints)
        params = dict(self.agent.propose(engine_ctx).params) if iteration else SPACE.defaults()
        entry["prior"] = dict(params)
        if iteration and self.has("propose"):
            proposed = entry["propose"] = self.call("propose", iteration, hints=hints)
            if proposed is not None:
                params = proposed
        if iteration and self.has("review"):
            review = entry["review"] = self.call("review", iteration, dict(params), hints=hints)
            if review and "replace" in review:
                params = review["replace"]
        params = SPACE.validate_params(params)
        value = objective(params) + (random.Random(self.seed * 7919 + iteration).gauss(0, self.noise)
                                     if self.noise else 0.0)
        if self.direction == "maximize":
            value = -value
        better = self.incumbent is None or (value < self.incumbent.value if self.direction == "minimize"
                                            else value > self.incumbent.value)  # type: ignore[operator]
        rec = record(iteration, params, value, accepted=better)
        if iteration and self.has("observe"):
            self.call("observe", iteration, as_trial(rec), hints=hints)
        if iteration and self.has("accept"):
            incumbent = as_trial(self.incumbent) if self.incumbent else None
            verdict = entry["accept"] = self.call("accept", iteration, as_trial(rec), incumbent, hints=hints)
            if verdict is not None:
                rec = rec.model_copy(update={"accepted": verdict})
        entry.update(params=dict(params), value=value, accepted=rec.accepted)
        self.history.append(rec)
        if rec.accepted:
            self.incumbent = rec
        self.log.append(entry)
        return entry

    def run(self, steps: int) -> list[dict[str, Any]]:
        return [self.step() for _ in range(steps)]

    def clone_with(self, mechanism: Any) -> MiniLoop:
        """The same loop state (history, incumbent, proposer state) around another mechanism instance."""
        agent = OfflineAgent()
        agent.load_state_dict(self.agent.state_dict())
        return MiniLoop(mechanism=mechanism, seed=self.seed, direction=self.direction, noise=self.noise,
                        config=self.config, history=list(self.history), incumbent=self.incumbent, agent=agent)
