"""The function domain: built-in optima, user objective files, and bad trials as results."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from bilevel_evolve.domains.function import FunctionDomain, load_builtin, load_objective_file
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.ground.errors import UsageError

KNOWN_OPTIMA = {
    "branin": [{"x1": -math.pi, "x2": 12.275}, {"x1": math.pi, "x2": 2.275}, {"x1": 9.42478, "x2": 2.475}],
    "hartmann6": [dict(zip([f"x{i}" for i in range(1, 7)],
                           [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573], strict=True))],
    "rosenbrock": [{f"x{i}": 1.0 for i in range(1, 5)}],
    "ackley": [{f"x{i}": 0.0 for i in range(1, 6)}],
    "toytrain": [{"lr": 3e-3, "batch": 32, "act": "gelu"}],
}


@pytest.mark.parametrize(("name", "point"), [(n, p) for n, ps in KNOWN_OPTIMA.items() for p in ps])
def test_builtin_objective_reaches_its_documented_optimum(name: str, point: dict, tmp_path: Path) -> None:
    domain = load_domain(f"function:{name}")
    result = domain.run_trial(point, tmp_path, seed=0)
    assert result.status == "ok"
    assert result.value == pytest.approx(domain.describe()["optimum"], abs=1e-4)


@pytest.mark.parametrize("name", list(KNOWN_OPTIMA))
def test_builtin_default_is_a_clearly_non_optimal_start(name: str, tmp_path: Path) -> None:
    domain = load_domain(f"function:{name}")
    result = domain.run_trial(domain.space.defaults(), tmp_path, seed=0)
    assert result.status == "ok"
    assert result.value is not None
    assert result.value > domain.describe()["optimum"] + 0.2


def test_function_trials_write_no_files(tmp_path: Path) -> None:
    domain = load_domain("function:branin")
    domain.run_trial(domain.space.defaults(), tmp_path, seed=0)
    assert list(tmp_path.iterdir()) == []


def write(tmp_path: Path, body: str, name: str = "objective.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


GOOD = textwrap.dedent("""
    SPACE = {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.01},
        "batch": {"type": "int", "low": 8, "high": 512, "log": True, "default": 256},
        "act": {"type": "choice", "choices": ["relu", "gelu"], "default": "relu"},
    }
    DIRECTION = "maximize"

    def objective(params):
        if params["act"] == "boom":
            raise RuntimeError("unreachable")
        return params["lr"] * params["batch"] + (1.0 if params["act"] == "gelu" else 0.0)
