"""A mechanism whose hook raises, stalls or answers garbage is rolled back; the loop goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from quadratic_domain import QuadraticDomain

from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import LocalProcessHost

GOOD = MechanismSource(b'''
class Counter:
    name = "counter"

    def __init__(self):
        self._seen = 0

    def observe(self, trial, ctx):
        self._seen += 1

    def propose(self, ctx):
        if ctx.incumbent is None:
            return None
        params = dict(ctx.incumbent.params)
        params["x3"] = max(-5.0, min(5.0, params["x3"] - 0.5))
        return params

    def state_dict(self):
        return {"seen": self._seen}

    def load_state_dict(self, state):
        self._seen = state["seen"]

MECHANISM = Counter
''')

FAULTS = {
    "raises": "raise ValueError('boom on the third call')",
    "stalls": "while True:\n                pass",
    "invalid": "return {'x0': 'not a number'}",
}


def _faulty(kind: str) -> MechanismSource:
    return MechanismSource.from_text(f'''
class Faulty:
    name = "faulty"

    def __init__(self):
        self._calls = 0

    def propose(self, ctx):
        self._calls += 1
        if self._calls >= 3:
            {FAULTS[kind]}
        return None

MECHANISM = Faulty
''')


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_a_faulty_hook_is_rolled_back_without_stopping_the_loop(tmp_path: Path, kind: str) -> None:
    config = RunConfig(run_id="t", domain="test", iterations=8, seed=1)
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host", call_limit_s=1.0)
    loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent(), mechanism_host=host)
    mechanisms = loop.mechanisms
    assert mechanisms is not None
    try:
        mechanisms.add("good", GOOD, 0)
        mechanisms.add("faulty", _faulty(kind), 0)
        loop.start()
        outcome = loop.run()
    finally:
        host.close()
    events = store.events()
    rollbacks = [e for e in events if e.kind == "rollback"]
    assert [r.mechanism for r in rollbacks] == ["faulty"]
    assert {"raises": "raised", "stalls": "timeout", "invalid": "invalid"}[kind] in rollbacks[0].reason
    assert rollbacks[0].active == ("good",)
    assert outcome.status == "completed" and outcome.steps == 9
    good_calls = [e for e in events if e.kind == "hook" and e.mechanism == "good"]
    assert {e.hook for e in good_calls} == {"propose", "observe"} and len(good_calls) == 16
    checkpoint = store.load_checkpoint()
    assert [m["id"] for m in checkpoint.extra["mechanisms"]] == ["good"]
    assert checkpoint.extra["mechanism_states"]["good"] == '{"seen": 8}'


def test_a_mechanism_that_cannot_come_back_on_resume_is_rolled_back_and_the_run_goes_on(tmp_path: Path) -> None:
    config = RunConfig(run_id="t", domain="test", iterations=6, seed=1)
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host", call_limit_s=2.0)
    try:
        loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent(), mechanism_host=host)
        assert loop.mechanisms is not None
        loop.mechanisms.add("good", GOOD, 0)
        loop.start()
        loop.advance()
        loop.advance()  # checkpointed with "good" active; now the process "dies"
    finally:
        host.close()
    broken = MechanismSource(b"raise RuntimeError('the archive copy no longer imports')\n")
    store = RunStore.open(tmp_path / "run")
    host = LocalProcessHost(tmp_path / "host2", call_limit_s=2.0)
    try:
        loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent(), mechanism_host=host,
                         mechanism_source=lambda mech_id: broken)
        loop.resume()
        outcome = loop.run()
    finally:
        host.close()
    rollback = next(e for e in store.events() if e.kind == "rollback")
    assert rollback.mechanism == "good" and "the archive copy no longer imports" in rollback.reason
    assert outcome.status == "completed" and outcome.steps == 7
    assert loop.mechanisms is not None and loop.mechanisms.active == []
