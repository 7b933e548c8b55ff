"""The llm agent driving the real inner loop: replay reproduces the run, resume repeats no paid call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from llm_support import ClientFactory

from bilevel_evolve.engine.agents.llm import LLMAgent
from bilevel_evolve.engine.llm.factory import build_llm_client
from bilevel_evolve.engine.run.events import DecisionMade, TrialFinished
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import Scalar, SearchSpace

ANSWERS = [
    {"params": {"x0": 2.0}},
    {"params": {"x0": 9.0}},  # out of range: costs a repair exchange
    {"params": {"x0": 1.5}},
    {"params": {"x1": 0.5}},
    {"params": {"x0": 1.0, "x1": 1.0}},
    {"params": {"x1": -1.0}},
]


class Bowl:
    name = "bowl"
    direction: Direction = "minimize"
    space = SearchSpace.from_dict(
        {f"x{i}": {"type": "float", "low": -5.0, "high": 5.0, "default": 3.0} for i in range(2)}
    )

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        return TrialResult(status="ok", value=sum((float(v) - 1.0) ** 2 for v in params.values()))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class _Crash(Exception):
    pass


class _CheckpointDiesAt(RunStore):
    die_at = 3  # steps_done of the checkpoint that never gets written

    def save_checkpoint(self, checkpoint, *, force_durable=False):  # type: ignore[no-untyped-def]
        if checkpoint.steps_done == self.die_at:
            raise _Crash
        super().save_checkpoint(checkpoint, force_durable=force_durable)


CONFIG = RunConfig(run_id="llm", domain="bowl", iterations=5, seed=1, agent="llm")


def sequence(store: RunStore) -> list[tuple[Any, ...]]:
    events = store.events()
    kept = {e.step: e.accepted for e in events if isinstance(e, DecisionMade)}
    return [(e.step, e.params, e.value, kept[e.step]) for e in events if isinstance(e, TrialFinished)]


def run(store: RunStore, agent: LLMAgent) -> RunStore:
    loop = InnerLoop(store, CONFIG, Bowl(), agent)
    loop.start()
    loop.run()
    store.close()
    return store


def script(fake: FakeOpenAI) -> None:
    fake.script(*(Reply.json(a) for a in ANSWERS))


def test_a_replayed_run_makes_the_recorded_decisions_offline(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    script(fake)
    original = run(RunStore.create(tmp_path / "a", CONFIG), LLMAgent(make_client(tmp_path / "a")))
    calls = len(fake.requests)
    fake.stop()
    client = build_llm_client(None, None, None, None, None, tmp_path / "b", replay_from=tmp_path / "a")
    replayed = run(RunStore.create(tmp_path / "b", CONFIG), LLMAgent(client))
    assert sequence(replayed) == sequence(original)
    assert calls == 6  # five proposals, one repair
    assert (tmp_path / "b" / "cassette.jsonl").read_bytes() == (tmp_path / "a" / "cassette.jsonl").read_bytes()


def test_resume_after_a_crash_reserves_the_lost_steps_exchange(
    fake: FakeOpenAI, make_client: ClientFactory, tmp_path: Path
) -> None:
    script(fake)
    reference = sequence(run(RunStore.create(tmp_path / "ref", CONFIG), LLMAgent(make_client(tmp_path / "ref"))))
    fake.requests.clear()
    script(fake)
    store = _CheckpointDiesAt.create(tmp_path / "run", CONFIG)
    loop = InnerLoop(store, CONFIG, Bowl(), LLMAgent(make_client(tmp_path / "run")))
    loop.start()
    with pytest.raises(_Crash):
        loop.run()
    store.close()
    before = len(fake.requests)

    store = RunStore.open(tmp_path / "run")
    loop = InnerLoop(store, CONFIG, Bowl(), LLMAgent(make_client(tmp_path / "run")))
    loop.resume()
    loop.run()
    store.close()
    assert sequence(store) == reference
    assert before == 3  # exchanges 2 and 3 (a proposal and its repair) happened after the checkpoint
    assert len(fake.requests) == 6  # and were served again from the cassette, not asked twice
    assert (tmp_path / "run" / "cassette.jsonl").read_text().count("\n") == 6
