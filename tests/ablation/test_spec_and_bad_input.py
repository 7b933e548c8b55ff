"""Spec validation and bad input: clear errors (exit 2), and nothing written or overwritten."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bilevel_evolve.engine.ablation.spec import GROUPS, AblationSpec, parse_groups, plan, repeat_seed
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.errors import UsageError


def _spec(**kw: object) -> AblationSpec:
    base: dict = {"domain": "function:branin", "groups": ("A", "C"), "repeats": 3, "iterations": 5,
                  "baselines": ("random",), "seed": 7, "archive": "/tmp/archive"}
    return AblationSpec(**{**base, **kw})


def test_groups_map_to_the_papers_levels() -> None:
    assert GROUPS == {"A": ("1",), "B": ("1", "1.5"), "C": ("1", "1.5", "2"), "D": ("1", "2")}


def test_unknown_group_is_a_usage_error_listing_a_to_d() -> None:
    with pytest.raises(UsageError) as err:
        parse_groups("A,E")
    assert "'E'" in err.value.problem
    assert all(f"{g} = levels" in (err.value.fix or "") for g in "ABCD")


def test_every_group_of_a_repeat_shares_its_seed_and_repeats_differ() -> None:
    runs = plan(_spec())
    by_repeat: dict[int, set[int]] = {}
    for run in runs:
        by_repeat.setdefault(run.repeat, set()).add(run.seed)
    assert all(len(seeds) == 1 for seeds in by_repeat.values())
    assert len({next(iter(s)) for s in by_repeat.values()}) == 3
    assert [r.name for r in runs[:3]] == ["A-r1", "C-r1", "random-r1"]
    assert repeat_seed(7, 2) == repeat_seed(7, 2) != repeat_seed(8, 2)


def test_baseline_runs_use_only_level_1_and_their_own_agent() -> None:
    baseline = next(r for r in plan(_spec()) if r.is_baseline)
    assert (baseline.levels, baseline.agent) == (("1",), "random")


def test_cli_rejects_an_unknown_group_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "abl"
    code = main(["ablate", "--domain", "function:branin", "--groups", "A,X", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown group 'X'" in err and "A = levels 1" in err and "D = levels 1+2" in err
    assert not out.exists()


def test_cli_rejects_an_unknown_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ablate", "--domain", "function:branin", "--groups", "A", "--baselines", "grid",
                 "--out", str(tmp_path / "abl")])
    assert code == 2
    assert "random, optuna" in capsys.readouterr().err


def test_missing_optuna_names_the_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError, as if not installed
    out = tmp_path / "abl"
    code = main(["ablate", "--domain", "function:branin", "--groups", "A", "--baselines", "optuna",
                 "--out", str(out)])
    assert code == 2
    assert "pip install 'bilevel-evolve[baselines]'" in capsys.readouterr().err
    assert not out.exists()


def test_missing_optuna_also_stops_evolve_run_with_agent_optuna(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    run_dir = tmp_path / "run"
    code = main(["run", "--domain", "function:branin", "--agent", "optuna", "--run-dir", str(run_dir),
                 "--no-progress"])
    assert code == 2
    assert "bilevel-evolve[baselines]" in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_directory_holding_a_different_ablation_is_refused_untouched(
        tmp_path: Path, objective: Path, ablate, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "abl"
    assert ablate(objective, out, groups="A", repeats=1, iterations=2, baselines="") == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code = ablate(objective, out, groups="A", repeats=2, iterations=2, baselines="")
    assert code == 2
    err = capsys.readouterr().err
    assert "holds a different ablation" in err and "repeats: 1 -> 2" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_non_empty_directory_that_is_not_an_ablation_is_refused(tmp_path: Path, objective: Path,
                                                                   ablate) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "something"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert ablate(objective, out, groups="A", repeats=1, iterations=2, baselines="") == 2
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_groups_cannot_be_driven_by_a_baseline_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ablate", "--domain", "function:branin", "--agent", "random", "--out", str(tmp_path / "a")])
    assert code == 2
    assert "--baselines" in capsys.readouterr().err
