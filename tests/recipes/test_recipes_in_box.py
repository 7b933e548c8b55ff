"""Every recipe through the real vetting path (gate, then the Docker box): each ends with the status
its catalog entry expects. This is where gp_sklearn must fail — the rollback case of every demo.

The engine and image come from tests/conftest.py's shared fixtures: locally a missing one skips
these tests; with CI=true it fails them.
"""

from __future__ import annotations

from typing import Any

import pytest

from bilevel_evolve.engine.outer.research.recipes import CATALOG, Recipe, recipe_source
from bilevel_evolve.sandbox.gate import GatePolicy
from bilevel_evolve.sandbox.vet import check_mechanism

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("recipe", CATALOG, ids=lambda r: r.name)
def test_recipe_gets_the_vetting_status_its_catalog_entry_expects(docker_client: Any, sandbox_image: str,
                                                                  recipe: Recipe) -> None:
    policy = GatePolicy.default().allowing(*recipe.extra_imports)
    report = check_mechanism(recipe_source(recipe).decode(), policy=policy, client=docker_client)
    assert report.status == recipe.expected_status, report.to_text()
    if recipe.expected_status == "rejected-smoke":
        assert any("No module named 'sklearn'" in reason for reason in report.reasons), report.to_text()
    else:
        verdict = report.box.verdict if report.box is not None else None
        assert verdict is not None and set(verdict.mechanism.hooks) == set(recipe.hooks), report.to_text()
        assert all(verdict.hooks[hook].calls > 0 for hook in recipe.hooks), report.to_text()
