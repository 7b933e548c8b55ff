from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError
from recipe_driver import RECIPE_DIR

from bilevel_evolve.engine.outer.research.recipes import (
    BOTTLENECKS,
    CATALOG,
    PRIORITY,
    Recipe,
    get_recipe,
    pick_recipe,
    recipe_source,
)
from bilevel_evolve.ground.errors import EvolveError


def test_every_recipe_source_is_the_exact_bytes_of_its_file() -> None:
    for recipe in CATALOG:
        source = recipe_source(recipe)
        assert source == (RECIPE_DIR / recipe.file).read_bytes()
        assert source.rstrip().splitlines()[-1].startswith(b"MECHANISM = ")


def test_reading_a_recipe_source_never_imports_the_recipe() -> None:
    for recipe in CATALOG:
        recipe_source(recipe)
    loaded = [name for name in sys.modules if name.startswith("bilevel_evolve.engine.outer.research.recipes.")]
    assert loaded == []


def test_every_recipe_file_opens_with_a_docstring_naming_its_bottleneck() -> None:
    for recipe in CATALOG:
        text = recipe_source(recipe).decode()
        assert text.startswith('"""'), recipe.name
        assert "Bottleneck:" in text.split('"""')[1] and "How:" in text.split('"""')[1], recipe.name


def test_recipe_files_stay_small_and_readable() -> None:
    for recipe in CATALOG:
        lines = recipe_source(recipe).decode().count("\n")
        assert 40 <= lines <= 150, (recipe.name, lines)


def test_names_are_unique_and_every_parent_is_in_the_catalog() -> None:
    names = [r.name for r in CATALOG]
    assert len(names) == len(set(names))
    for recipe in CATALOG:
        assert set(recipe.parents) <= set(names), recipe.name
        assert recipe.name not in recipe.parents


def test_gp_sklearn_is_the_surrogates_child_that_the_box_must_reject() -> None:
    gp = get_recipe("gp_sklearn")
    assert gp.parents == ("surrogate",)
    assert gp.extra_imports == ("sklearn",)
    assert gp.expected_status == "rejected-smoke"
    assert b"from sklearn" in recipe_source(gp)
    assert [r.name for r in CATALOG if r.expected_status != "accepted"] == ["gp_sklearn"]
    assert all(not r.extra_imports for r in CATALOG if r.name != "gp_sklearn")


def test_priority_lists_exactly_the_recipes_that_target_each_bottleneck() -> None:
    assert set(PRIORITY) == set(BOTTLENECKS)
    for bottleneck, names in PRIORITY.items():
        assert len(names) == len(set(names))
        assert set(names) == {r.name for r in CATALOG if bottleneck in r.targets}, bottleneck


def test_pick_recipe_follows_the_fixed_priority_and_skips_tried_recipes() -> None:
    assert pick_recipe("repetition", set()) == get_recipe("tabu")
    assert pick_recipe("repetition", {"tabu"}) == get_recipe("orthogonal")
    assert pick_recipe("no-model", set()) == get_recipe("surrogate")
    assert pick_recipe("no-model", {"surrogate"}) == get_recipe("parzen")
    assert pick_recipe("no-model", {"surrogate", "parzen"}) == get_recipe("gp_sklearn")
    assert pick_recipe("stagnation", {"restart", "bandit"}) == get_recipe("tabu")


def test_pick_recipe_returns_none_once_every_recipe_for_the_bottleneck_was_tried() -> None:
    for bottleneck, names in PRIORITY.items():
        assert pick_recipe(bottleneck, set(names)) is None
        assert pick_recipe(bottleneck, set(names) - {names[-1]}) == get_recipe(names[-1])


def test_pick_recipe_refuses_an_unknown_bottleneck_and_names_the_known_ones() -> None:
    with pytest.raises(EvolveError) as caught:
        pick_recipe("boredom", set())
    assert "boredom" in caught.value.problem and "repetition" in (caught.value.fix or "")


def test_get_recipe_refuses_an_unknown_name_with_the_catalog_as_fix() -> None:
    with pytest.raises(EvolveError) as caught:
        get_recipe("magic")
    assert "tabu" in (caught.value.fix or "")


def test_recipe_model_is_frozen_and_refuses_unknown_bottlenecks_and_hooks() -> None:
    recipe = get_recipe("tabu")
    with pytest.raises(ValidationError):
        recipe.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Recipe(name="x", file="x.py", targets=("boredom",), hooks=("propose",), description="")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Recipe(name="x", file="x.py", targets=("noise",), hooks=("run",), description="")  # type: ignore[arg-type]