""")


def test_user_objective_file_loads_and_evaluates(tmp_path: Path) -> None:
    domain = load_domain(f"function:{write(tmp_path, GOOD)}")
    assert domain.direction == "maximize"
    assert domain.space.names == ["lr", "batch", "act"]
    result = domain.run_trial({"lr": 0.5, "batch": 10, "act": "gelu"}, tmp_path, seed=0)
    assert (result.status, result.value) == ("ok", 6.0)


def test_missing_direction_defaults_to_minimize(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('DIRECTION = "maximize"', ""))
    assert load_objective_file(path).direction == "minimize"


MALFORMED = {
    "syntax error": ("SPACE = {\n", "syntax error"),
    "missing SPACE": ("DIRECTION = 'minimize'\ndef objective(p):\n    return 1.0\n", "defines no SPACE"),
    "missing objective": (GOOD.split("def objective")[0], "defines no objective"),
    "objective not callable": (GOOD.split("def objective")[0] + "objective = 3\n", "not a function"),
    "bad DIRECTION": (GOOD.replace('"maximize"', '"upward"'), "DIRECTION is 'upward'"),
    "default out of range": (GOOD.replace('"default": 0.01', '"default": 5.0'), "outside"),
    "SPACE not a dict": ("SPACE = [1, 2]\ndef objective(p):\n    return 1.0\n", "non-empty dict"),
    "raises on import": ("import no_such_module_xyz\n" + GOOD, "ModuleNotFoundError"),
    "exits on import": ("import sys\nsys.exit(3)\n", "SystemExit"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_objective_file_is_a_usage_error_naming_the_file(case: str, tmp_path: Path) -> None:
    body, expected = MALFORMED[case]
    path = write(tmp_path, body)
    with pytest.raises(UsageError) as info:
        load_domain(f"function:{path}")
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert info.value.fix  # every error says how to fix it


def test_non_python_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "SPACE = {}", name="objective.txt")
    with pytest.raises(UsageError, match=r"not a \.py file"):
        load_objective_file(path)


def objective_domain(tmp_path: Path, returns: str, options: DomainOptions | None = None) -> FunctionDomain:
    body = f"""
        SPACE = {{"x": {{"type": "float", "low": -1.0, "high": 1.0, "default": 0.5}}}}
        def objective(params):
            x = params["x"]
            return {returns}
    """
    return FunctionDomain(load_objective_file(write(tmp_path, body)), options)


def test_objective_exception_is_a_crashed_trial_not_an_error(tmp_path: Path) -> None:
    domain = objective_domain(tmp_path, "1 / (x - x)")
    result = domain.run_trial({"x": 0.5}, tmp_path, seed=0)
    assert result.status == "crashed"
    assert "ZeroDivisionError" in result.message


@pytest.mark.parametrize("returns", ["float('nan')", "float('inf')", "'1.0'", "None", "True", "[x]"])
def test_non_finite_or_non_number_return_is_a_failed_trial(returns: str, tmp_path: Path) -> None:
    result = objective_domain(tmp_path, returns).run_trial({"x": 0.5}, tmp_path, seed=0)
    assert result.status == "failed"
    assert "not a finite number" in result.message


def test_numpy_scalar_return_counts_as_a_number(tmp_path: Path) -> None:
    body = """
        import numpy as np
        SPACE = {"x": {"type": "float", "low": -1.0, "high": 1.0, "default": 0.5}}
        def objective(params):
            return np.float32(params["x"]) * 2
    """
    domain = FunctionDomain(load_objective_file(write(tmp_path, body)))
    assert domain.run_trial({"x": 0.25}, tmp_path, seed=0).value == 0.5


def test_params_outside_the_space_are_an_invalid_trial(tmp_path: Path) -> None:
    domain = objective_domain(tmp_path, "x")
    assert domain.run_trial({"x": 7.0}, tmp_path, seed=0).status == "invalid"
    assert domain.run_trial({"y": 0.1}, tmp_path, seed=0).status == "invalid"


def test_noise_is_reproducible_per_seed_and_keeps_the_noise_free_value(tmp_path: Path) -> None:
    domain = objective_domain(tmp_path, "x", DomainOptions(noise_sd=0.1))
    a, b, c = (domain.run_trial({"x": 0.5}, tmp_path, seed=s) for s in (1, 1, 2))
    assert a.value == b.value != c.value
    assert a.metrics["noise_free"] == 0.5
    assert a.value != 0.5


def test_space_override_may_cover_a_subset_and_fixes_the_rest_at_defaults(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text('{"x1": {"type": "float", "low": 0.0, "high": 5.0, "default": 1.0}}')
    domain = FunctionDomain(load_builtin("branin"), DomainOptions(space_file=space))
    assert domain.space.names == ["x1"]
    assert domain.describe()["fixed"] == {"x2": 7.5}
    full = load_domain("function:branin").run_trial({"x1": 2.0, "x2": 7.5}, tmp_path, seed=0)
    assert domain.run_trial({"x1": 2.0}, tmp_path, seed=0).value == full.value


def test_space_override_naming_an_unknown_parameter_is_a_usage_error(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text('{"x9": {"type": "float", "low": 0.0, "high": 5.0, "default": 1.0}}')
    with pytest.raises(UsageError, match="x9"):
        FunctionDomain(load_builtin("branin"), DomainOptions(space_file=space))
