from __future__ import annotations

from pathlib import Path

import pytest
from quadratic_domain import QuadraticDomain

from bilevel_evolve.engine.agents.offline import ATTENTION, OfflineAgent
from bilevel_evolve.engine.analysis.trace_numbers import summarize
from bilevel_evolve.engine.run.events import DecisionMade, TrialFinished
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import EvolveError, InvalidAgentOutput
from bilevel_evolve.ground.records import Proposal, SearchContext


def _config(**kw: object) -> RunConfig:
    base: dict = {"run_id": "t", "domain": "test", "iterations": 20, "seed": 3}
    base.update(kw)
    return RunConfig(**base)


def _run(tmp_path: Path, domain: QuadraticDomain, agent: object = None, **kw: object) -> RunStore:
    config = _config(**kw)
    store = RunStore.create(tmp_path / "run", config)
    loop = InnerLoop(store, config, domain, agent or OfflineAgent())
    loop.start()
    loop.run()
    store.close()
    return store


def _sequence(store: RunStore) -> list[tuple]:
    events = store.events()
    decisions = {e.step: e.accepted for e in events if isinstance(e, DecisionMade)}
    return [(e.step, e.params, e.value, e.status, decisions[e.step]) for e in events if isinstance(e, TrialFinished)]


def test_each_step_is_traced_as_proposal_trial_and_decision(tmp_path: Path, quadratic: QuadraticDomain) -> None:
    store = _run(tmp_path, quadratic)
    kinds = [e.kind for e in store.events()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("proposal") == kinds.count("trial") == kinds.count("decision") == 21
    assert store.load_checkpoint().status == "completed"  # type: ignore[union-attr]


def test_strict_acceptance_keeps_only_improvements(tmp_path: Path, quadratic: QuadraticDomain) -> None:
    seq = _sequence(_run(tmp_path, quadratic))
    best = seq[0][2]
    for _, _, value, _, accepted in seq[1:]:
        assert accepted == (value < best)
        best = min(best, value)


def test_offline_agent_shows_the_llm_prior_failure_mode(tmp_path: Path) -> None:
    domain = QuadraticDomain(dims=6)
    store = _run(tmp_path, domain, iterations=40)
    summary = summarize(store.events(), "minimize")
    assert summary.repetition_rate > 0.5  # stuck: repeats the same few proposals
    touched = {k for t in summary.trials for k, v in t.params.items() if v != domain.space.defaults()[k]}
    assert touched == {f"x{i}" for i in range(ATTENTION)}  # later dimensions never explored


def test_a_crashed_trial_is_recorded_and_the_loop_goes_on(tmp_path: Path) -> None:
    domain = QuadraticDomain(crash_when=4.0)  # the baseline itself crashes
    seq = _sequence(_run(tmp_path, domain))
    assert seq[0][3] == "crashed" and not seq[0][4]
    assert any(s[3] == "ok" and s[4] for s in seq[1:])
    assert len(seq) == 21


class _BadAgent(OfflineAgent):
    def propose(self, ctx: SearchContext) -> Proposal:
        return Proposal(params={"x0": 99.0}, source="bad")


def test_an_invalid_proposal_is_recorded_not_run(tmp_path: Path, quadratic: QuadraticDomain) -> None:
    store = _run(tmp_path, quadratic, agent=_BadAgent(), iterations=2)
    proposals = [e for e in store.events() if e.kind == "proposal"]
    assert not proposals[1].valid and "x0: 99.0 is outside" in proposals[1].problem
    assert [s[3] for s in _sequence(store)] == ["ok", "invalid", "invalid"]
    assert quadratic.calls == 1


def test_noise_aware_acceptance_measures_a_floor_from_baseline_repeats(tmp_path: Path) -> None:
    class Noisy(QuadraticDomain):
        def run_trial(self, params, trial_dir, seed):  # type: ignore[no-untyped-def]
            result = super().run_trial(params, trial_dir, seed)
            return result.model_copy(update={"value": result.value + (seed % 7) * 0.5})

    store = _run(tmp_path, Noisy(), acceptance="noise-aware", noise_repeats=4)
    events = store.events()
    floor = next(e for e in events if e.kind == "noise_floor")
    assert len(floor.values) == 4 and floor.floor > 0
    decisions = [e for e in events if isinstance(e, DecisionMade) and e.step >= 4]
    assert any("within noise floor" in d.reason for d in decisions) or all(
        d.accepted == (d.incumbent_value == d.value) for d in decisions)


class _Interrupt(Exception):
    pass


class _DiesAt(QuadraticDomain):
    def __init__(self, die_at_call: int) -> None:
        super().__init__()
        self.die_at_call = die_at_call

    def run_trial(self, params, trial_dir, seed):  # type: ignore[no-untyped-def]
        if self.calls + 1 == self.die_at_call:
            raise _Interrupt
        return super().run_trial(params, trial_dir, seed)


@pytest.mark.parametrize("die_at", [1, 2, 7, 21])
def test_resume_after_a_crash_mid_trial_matches_an_uninterrupted_run(tmp_path: Path, die_at: int) -> None:
    reference = _sequence(_run(tmp_path / "ref", QuadraticDomain()))
    config = _config()
    store = RunStore.create(tmp_path / "run", config)
    loop = InnerLoop(store, config, _DiesAt(die_at), OfflineAgent())
    loop.start()
    with pytest.raises(_Interrupt):
        loop.run()
    store = RunStore.open(tmp_path / "run")
    loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent())
    loop.resume()
    loop.run()
    assert _sequence(store) == reference


