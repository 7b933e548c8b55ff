"""Issue 5, "Done when": a mechanism that passes its smoke test and turns hostile later in a real run
never reaches the host — its file write lands nowhere on the host, the host secret stays unread,
and the run finishes with the mechanism still active."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.mechanisms.active_set import MechanismSet
from bilevel_evolve.engine.run.events import MechanismRolledBack
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import LocalProcessHost

from .conftest import COUNTER, misbehaving

pytestmark = pytest.mark.docker
TRIGGER_ITERATION = 14  # the smoke test's synthetic trace stops at iteration 11

TIME_BOMB = """
import numpy as np

TARGET = {target!r}
SECRET = {secret!r}


class TimeBomb:
    name = "time-bomb"

    def __init__(self):
        self.seen = 0
        self.report = {{}}

    def observe(self, trial, ctx):
        self.seen += 1
        if ctx.iteration < {trigger} or self.report:
            return None
        try:
            np.save(TARGET, np.arange(3))
            self.report["save"] = "written"
        except Exception as exc:
            self.report["save"] = "failed: " + repr(exc)
        try:
            self.report["secret"] = "read: " + np.fromfile(SECRET, dtype=np.uint8).tobytes().decode()
        except Exception as exc:
            self.report["secret"] = "failed: " + repr(exc)
        return None

    def state_dict(self):
        return {{"seen": self.seen, "report": dict(self.report)}}

    def load_state_dict(self, state):
        self.seen = int(state["seen"])
        self.report = dict(state["report"])


MECHANISM = TimeBomb
"""


def _bomb(tmp_path: Path) -> tuple[str, Path, str]:
    """(source, where it will try to write, the secret it will try to read)."""
    target = tmp_path / "escaped.npy"
    secret_file = tmp_path / "secret.txt"
    secret = f"host-secret-{secrets.token_hex(16)}"
    secret_file.write_text(secret)
    return TIME_BOMB.format(target=str(target), secret=str(secret_file), trigger=TRIGGER_ITERATION), target, secret


def _run(tmp_path: Path, host: Any, source: str) -> tuple[Any, Any, RunStore, MechanismSet]:
    config = RunConfig(run_id="time-bomb", domain="function:branin", iterations=20, seed=5)
    store = RunStore.create(tmp_path / "run", config)
    try:
        loop = InnerLoop(store, config, load_domain(config.domain), OfflineAgent(), mechanism_host=host)
        mechanisms = loop.mechanisms
        assert mechanisms is not None
        mechanisms.add("time-bomb", MechanismSource.from_text(source), step=0)
        mechanisms.add("counter", COUNTER, step=0)
        loop.start()
        outcome = loop.run()
        assert outcome.status == "completed" and outcome.steps == config.total_steps
        return outcome, store.load_checkpoint(), store, mechanisms
    finally:
        host.close()
        store.close()


def test_a_time_bomb_that_passed_its_smoke_test_never_reaches_the_host_in_a_real_run(
        tmp_path: Path, docker_client: Any, sandbox_image: str) -> None:
    from bilevel_evolve.sandbox.box import run_smoke_test
    from bilevel_evolve.sandbox.hosts.container import ContainerHost

    source, target, secret = _bomb(tmp_path)
    # The static gate happens to know np.save and np.fromfile; the point is that no name list
    # is complete, so this mechanism stands for one the gate missed: it goes straight to the box.
    smoke = run_smoke_test(MechanismSource.from_text(source), client=docker_client, image=sandbox_image)
    assert smoke.ok, smoke.to_text()
    assert not target.exists()

    host = ContainerHost("time-bomb", client=docker_client, image=sandbox_image)
    _, checkpoint, store, mechanisms = _run(tmp_path, host, source)

    assert mechanisms.ids() == ("time-bomb", "counter")  # it broke no contract, so it was never rolled back
    assert not [e for e in store.events() if isinstance(e, MechanismRolledBack)]
    assert checkpoint is not None
    report = json.loads(checkpoint.extra["mechanism_states"]["time-bomb"])["report"]
    assert set(report) == {"save", "secret"}, "the time bomb never went off"
    assert not target.exists() and not list(tmp_path.glob("*.npy"))
    assert report["secret"].startswith("failed: FileNotFoundError"), report
    assert json.loads(checkpoint.extra["mechanism_states"]["counter"]) == {"seen": 20}
    for path in (tmp_path / "run").rglob("*"):  # nor did the secret reach anything the run wrote
        assert not path.is_file() or secret.encode() not in path.read_bytes()


def test_the_same_time_bomb_under_the_unconfined_host_does_reach_the_host(tmp_path: Path) -> None:
    """The control: what the container prevents is real (it only touches this test's tmp_path)."""
    source, target, secret = _bomb(tmp_path)
    _, checkpoint, _, _ = _run(tmp_path, LocalProcessHost(tmp_path / "local_host"), source)
    report = json.loads(checkpoint.extra["mechanism_states"]["time-bomb"])["report"]
    assert report == {"save": "written", "secret": f"read: {secret}"}
    assert target.exists()


def test_faulty_mechanisms_are_rolled_back_mid_run_and_the_run_finishes_with_the_rest(
        tmp_path: Path, docker_client: Any, sandbox_image: str) -> None:
    from bilevel_evolve.sandbox.hosts.container import ContainerHost

    faulty = {
        "staller": misbehaving("if ctx.iteration >= 4:\n    while True:\n        pass"),
        "forger": misbehaving("if ctx.iteration >= 7:\n    fd = int(sys.argv[sys.argv.index('--res-fd') + 1])\n"
                              "    os.write(fd, b'[' * 100000 + b'\\n')"),
        "quitter": misbehaving("if ctx.iteration >= 10:\n    os._exit(1)"),
    }
    config = RunConfig(run_id="faults", domain="function:branin", iterations=14, seed=5)
    store = RunStore.create(tmp_path / "run", config)
    host = ContainerHost(config.run_id, client=docker_client, image=sandbox_image, call_limit_s=1.0)
    try:
        loop = InnerLoop(store, config, load_domain(config.domain), OfflineAgent(), mechanism_host=host)
        mechanisms = loop.mechanisms
        assert mechanisms is not None
        for mech_id, source in faulty.items():  # in archive order, ahead of the counter
            mechanisms.add(mech_id, source, step=0)
        mechanisms.add("counter", COUNTER, step=0)
        loop.start()
        outcome = loop.run()
        checkpoint = store.load_checkpoint()
    finally:
        host.close()
        store.close()

    assert outcome.status == "completed" and outcome.steps == config.total_steps
    rolled = {e.mechanism: (e.iteration, e.reason.split(":")[0]) for e in store.events()
              if isinstance(e, MechanismRolledBack)}
    assert rolled == {"staller": (4, "hook observe timeout"), "forger": (7, "hook observe garbage"),
                      "quitter": (10, "hook observe died")}
    assert mechanisms.ids() == ("counter",)
    assert checkpoint is not None
    # each fault was confined to its own mechanism's container: the counter saw every iteration
    assert json.loads(checkpoint.extra["mechanism_states"]["counter"]) == {"seen": config.iterations}
