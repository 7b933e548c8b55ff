"""N trials in flight (`--workers N`): what each step sees, decisions independent of finishing order,
batch proposals, and a crash that loses no finished trial. The executors here run trials when a result
is asked for, oldest or youngest first, so the finishing order is chosen, not left to timing."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from quadratic_domain import QuadraticDomain

from bilevel_evolve.engine.agents import batch
from bilevel_evolve.engine.agents.baselines import OptunaTPEAgent, RandomSearchAgent
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.outer.level15 import ConfigController, OfflineAnalyst
from bilevel_evolve.engine.run.events import DecisionMade, ProposalMade, TrialFinished
from bilevel_evolve.engine.run.executors import TrialJob, run_job
from bilevel_evolve.engine.run.journal import JOURNAL_FILE
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.records import PendingTrial, Proposal, SearchConfig, SearchContext, TrialResult
from bilevel_evolve.ground.space import Scalar


class OrderedExecutor:
    """Runs the queued trials one at a time when a result is asked for: youngest first or oldest first."""

    summary = "test executor"

    def __init__(self, domain: Any, slots: int, *, youngest_first: bool) -> None:
        self.domain = domain
        self.slots = slots
        self.youngest_first = youngest_first
        self.queued: list[TrialJob] = []
        self.finished: list[int] = []

    def submit(self, job: TrialJob) -> None:
        self.queued.append(job)
        assert len(self.queued) <= self.slots, "more trials in flight than workers"

    def next_finished(self) -> tuple[int, TrialResult]:
        job = self.queued.pop(-1 if self.youngest_first else 0)
        result = run_job(self.domain, job, None)
        self.finished.append(job.step)
        return job.step, result

    def close(self) -> None:
        self.queued.clear()


class CountingDomain(QuadraticDomain):
    """Counts the runs of each step (its trial directory's name); can raise once at one step (a crash)."""

    def __init__(self, crash_at: int | None = None) -> None:
        super().__init__(dims=4)
        self.runs: Counter[int] = Counter()
        self.crash_at = crash_at

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        step = int(trial_dir.name)
        self.runs[step] += 1
        if step == self.crash_at:
            self.crash_at = None
            raise KeyboardInterrupt  # the engine dies while this trial runs
        return super().run_trial(params, trial_dir, seed)


def _config(workers: int, **kw: Any) -> RunConfig:
    return RunConfig(**{"run_id": "t", "domain": "test", "iterations": 24, "seed": 5, "levels": ("1", "1.5"),
                        "workers": workers, **kw})


def _loop(store: RunStore, config: RunConfig, domain: Any, agent: Any, executor: Any) -> InnerLoop:
    loop = InnerLoop(store, config, domain, agent, outer=[ConfigController(OfflineAnalyst(), every=5)])
    loop.run_trials_on(executor)
    return loop


def _run(path: Path, workers: int, *, youngest_first: bool, agent: Any = None, domain: Any = None,
         **kw: Any) -> tuple[RunStore, OrderedExecutor]:
    config = _config(workers, **kw)
    store = RunStore.create(path, config)
    domain = domain or QuadraticDomain()
    executor = OrderedExecutor(domain, workers, youngest_first=youngest_first)
    loop = _loop(store, config, domain, agent or OfflineAgent(), executor)
    loop.start()
    loop.run()
    store.close()
    return store, executor


def _decisions(store: RunStore) -> list[tuple]:
    events = store.events()
    accepted = {e.step: (e.accepted, e.reason) for e in events if isinstance(e, DecisionMade)}
    trials = [e for e in events if isinstance(e, TrialFinished)]
    assert [t.step for t in trials] == list(range(len(trials))), "trials are traced in step order, each once"
    return [(t.step, t.params, t.value, t.status, accepted[t.step]) for t in trials]


@pytest.mark.parametrize("agent", [OfflineAgent, lambda: RandomSearchAgent(5), lambda: OptunaTPEAgent(5)])
def test_the_decisions_do_not_depend_on_the_order_trials_finish_in(tmp_path: Path, agent: Any) -> None:
    in_order, fifo = _run(tmp_path / "fifo", 3, youngest_first=False, agent=agent())
    reversed_, lifo = _run(tmp_path / "lifo", 3, youngest_first=True, agent=agent())
    assert fifo.finished == sorted(fifo.finished) and lifo.finished != sorted(lifo.finished)
    assert _decisions(in_order) == _decisions(reversed_)
    assert [e.model_dump(exclude={"t"}) for e in in_order.events()] == \
        [e.model_dump(exclude={"t"}) for e in reversed_.events()]  # the whole trace, not only the decisions
    assert (tmp_path / "lifo" / JOURNAL_FILE).exists() and not (tmp_path / "fifo" / JOURNAL_FILE).exists()


class RecordingAgent:
    """The offline agent without its batch form, recording what each proposal saw."""

    name = "recording"

    def __init__(self) -> None:
        self.inner = OfflineAgent()
        self.seen: list[tuple[int, int, list[int]]] = []  # (iteration, trials in history, pending iterations)

    def propose(self, ctx: SearchContext) -> Proposal:
        self.seen.append((ctx.iteration, len(ctx.history), [p.iteration for p in ctx.pending]))
        return self.inner.propose(ctx)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


def test_step_t_sees_the_trials_decided_up_to_t_minus_n_and_the_rest_as_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[dict[str, Any]] = []
    monkeypatch.setattr(batch, "_told", set())
    monkeypatch.setattr(batch.log, "warning", lambda event, **kw: told.append({"event": event, **kw}))
    agent = RecordingAgent()
    workers = 3
    store, _ = _run(tmp_path / "run", workers, youngest_first=True, agent=agent, levels=("1",))
    for iteration, decided, pending in agent.seen:  # strict acceptance: step = iteration (one baseline step)
        assert decided == max(0, iteration - workers + 1)
        assert pending == list(range(max(0, iteration - workers + 1), iteration))
    assert [s[0] for s in agent.seen] == list(range(1, 25))
    assert [t["event"] for t in told] == ["proposer_cannot_batch"]  # said once, for the first batch
    proposals = [e.params for e in store.events() if isinstance(e, ProposalMade)]
    for t in range(len(proposals)):  # no proposal repeats one still in flight
        assert proposals[t] not in proposals[max(0, t - workers + 1):t]


class BatchCountingAgent(RandomSearchAgent):
    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.batches: list[int] = []

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]:
        self.batches.append(n)
        return super().propose_batch(ctx, n)


