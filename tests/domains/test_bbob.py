"""The BBOB domain (`function:bbob:FID:DIM[:INSTANCE]`, through ioh), its bad input, and the numbers
benchmarks/bbob_protocol.py reports (regret curve, AOCC, CMA-ES's budget).

Tests that need ioh (or cma) skip locally when it is missing and fail with CI=true: a CI run that
silently skipped the domain would prove nothing (scripts/_env.sh installs the bbob extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bilevel_evolve.domains.registry import list_domains, load_domain
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.space import FloatParam

PROTOCOL_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bbob_protocol.py"


def _require(module: str) -> Any:
    if importlib.util.find_spec(module) is None:
        reason = f"{module} is not installed (the bbob extra: pip install -e '.[bbob]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return importlib.import_module(module)


@pytest.fixture
def ioh() -> Any:
    return _require("ioh")


def _problem(ioh: Any, fid: int, dim: int = 5, instance: int = 1) -> Any:
    return ioh.get_problem(fid, instance, dim, ioh.ProblemClass.BBOB)


# ---- the domain ----------------------------------------------------------------------------------
def test_the_space_is_the_bbob_box_with_the_origin_as_default(ioh: Any) -> None:
    domain = load_domain("function:bbob:21:5")
    assert domain.name == "function:bbob:21:5:1"  # instance 1 unless given
    assert domain.direction == "minimize"
    assert domain.space.names == ["x1", "x2", "x3", "x4", "x5"]
    for param in domain.space.params.values():
        assert isinstance(param, FloatParam)
        assert (param.low, param.high, param.default, param.log) == (-5.0, 5.0, 0.0, False)
    assert domain.describe()["optimum"] == _problem(ioh, 21).optimum.y


def test_a_trial_reports_the_raw_value_and_the_optimum_has_zero_regret(ioh: Any, tmp_path: Path) -> None:
    domain = load_domain("function:bbob:2:5:3")
    problem = _problem(ioh, 2, instance=3)
    at_origin = domain.run_trial(domain.space.defaults(), tmp_path, seed=0)
    assert at_origin.status == "ok" and at_origin.value == problem([0.0] * 5)
    best = dict(zip(domain.space.names, problem.optimum.x, strict=True))
    at_optimum = domain.run_trial(best, tmp_path, seed=0)
    assert at_optimum.status == "ok"
    assert at_optimum.value == pytest.approx(domain.describe()["optimum"], abs=1e-9)
    assert list(tmp_path.iterdir()) == []


def test_instance_and_function_id_forms(ioh: Any) -> None:
    optimum = {spec: load_domain(f"function:bbob:{spec}").describe()["optimum"]
               for spec in ("21:5", "21:5:1", "f21:5", "21:5:2")}
    assert optimum["21:5"] == optimum["21:5:1"] == optimum["f21:5"] == _problem(ioh, 21).optimum.y
    assert optimum["21:5:2"] == _problem(ioh, 21, instance=2).optimum.y != optimum["21:5"]


def test_dimension_sets_the_number_of_parameters(ioh: Any) -> None:
    assert load_domain("function:bbob:8:2").space.names == ["x1", "x2"]
    assert len(load_domain("function:bbob:8:20").space.names) == 20


def test_list_domains_names_the_bbob_form() -> None:
    assert "function:bbob:FID:DIM[:INSTANCE]" in [form for form, _ in list_domains()]


# ---- bad input (no ioh needed: the spec is checked first) ----------------------------------------
@pytest.mark.parametrize(("arg", "fragment"), [
    ("bbob", "expected function:bbob:FID:DIM[:INSTANCE]"),
    ("bbob:21", "expected function:bbob:FID:DIM[:INSTANCE]"),
    ("bbob:21:5:1:7", "expected function:bbob:FID:DIM[:INSTANCE]"),
    ("bbob:0:5", "no function f0"),
    ("bbob:25:5", "no function f25"),
    ("bbob:sphere:5", "function id 'sphere' is not a whole number"),
    ("bbob:21:1", "dimension 1 is outside 2..100"),
    ("bbob:21:101", "dimension 101 is outside 2..100"),
    ("bbob:21:five", "dimension 'five' is not a whole number"),
    ("bbob:21:5:0", "instance 0 is outside 1..100000"),
    ("bbob:21:5:-3", "instance -3 is outside 1..100000"),
    ("bbob:21:5:x", "instance 'x' is not a whole number"),
])
def test_a_bad_bbob_spec_names_the_bad_part_and_the_form(arg: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        load_domain(f"function:{arg}")
    assert fragment in info.value.problem
    assert info.value.fix is not None and "FID 1..24" in info.value.fix


def test_missing_ioh_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ioh", None)  # import ioh now raises ImportError
    with pytest.raises(UsageError) as info:
        load_domain("function:bbob:21:5")
    assert "ioh" in info.value.problem
    assert info.value.fix is not None and "pip install -e '.[bbob]'" in info.value.fix


def test_evolve_run_refuses_a_bad_bbob_spec_and_writes_nothing(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--domain", "function:bbob:30:5", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no function f30" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_evolve_run_on_bbob_records_the_raw_values(ioh: Any, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    code = main(["run", "--domain", "function:bbob:6:5", "--iterations", "4", "--agent", "random", "--seed", "3",
                 "--run-dir", str(run_dir), "--no-progress"])
    assert code == 0
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    trials = [e for e in events if e["kind"] == "trial"]
    problem = _problem(ioh, 6)
    assert len(trials) == 5 and all(t["status"] == "ok" for t in trials)
    for t in trials:
        assert t["value"] == problem([t["params"][f"x{i}"] for i in range(1, 6)])


# ---- the protocol's numbers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def protocol() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bbob_protocol", PROTOCOL_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_regret_curve_is_best_so_far_over_the_budget(protocol: ModuleType) -> None:
    values = [5.0, 7.0, None, 3.0, 4.0]
    assert protocol.regret_curve(values, 1.0, 5) == [4.0, 4.0, 4.0, 2.0, 2.0]
    assert protocol.regret_curve(values, 1.0, 3) == [4.0, 4.0, 4.0]  # evaluations past the budget are ignored
    assert protocol.regret_curve(values[:2], 1.0, 4) == [4.0, 4.0, 4.0, 4.0]  # a short run keeps its last regret


@pytest.mark.parametrize(("curve", "expected"), [
    ([1e-8] * 4, 1.0), ([0.0] * 4, 1.0), ([1e2] * 4, 0.0), ([1e6] * 4, 0.0),
    ([1e-3] * 4, 0.5), ([1e2, 1e-8], 0.5), ([1e1, 1e0, 1e-1, 1e-2], 0.25),
])
def test_aocc_is_the_normalized_area_over_the_clipped_log_regret_curve(protocol: ModuleType, curve: list[float],
                                                                       expected: float) -> None:
    assert protocol.aocc(curve) == pytest.approx(expected)


def test_cma_es_spends_exactly_the_budget_from_the_origin(ioh: Any, protocol: ModuleType, tmp_path: Path) -> None:
    _require("cma")
    runs = []
    for name in ("a.json", "b.json"):
        job = protocol.Job(fid=12, method="cma", seed_index=1, seed=7, path=tmp_path / name)
        protocol.run_cma(job, 23)  # not a multiple of CMA-ES's population in 5-D (8)
        runs.append(json.loads(job.path.read_text())["values"])
    assert len(runs[0]) == 23
    assert runs[0][0] == _problem(ioh, 12)([0.0] * 5)
    assert runs[0] == runs[1]  # seeded: the same run twice


def test_the_protocols_level_2_runs_share_an_archive_but_never_learn_from_each_other(
        protocol: ModuleType, tmp_path: Path) -> None:
    job = protocol.Job(fid=2, method="C", seed_index=2, seed=7, path=tmp_path / "f2" / "C-s2")
    command = protocol.engine_command(job, 100)
    at = command.index("--archive")
    assert command[at + 1] == str(tmp_path / "f2" / "archive") and command[at + 2: at + 4] == ["--archive-horizon", "0"]
    baseline = protocol.engine_command(protocol.Job(fid=2, method="optuna", seed_index=2, seed=7,
                                                    path=tmp_path / "f2" / "optuna-s2"), 100)
    assert "--archive" not in baseline