class _CheckpointFailsAfter(RunStore):
    """A store whose checkpoint write dies once `steps_done` reaches a value: a crash after the
    trial's events were appended but before the checkpoint that counts them."""

    fail_at = 4

    def save_checkpoint(self, checkpoint, *, force_durable=False):  # type: ignore[no-untyped-def]
        if checkpoint.steps_done == self.fail_at:
            raise _Interrupt
        super().save_checkpoint(checkpoint, force_durable=force_durable)


def test_a_finished_trial_after_the_last_checkpoint_is_recovered_not_rerun(tmp_path: Path) -> None:
    reference = _sequence(_run(tmp_path / "ref", QuadraticDomain(), iterations=5))
    config = _config(iterations=5)
    store = _CheckpointFailsAfter.create(tmp_path / "run", config)
    loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent())
    loop.start()
    with pytest.raises(_Interrupt):
        loop.run()
    domain = QuadraticDomain()
    store = RunStore.open(tmp_path / "run")
    loop = InnerLoop(store, config, domain, OfflineAgent())
    loop.resume()
    loop.run()
    assert _sequence(store) == reference
    assert domain.calls == 2  # steps 4 and 5 ran; step 3 came back from the trace
    assert [e.recovered for e in store.events() if isinstance(e, TrialFinished)] == [False] * 3 + [True, False, False]


class _Garbled(OfflineAgent):
    """Answers unusably on the given iterations (an LLM whose reply stayed broken after repair)."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.bad = bad

    def propose(self, ctx: SearchContext) -> Proposal:
        if ctx.iteration in self.bad:
            raise InvalidAgentOutput("the model answered 'Sure! Here you go' instead of JSON")
        return super().propose(ctx)


def test_an_unusable_answer_is_an_invalid_step_and_the_run_goes_on(tmp_path: Path) -> None:
    store = _run(tmp_path, QuadraticDomain(), agent=_Garbled({2, 5}), iterations=6)
    statuses = [s[3] for s in _sequence(store)]
    assert statuses[2] == statuses[5] == "invalid" and statuses.count("ok") == 5


def test_repeated_unusable_answers_stop_the_run_resumably(tmp_path: Path) -> None:
    config = _config(iterations=8)
    store = RunStore.create(tmp_path / "run", config)
    loop = InnerLoop(store, config, QuadraticDomain(), _Garbled({3, 4, 5}))
    loop.start()
    with pytest.raises(EvolveError, match="3 times in a row"):
        loop.run()
    assert store.load_checkpoint().steps_done == 5  # baseline + iterations 1-4; resume continues at 5