def test_workers_starting_together_get_one_batch_of_distinct_proposals(tmp_path: Path) -> None:
    agent = BatchCountingAgent(5)
    store, _ = _run(tmp_path / "run", 4, youngest_first=False, agent=agent, levels=("1",))
    assert agent.batches == [3]  # steps 1-3 at once (step 0 is the baseline); then one proposal per decision
    first = [e.params for e in store.events() if isinstance(e, ProposalMade)][1:4]
    assert len({tuple(sorted(p.items())) for p in first}) == 3


def test_the_batch_equals_the_proposals_one_at_a_time_for_seeded_baselines() -> None:
    space = QuadraticDomain().space
    ctx = SearchContext(space=space, direction="minimize", iteration=3, history=(), incumbent=None,
                        config=SearchConfig())
    agent = RandomSearchAgent(9)
    assert [p.params for p in agent.propose_batch(ctx, 3)] == [p.params for p in batch.one_by_one(agent, ctx, 3)]
    in_flight = replace(ctx, pending=(PendingTrial(iteration=1, params=space.defaults()),))
    asked = OptunaTPEAgent(9).propose_batch(in_flight, 3)
    assert len({tuple(sorted(p.params.items())) for p in asked}) == 3


def test_a_crash_reruns_only_the_trials_that_had_not_finished(tmp_path: Path) -> None:
    reference, _ = _run(tmp_path / "ref", 3, youngest_first=True)
    domain = CountingDomain(crash_at=10)
    config = _config(3)
    store = RunStore.create(tmp_path / "run", config)
    with pytest.raises(KeyboardInterrupt):
        loop = _loop(store, config, domain, OfflineAgent(), OrderedExecutor(domain, 3, youngest_first=True))
        loop.start()
        loop.run()
    store.close()
    journaled = [int(line.split(b'"step":')[1].split(b",")[0]) for line in
                 (tmp_path / "run" / JOURNAL_FILE).read_bytes().splitlines()]
    assert 11 in journaled  # waiting for step 9, the youngest-first executor ran 11, then 10 crashed

    store = RunStore.open(tmp_path / "run")
    loop = _loop(store, config, domain, OfflineAgent(), OrderedExecutor(domain, 3, youngest_first=True))
    loop.resume()
    loop.run()
    store.close()
    assert domain.runs[10] == 2 and all(n == 1 for step, n in domain.runs.items() if step != 10)
    assert _decisions(store) == _decisions(reference)
    recovered = {e.step for e in store.events() if isinstance(e, TrialFinished) and e.recovered}
    assert 11 in recovered
