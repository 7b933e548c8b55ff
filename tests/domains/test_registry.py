"""load_domain: every spec form, every built-in, and clear errors for bad specs."""

from __future__ import annotations

import pytest

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.function import builtin_names
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import list_domains, load_domain
from bilevel_evolve.ground.errors import UsageError

BUILTINS = ["ackley", "branin", "hartmann6", "rosenbrock", "toytrain"]


def test_every_documented_builtin_is_shipped() -> None:
    assert set(BUILTINS) <= set(builtin_names())


@pytest.mark.parametrize("name", BUILTINS)
def test_each_builtin_loads_as_a_minimizing_domain(name: str) -> None:
    domain = load_domain(f"function:{name}")
    assert isinstance(domain, Domain)
    assert domain.name == f"function:{name}"
    assert domain.direction == "minimize"
    assert domain.describe()["optimum"] is not None


def test_plain_train_opt_loads_the_shipped_gpt() -> None:
    domain = load_domain("train_opt")
    assert isinstance(domain, Domain)
    assert domain.name == "train_opt"
    assert {"TOTAL_BATCH_SIZE", "MATRIX_LR", "WEIGHT_DECAY", "DEPTH", "WARMDOWN_RATIO"} <= set(domain.space.names)


@pytest.mark.parametrize("spec", ["nonsense", "function", "function:", "command", "command:", "grid:x", ""])
def test_unknown_or_incomplete_spec_is_a_usage_error_naming_the_valid_forms(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        load_domain(spec)
    assert "function:NAME" in str(info.value)
    assert "train_opt" in str(info.value)
    assert "command:PATH.json" in str(info.value)


def test_unknown_builtin_name_lists_the_builtins() -> None:
    with pytest.raises(UsageError, match="branin"):
        load_domain("function:no_such_benchmark")


def test_missing_objective_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_domain("function:/nonexistent/objective.py")


def test_list_domains_names_every_form_and_builtin() -> None:
    forms = [form for form, summary in list_domains() if summary]
    assert {"function:NAME", "function:PATH.py", "train_opt", "train_opt:PATH/train.py", "command:PATH.json"} <= set(
        forms
    )
    assert {f"function:{n}" for n in BUILTINS} <= set(forms)


def test_domain_options_are_frozen_and_reject_unknown_fields() -> None:
    options = DomainOptions(trial_timeout_s=5)
    with pytest.raises(ValueError):
        DomainOptions(no_such_option=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        options.trial_timeout_s = 6  # type: ignore[misc]


def test_domain_options_from_mapping_turns_bad_values_into_usage_errors() -> None:
    assert DomainOptions.from_mapping({"noise_sd": 0.5}).noise_sd == 0.5
    with pytest.raises(UsageError, match="noise_sd"):
        DomainOptions.from_mapping({"noise_sd": -1})
