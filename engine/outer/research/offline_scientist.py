"""The offline scientist: diagnoses the trace and writes mechanisms from the recipe catalog.

Its agenda is fixed and deterministic: the most severe bottleneck first; at its second session it
takes up the "no model of the objective" hypothesis if nothing has yet, and like an LLM reaching
for the obvious library it first writes a scikit-learn Gaussian process. Where the trace shows a
space a model can fit (every free parameter numeric, no trial failed, no repeated point measured
differently) it takes that hypothesis up at its first session already and rates the model-based
recipes higher (impact 1, complexity 1: no choices to encode, no noise to average out), so the
surrogate is live from the first session on instead of the third or fourth. Where the trace shows a
space with choices (or ints of few values) or noise, it writes a density model first, the Parzen
estimator (TPE), which needs no encoding of choices and judges trials by rank. The sandbox image has no
scikit-learn, so that candidate fails the smoke test, is archived as rejected and rolled back, and
the repair round rewrites it as a numpy surrogate: the paper's reverted case, in every demo.

Where the session's plan names archived parents (engine/outer/research/evolution.py) it evolves them
instead: it improves a parent by changing its tunable constants (the catalog says which, and within
what bounds), or joins a parent with the chosen recipe into one mechanism (source_operators.py). When an
operator cannot apply to a parent, it writes the chosen recipe as it is.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from bilevel_evolve.engine.outer.research.candidates import Candidate, Hypothesis, ResearchInput
from bilevel_evolve.engine.outer.research.evolution import SessionPlan
from bilevel_evolve.engine.outer.research.recipes import PRIORITY, Recipe, find_recipe, get_recipe, recipe_source
from bilevel_evolve.engine.outer.research.source_operators import combine, mutate_constants
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.space import Param, coarse

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.view import LoopView

# impact, feasibility, complexity per recipe: the critique's inputs (judgement, written down)
_SCORES: dict[str, tuple[float, float, float]] = {
    "tabu": (0.8, 0.9, 1.0), "bandit": (0.7, 0.8, 1.5), "orthogonal": (0.8, 0.9, 1.2),
    "annealing": (0.5, 0.9, 1.0), "restart": (0.6, 0.9, 1.0), "surrogate": (0.8, 0.7, 2.0),
    "noise_guard": (0.5, 0.8, 1.5), "gp_sklearn": (0.9, 0.7, 2.0),
}
_NO_MODEL_FIRST = ("gp_sklearn", "surrogate")
_NO_MODEL_MIXED = ("parzen", "gp_sklearn", "surrogate")  # choices or noise: a density model first
_MODELS = frozenset({*_NO_MODEL_FIRST, *_NO_MODEL_MIXED})
# the critique's (impact, feasibility, complexity) for the model-based recipes on a space a model can fit:
# nothing to encode (no choices), nothing to average out (no noise); on a mixed or noisy one, for the
# density model that needs neither
_MODEL_FRIENDLY_SCORES = {"gp_sklearn": (1.0, 0.7, 1.0), "surrogate": (1.0, 0.8, 1.0)}
_DENSITY_FRIENDLY_SCORES = {"parzen": (1.0, 0.8, 1.0)}
_REPAIRS = {"gp_sklearn": "surrogate"}  # what the repair round rewrites a failed recipe into


class OfflineScientist:
    origin = "offline-recipe"

    def hypothesize(self, data: ResearchInput) -> list[Hypothesis]:
        found = data.diagnosis.bottlenecks()
        friendly = model_friendly(data)
        mixed = not friendly and density_friendly(data)
        if (data.session_number >= 2 or friendly or mixed) and not _MODELS & data.tried:
            evidence = "proposals ignore everything the history says about the objective"
            if friendly:
                evidence += "; every free parameter is numeric and the trace shows no noise and no failure"
            elif mixed:
                evidence += "; the space has choices or the trace shows noise: a density model fits, a regression less"
            found = [("no-model", 1.0, evidence), *[b for b in found if b[0] != "no-model"]]
        hypotheses = []
        for bottleneck, severity, evidence in found:
            recipe = self._recipe_for(bottleneck, data.tried, mixed)
            if recipe is None:
                continue
            scores = _MODEL_FRIENDLY_SCORES if friendly else _DENSITY_FRIENDLY_SCORES if mixed else _SCORES
            impact, feasibility, complexity = scores.get(recipe.name) or _SCORES.get(recipe.name, (0.5, 0.5, 1.0))
            hypotheses.append(Hypothesis(bottleneck, f"{recipe.name}: {recipe.description}", evidence,
                                         round(impact * (0.5 + severity), 3), feasibility, complexity,
                                         recipe=recipe.name))
        return hypotheses  # the critique (highest score) is the research session's, as for the LLM

    def write(self, hypothesis: Hypothesis, data: ResearchInput) -> Candidate | None:
        if hypothesis.recipe is None:
            return None
        recipe = get_recipe(hypothesis.recipe)
        plan = data.plan
        if plan is not None and plan.mode == "improve":
            child = self._improved(plan, data, hypothesis.bottleneck)
            if child is not None:
                return child
        if plan is not None and plan.mode == "combine":
            child = self._combined(plan, recipe, data, hypothesis.bottleneck)
            if child is not None:
                return child
        return self._candidate(recipe, data, hypothesis.bottleneck, ())

    def _improved(self, plan: SessionPlan, data: ResearchInput, bottleneck: str) -> Candidate | None:
        """The parent with some of its tunable constants changed (seeded by the run and the session)."""
        parent = plan.parents[0]
        recipes = [r for r in map(find_recipe, parent.families) if r is not None]
        bounds = {k: v for r in recipes for k, v in r.tunable.items()}
        mutation = mutate_constants(parent.source, bounds, random.Random(f"{plan.seed}:{parent.id}"), changes=2)
        if mutation is None:
            return None
        changes = {k: list(v) for k, v in mutation.changes.items()}
        what = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in mutation.changes.items())
        session = {"family": parent.family, "mode": "improve", "bottleneck": bottleneck,
                   "description": f"{parent.name} (generation {parent.generation}) with {what}",
                   "changes": changes, "parent_effect": parent.to_json(), "diagnosis": data.diagnosis.to_json()}
        return Candidate(name=f"{parent.family}-g{parent.generation + 1}", source=MechanismSource.from_text(
            mutation.source), origin=self.origin, session=session, parents=plan.parent_ids,
            extra_imports=tuple(i for r in recipes for i in r.extra_imports))

    def _combined(self, plan: SessionPlan, recipe: Recipe, data: ResearchInput, bottleneck: str) -> Candidate | None:
        """The parent and the chosen recipe as one mechanism, each part's hooks called in turn."""
        parent = plan.parents[0]
        family = f"{parent.family}+{recipe.name}"
        source = combine([parent.source, recipe_source(recipe).decode("utf-8")], name=family)
        if source is None:
            return None
        recipes = [r for r in map(find_recipe, family.split("+")) if r is not None]
        session = {"family": family, "mode": "combine", "bottleneck": bottleneck,
                   "description": f"{parent.name} joined with {recipe.name}: {recipe.description}",
                   "parent_effect": parent.to_json(), "diagnosis": data.diagnosis.to_json()}
        return Candidate(name=family, source=MechanismSource.from_text(source), origin=self.origin, session=session,
                         parents=plan.parent_ids, extra_imports=tuple(i for r in recipes for i in r.extra_imports))

    def repair(self, candidate: Candidate, report: str, round_number: int, data: ResearchInput) -> Candidate | None:
        name = _REPAIRS.get(candidate.name)
        if name is None or name in data.tried:
            return None
        parent = candidate.notes.get("id")
        return self._candidate(get_recipe(name), data, candidate.session.get("bottleneck", ""),
                               (parent,) if parent else (), repaired_from=candidate.name, report=report)

    def _recipe_for(self, bottleneck: str, tried: frozenset[str], mixed: bool = False) -> Recipe | None:
        first = _NO_MODEL_MIXED if mixed else _NO_MODEL_FIRST
        order = first if bottleneck == "no-model" else PRIORITY.get(bottleneck, ())
        for name in order:
            if name not in tried:
                return get_recipe(name)
        return None

    def _candidate(self, recipe: Recipe, data: ResearchInput, bottleneck: str, parents: tuple[str, ...],
                   **extra: str) -> Candidate:
        session = {"recipe": recipe.name, "bottleneck": bottleneck, "description": recipe.description,
                   "diagnosis": data.diagnosis.to_json(), **extra}
        return Candidate(name=recipe.name, source=MechanismSource(recipe_source(recipe)), origin=self.origin,
                         session=session, parents=parents, extra_imports=recipe.extra_imports)


def model_friendly(data: ResearchInput) -> bool:
    """Whether the trace shows a space a surrogate can fit as it is: every parameter that is not frozen is a
    number (float, or int with at least 10 values), no trial failed, and no repeated point was measured
    differently (a noise floor of 0). False without the loop to read."""
    view = data.loop
    if view is None or not view.history:
        return False
    if any(coarse(spec) for spec in _free_params(view)):
        return False
    return view.noise_floor == 0 and all(t.status == "ok" for t in view.history)


def density_friendly(data: ResearchInput) -> bool:
    """Whether the trace shows a space a density model (the Parzen estimator) fits better than a regression:
    a free choice parameter (or an int with fewer than 10 values), or repeated points measured differently
    (a noise floor above 0). False without the loop to read."""
    view = data.loop
    if view is None or not view.history:
        return False
    free = _free_params(view)
    return bool(free) and (any(coarse(spec) for spec in free) or view.noise_floor > 0)


def _free_params(view: LoopView) -> list[Param]:
    frozen = set(view.search_config.frozen)
    return [spec for name, spec in view.space.params.items() if name not in frozen]

