"""The offline scientist of a text run: it writes stages of the revision pipeline, not search mechanisms.

A text run's one parameter names a draft, so a search mechanism has nothing to search; what Level 2
can change is the pipeline. Its agenda is fixed, from the stage catalog (recipes.STAGE_CATALOG): like
an editor reaching for the obvious library it first writes a readability stage on textstat, which the
sandbox image lacks, so the candidate fails the smoke test, is archived as rejected and rolled back,
and the repair round rewrites it as a plain-words stage on the standard library alone: the text run's
own reverted case, in every offline demo. Each candidate says where it runs (its `position`).
"""

from __future__ import annotations

from bilevel_evolve.engine.outer.research.candidates import Candidate, Hypothesis, ResearchInput
from bilevel_evolve.engine.outer.research.recipes import STAGE_CATALOG, Recipe, recipe_source
from bilevel_evolve.ground.contract.source import MechanismSource

_REPAIRS = {"stage_readability": "stage_plain"}  # what the repair round rewrites a failed stage into
_BY_NAME = {recipe.name: recipe for recipe in STAGE_CATALOG}


class OfflineStageScientist:
    origin = "offline-recipe"

    def hypothesize(self, data: ResearchInput) -> list[Hypothesis]:
        d = data.diagnosis
        evidence = (f"{d.stagnation} iterations since the last kept draft; the best rose {d.recent_gain:.3g} over the "
                    f"last {d.window}: each revision's plan makes a few edits, and what it does not pick stays")
        untried = [recipe for recipe in STAGE_CATALOG if recipe.name not in data.tried]
        if not untried:
            return []
        recipe = untried[0]
        return [Hypothesis("plateau", f"{recipe.name}: {recipe.description}", evidence, 0.8, 0.8, 1.0,
                           recipe=recipe.name)]

    def write(self, hypothesis: Hypothesis, data: ResearchInput) -> Candidate | None:
        if hypothesis.recipe not in _BY_NAME:
            return None
        return self._candidate(_BY_NAME[hypothesis.recipe], data, hypothesis.bottleneck, ())

    def repair(self, candidate: Candidate, report: str, round_number: int, data: ResearchInput) -> Candidate | None:
        name = _REPAIRS.get(candidate.name)
        if name is None or name in data.tried:
            return None
        parent = candidate.notes.get("id")
        return self._candidate(_BY_NAME[name], data, candidate.session.get("bottleneck", ""),
                               (parent,) if parent else (), repaired_from=candidate.name, report=report)

    def _candidate(self, recipe: Recipe, data: ResearchInput, bottleneck: str, parents: tuple[str, ...],
                   **extra: str) -> Candidate:
        session = {"recipe": recipe.name, "bottleneck": bottleneck, "description": recipe.description,
                   "diagnosis": data.diagnosis.to_json(), **extra}
        return Candidate(name=recipe.name, source=MechanismSource(recipe_source(recipe)), origin=self.origin,
                         session=session, parents=parents, extra_imports=recipe.extra_imports)
