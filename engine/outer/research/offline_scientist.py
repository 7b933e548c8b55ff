"""The offline scientist: diagnoses the trace and writes mechanisms from the recipe catalog.

Its agenda is fixed and deterministic: the most severe bottleneck first; at its second session it
takes up the "no model of the objective" hypothesis if nothing has yet, and like an LLM reaching
for the obvious library it first writes a scikit-learn Gaussian process. The sandbox image has no
scikit-learn, so that candidate fails the smoke test, is archived as rejected and rolled back, and
the repair round rewrites it as a numpy surrogate: the paper's reverted case, in every demo.
"""

from __future__ import annotations

from bilevel_evolve.engine.outer.research.candidates import Candidate, Hypothesis, ResearchInput
from bilevel_evolve.engine.outer.research.recipes import PRIORITY, Recipe, get_recipe, recipe_source
from bilevel_evolve.ground.contract.source import MechanismSource

# impact, feasibility, complexity per recipe: the critique's inputs (judgement, written down)
_SCORES: dict[str, tuple[float, float, float]] = {
    "tabu": (0.8, 0.9, 1.0), "bandit": (0.7, 0.8, 1.5), "orthogonal": (0.8, 0.9, 1.2),
    "annealing": (0.5, 0.9, 1.0), "restart": (0.6, 0.9, 1.0), "surrogate": (0.8, 0.7, 2.0),
    "noise_guard": (0.5, 0.8, 1.5), "gp_sklearn": (0.9, 0.7, 2.0),
}
_NO_MODEL_FIRST = ("gp_sklearn", "surrogate")
_REPAIRS = {"gp_sklearn": "surrogate"}  # what the repair round rewrites a failed recipe into


class OfflineScientist:
    origin = "offline-recipe"

    def hypothesize(self, data: ResearchInput) -> list[Hypothesis]:
        found = data.diagnosis.bottlenecks()
        if data.session_number >= 2 and not {"gp_sklearn", "surrogate"} & data.tried:
            found = [("no-model", 1.0, "proposals ignore everything the history says about the objective"),
                     *[b for b in found if b[0] != "no-model"]]
        hypotheses = []
        for bottleneck, severity, evidence in found:
            recipe = self._recipe_for(bottleneck, data.tried)
            if recipe is None:
                continue
            impact, feasibility, complexity = _SCORES.get(recipe.name, (0.5, 0.5, 1.0))
            hypotheses.append(Hypothesis(bottleneck, f"{recipe.name}: {recipe.description}", evidence,
                                         round(impact * (0.5 + severity), 3), feasibility, complexity,
                                         recipe=recipe.name))
        return hypotheses  # the critique (highest score) is the research session's, as for the LLM

    def write(self, hypothesis: Hypothesis, data: ResearchInput) -> Candidate | None:
        if hypothesis.recipe is None:
            return None
        return self._candidate(get_recipe(hypothesis.recipe), data, hypothesis.bottleneck, ())

    def repair(self, candidate: Candidate, report: str, round_number: int, data: ResearchInput) -> Candidate | None:
        name = _REPAIRS.get(candidate.name)
        if name is None or name in data.tried:
            return None
        parent = candidate.notes.get("id")
        return self._candidate(get_recipe(name), data, candidate.session.get("bottleneck", ""),
                               (parent,) if parent else (), repaired_from=candidate.name, report=report)

    def _recipe_for(self, bottleneck: str, tried: frozenset[str]) -> Recipe | None:
        order = _NO_MODEL_FIRST if bottleneck == "no-model" else PRIORITY.get(bottleneck, ())
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
