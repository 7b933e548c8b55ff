"""What a research session writes once it has nothing proven left to reuse: a child of an archived parent
(improve the best of the chosen family, or combine two) or, with no parent to build on, a fresh one.

A parent is a mechanism the archive measured in enough runs (memory.py) with a positive mean effect.

- improve: the chosen hypothesis names a recipe family with such a parent: the best one is improved
  (the offline scientist changes its constants, seeded by the parent and the run's horizon, so every
  run of one ablation writes the same child, and the next ablation can tell whether it is proven).
  An LLM's hypotheses name no family: the best parent is improved when its effect is proven.
- combine: the chosen family was measured but has no parent (it did not pay alone): the offline
  scientist joins the chosen recipe with the best parent whose hooks do not fight it (both proposing,
  or both overriding acceptance). The LLM joins the two best parents of different families when the
  best one is not proven.
- fresh: the chosen family was never measured here (it is measured alone first), or there is no parent
  (a fresh archive, --no-reuse): what a session wrote before the archive had a memory.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bilevel_evolve.engine.outer.research.candidates import Hypothesis
from bilevel_evolve.engine.outer.research.memory import ArchivedMechanism
from bilevel_evolve.engine.outer.research.recipes import find_recipe

Mode = Literal["fresh", "improve", "combine"]
EXCLUSIVE_HOOKS = ("propose", "accept")  # two parts that both define one of these: only the first is heard


@dataclass(frozen=True)
class SessionPlan:
    mode: Mode = "fresh"
    parents: tuple[ArchivedMechanism, ...] = ()
    recipe: str | None = None  # combine (offline): the catalog recipe joined with the parent
    recipe_id: str | None = None  # that recipe's archive id, when the archive holds its source
    seed: str = ""  # what the offline scientist seeds its changes with, beside the parent: the run's horizon

    @property
    def parent_ids(self) -> tuple[str, ...]:
        ids = [p.id for p in self.parents] + ([self.recipe_id] if self.recipe_id else [])
        return tuple(dict.fromkeys(ids))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "parents": [p.to_json() for p in self.parents]}
        if self.recipe:
            out["recipe"] = self.recipe
        return out


FRESH = SessionPlan()


def compatible(hooks_a: Sequence[str], hooks_b: Sequence[str]) -> bool:
    return not any(h in hooks_a and h in hooks_b for h in EXCLUSIVE_HOOKS)


def plan_session(chosen: Hypothesis, parents: Sequence[ArchivedMechanism], *, active: Sequence[str],
                 measured: Collection[str], seed: str, recipe_id: str | None = None) -> SessionPlan:
    """The plan for the chosen hypothesis, given the archive's parents (best first), the live set's ids and
    the families the archive measured. `recipe_id` is the archive id of the chosen recipe's source, if any."""
    usable = [p for p in parents if p.id not in active]
    if not usable:
        return FRESH
    if chosen.recipe is None:
        return _plan_for_an_llm(usable, seed)
    same = [p for p in usable if chosen.recipe in p.families]
    if same:
        return SessionPlan("improve", (same[0],), seed=seed)
    if chosen.recipe not in measured:
        return FRESH
    recipe = find_recipe(chosen.recipe)
    hooks = recipe.hooks if recipe is not None else ()
    partner = next((p for p in usable if compatible(p.hooks, hooks)), None)
    if partner is None:
        return FRESH
    return SessionPlan("combine", (partner,), recipe=chosen.recipe, recipe_id=recipe_id, seed=seed)


def _plan_for_an_llm(usable: Sequence[ArchivedMechanism], seed: str) -> SessionPlan:
    best = usable[0]
    if best.estimate.proven:
        return SessionPlan("improve", (best,), seed=seed)
    other = next((p for p in usable[1:] if p.family != best.family and compatible(p.hooks, best.hooks)), None)
    if other is not None:
        return SessionPlan("combine", (best, other), seed=seed)
    return SessionPlan("improve", (best,), seed=seed)
