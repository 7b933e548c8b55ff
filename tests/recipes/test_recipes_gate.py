from __future__ import annotations

import pytest

from bilevel_evolve.engine.outer.research.recipes import CATALOG, Recipe, get_recipe, recipe_source
from bilevel_evolve.sandbox.gate import GatePolicy, check_source

ACCEPTED = [r for r in CATALOG if r.expected_status == "accepted"]


@pytest.mark.parametrize("recipe", ACCEPTED, ids=lambda r: r.name)
def test_recipe_passes_the_default_gate_with_the_hooks_the_catalog_declares(recipe: Recipe) -> None:
    report = check_source(recipe_source(recipe), filename=recipe.file, policy=GatePolicy.default())
    assert report.ok, report.to_text()
    assert set(report.hooks) == set(recipe.hooks)


def test_gp_sklearn_fails_the_default_gate_on_its_sklearn_import() -> None:
    gp = get_recipe("gp_sklearn")
    report = check_source(recipe_source(gp), filename=gp.file, policy=GatePolicy.default())
    assert not report.ok
    assert report.violations and all("sklearn" in v.message for v in report.violations), report.to_text()


def test_gp_sklearn_passes_the_gate_once_its_requested_imports_are_allowed() -> None:
    """The offline scientist asks for scikit-learn; the gate lets it through, so the box must reject it."""
    gp = get_recipe("gp_sklearn")
    policy = GatePolicy.default().allowing(*gp.extra_imports)
    report = check_source(recipe_source(gp), filename=gp.file, policy=policy)
    assert report.ok, report.to_text()
    assert set(report.hooks) == set(gp.hooks)
