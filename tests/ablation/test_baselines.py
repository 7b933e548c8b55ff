"""Random search and Optuna TPE: real proposers over the domain's space, within the budget,
seeded, and run through the engine like any other run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.engine.agents.baselines import OptunaTPEAgent, RandomSearchAgent
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.ground.space import SearchSpace


def _run(objective: Path, run_dir: Path, agent: str, seed: int, iterations: int = 20) -> int:
    return main(["run", "--domain", f"function:{objective}", "--agent", agent, "--seed", str(seed),
                 "--iterations", str(iterations), "--run-dir", str(run_dir), "--no-progress"])


@pytest.mark.parametrize("agent", ["random", "optuna"])
def test_baseline_proposals_respect_the_space_and_the_budget(tmp_path: Path, objective: Path, agent: str,
                                                             trace) -> None:  # type: ignore[no-untyped-def]
    assert _run(objective, tmp_path / "run", agent, seed=3) == 0
    events = trace(tmp_path / "run")
    trials = [e for e in events if e["kind"] == "trial"]
    assert len(trials) == 1 + 20  # the baseline trial + N iterations, like every group
    assert [t["source"] for t in trials] == ["baseline"] + [agent] * 20
    assert all(t["status"] == "ok" for t in trials)
    space = SearchSpace.from_dict(next(e for e in events if e["kind"] == "run_started")["space"])
    for t in trials:
        assert space.validate_params(t["params"]) == t["params"]
    assert isinstance(trials[5]["params"]["k"], int)
    assert len({t["params"]["act"] for t in trials}) > 1  # choices are explored too
    assert len({(t["params"]["x"], t["params"]["lr"]) for t in trials}) == 21  # no repeats


@pytest.mark.parametrize("agent", ["random", "optuna"])
def test_baselines_are_reproducible_by_seed(tmp_path: Path, objective: Path, agent: str,
                                            sequences, trace) -> None:  # type: ignore[no-untyped-def]
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert _run(objective, tmp_path / "runs" / name, agent, seed, iterations=12) == 0
    runs = sequences(tmp_path)
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def _ctx(space: SearchSpace, history: list[TrialRecord], iteration: int) -> SearchContext:
    return SearchContext(space=space, direction="minimize", iteration=iteration, history=tuple(history),
                         incumbent=None, config=SearchConfig())


def test_tpe_proposal_depends_only_on_seed_iteration_and_history() -> None:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1, "default": 0.5}})
    history = [TrialRecord(iteration=i, params={"x": i / 20}, status="ok", value=(i / 20 - 0.3) ** 2,
                           accepted=False) for i in range(15)]
    first = OptunaTPEAgent(1).propose(_ctx(space, history, 15))
    again = OptunaTPEAgent(1).propose(_ctx(space, history, 15))  # a fresh agent, as after a resume
    assert first.params == again.params
    assert OptunaTPEAgent(1).propose(_ctx(space, history, 16)).params != first.params


def test_tpe_concentrates_near_the_optimum_where_random_search_does_not(tmp_path: Path, objective: Path,
                                                                         trace) -> None:  # type: ignore[no-untyped-def]
    def late_x(agent: str) -> list[float]:
        assert _run(objective, tmp_path / agent, agent, seed=4, iterations=40) == 0
        return [e["params"]["x"] for e in trace(tmp_path / agent) if e["kind"] == "trial"][-15:]

    tpe, rnd = late_x("optuna"), late_x("random")
    spread = lambda xs: sum(abs(x - 1.3) for x in xs) / len(xs)  # noqa: E731
    assert spread(tpe) < 0.5 * spread(rnd)


def test_random_agent_draws_differ_by_iteration_not_by_history() -> None:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1, "default": 0.5}})
    agent = RandomSearchAgent(9)
    a = agent.propose(_ctx(space, [], 3)).params
    b = agent.propose(_ctx(space, [TrialRecord(iteration=1, params={"x": 0.1}, status="ok", value=1.0,
                                               accepted=True)], 3)).params
    assert a == b != agent.propose(_ctx(space, [], 4)).params
