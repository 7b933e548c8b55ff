from __future__ import annotations

import random

import pytest

from bilevel_evolve.ground.errors import SpaceError
from bilevel_evolve.ground.space import SearchSpace

RAW = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.01},
    "batch": {"type": "int", "low": 8, "high": 512, "log": True, "default": 256},
    "act": {"type": "choice", "choices": ["relu", "gelu"], "default": "relu"},
}


def test_defaults_and_order_follow_the_definition() -> None:
    space = SearchSpace.from_dict(RAW)
    assert space.names == ["lr", "batch", "act"]
    assert space.defaults() == {"lr": 0.01, "batch": 256, "act": "relu"}


@pytest.mark.parametrize("spec, fragment", [
    ({"type": "float", "low": 1, "high": 2, "default": 5}, "outside"),
    ({"type": "float", "low": 2, "high": 1, "default": 1.5}, "must be below"),
    ({"type": "float", "low": 0, "high": 1, "log": True, "default": 0.5}, "log-scaled"),
    ({"type": "choice", "choices": ["a"], "default": "b"}, "not one of"),
    ({"type": "bogus", "default": 1}, "lr"),
])
def test_invalid_space_is_a_usage_error_naming_the_parameter(spec: dict, fragment: str) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"lr": spec})
    assert "'lr'" in str(info.value) and fragment in str(info.value)
    assert info.value.exit_code == 2


def test_validate_params_lists_every_problem() -> None:
    space = SearchSpace.from_dict(RAW)
    with pytest.raises(SpaceError) as info:
        space.validate_params({"lr": 5.0, "batch": 3, "zzz": 1})
    text = str(info.value)
    assert "unknown parameter 'zzz'" in text and "lr: 5.0 is outside" in text
    assert "batch: 3 is outside" in text and "missing parameter 'act'" in text


def test_ints_accept_integral_floats_but_not_fractions_or_bools() -> None:
    space = SearchSpace.from_dict(RAW)
    assert space.validate_params({"lr": 0.1, "batch": 16.0, "act": "gelu"})["batch"] == 16
    with pytest.raises(SpaceError):
        space.validate_params({"lr": 0.1, "batch": 16.5, "act": "gelu"})
    with pytest.raises(SpaceError):
        space.validate_params({"lr": True, "batch": 16, "act": "gelu"})


def test_choice_true_does_not_match_one() -> None:
    space = SearchSpace.from_dict({"c": {"type": "choice", "choices": [1, 2], "default": 1}})
    with pytest.raises(SpaceError):
        space.validate_params({"c": True})


def test_unit_mapping_round_trips_on_log_scale() -> None:
    space = SearchSpace.from_dict(RAW)
    assert space.to_unit("lr", 0.01) == pytest.approx(0.5)
    assert space.from_unit("lr", 0.5) == pytest.approx(0.01)
    assert space.from_unit("batch", 1.0) == 512 and space.from_unit("act", 0.99) == "gelu"


def test_samples_are_valid_and_seeded() -> None:
    space = SearchSpace.from_dict(RAW)
    a = [space.sample(random.Random(7)) for _ in range(3)]
    b = [space.sample(random.Random(7)) for _ in range(3)]
    assert a == b
    for params in a:
        space.validate_params(params)
