"""ContainerHost against the real Docker engine: the ordinary path, and faults confined to the
container of the mechanism that caused them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import HookFailure

from .conftest import COUNTER, ctx_json, misbehaving, observe, trial_record

pytestmark = pytest.mark.docker
TABU = MechanismSource((Path(__file__).resolve().parents[1] / "sandbox" / "mechanisms" / "tabu_search.py").read_bytes())

WHERE_AM_I = MechanismSource(b"""
import os, socket

class WhereAmI:
    name = "where-am-i"

    def guide(self, ctx):
        return None

    def state_dict(self):
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=1).close()
            network = "reachable"
        except OSError as exc:
            network = type(exc).__name__
        return {"host": socket.gethostname(), "uid": os.getuid(), "network": network,
                "secrets": sorted(k for k in os.environ if "KEY" in k or "TOKEN" in k)}

MECHANISM = WhereAmI
""")


def test_a_mechanism_loads_answers_its_hooks_and_round_trips_its_state(make_host: Callable[..., Any]) -> None:
    host = make_host()
    loaded = host.load("tabu", TABU, None)
    assert (loaded.class_name, loaded.name) == ("TabuSearch", "tabu-search")
    assert {"guide", "propose", "review", "observe", "state_dict", "load_state_dict"} <= set(loaded.hooks)
    ctx = ctx_json(iteration=2, trials=5)
    for i in range(4):
        assert host.call("tabu", "observe", ctx, 7, {"trial": trial_record(i, i - 2.0).model_dump()}) is None
    proposal = host.call("tabu", "propose", ctx, 7, {})
    assert set(proposal) == {"x", "lr", "act"}
    assert host.call("tabu", "propose", ctx, 7, {}) == proposal  # ctx.rng is seeded from the call's seed
    state = host.state_json("tabu")
    assert len(json.loads(state)["tabu"]) == 4

    host.unload("tabu")
    with pytest.raises(HookFailure) as gone:
        host.call("tabu", "guide", ctx, 7, {})
    assert gone.value.kind == "died"
    host.load("tabu-again", TABU, state)
    assert host.state_json("tabu-again") == state


def test_mechanisms_run_as_the_sandbox_user_without_network_or_secrets(make_host: Callable[..., Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    host = make_host()
    host.load("where", WHERE_AM_I, None)
    seen = json.loads(host.state_json("where"))
    assert seen == {"host": "sandbox", "uid": 10001, "network": seen["network"], "secrets": []}
    assert seen["network"] != "reachable"


def test_an_exception_in_a_hook_is_reported_as_raised_and_the_mechanism_stays_loaded(
        make_host: Callable[..., Any]) -> None:
    host = make_host()
    host.load("bad", misbehaving("raise ValueError('no good')"), None)
    with pytest.raises(HookFailure) as failure:
        observe(host, "bad")
    assert failure.value.kind == "raised" and "ValueError: no good" in failure.value.reason
    assert "mechanism.py line" in failure.value.reason


def test_an_import_error_fails_the_load_with_the_mechanism_line(make_host: Callable[..., Any]) -> None:
    host = make_host()
    with pytest.raises(HookFailure) as failure:
        host.load("broken", MechanismSource(b"import sklearn\nMECHANISM = None\n"), None)
    assert failure.value.kind == "raised" and "sklearn" in failure.value.reason
    host.load("counter", COUNTER, None)  # the host is still usable
    assert host.call("counter", "guide", ctx_json(), 1, {}) == {"note": "seen 0"}


def test_a_stalled_hook_times_out_and_the_other_mechanism_keeps_its_state(make_host: Callable[..., Any]) -> None:
    host = make_host(call_limit_s=1.0)
    host.load("counter", COUNTER, None)
    host.load("staller", misbehaving("while True:\n    pass"), None)
    for i in range(3):
        observe(host, "counter", i)
    counter_container = host.container_name("counter")
    with pytest.raises(HookFailure) as failure:
        observe(host, "staller")
    assert failure.value.kind == "timeout" and failure.value.mechanism == "staller"
    assert json.loads(host.state_json("counter")) == {"seen": 3}
    assert host.container_name("counter") == counter_container  # only the staller's container was removed
    assert host.container_name("staller") is None
    with pytest.raises(HookFailure) as again:
        observe(host, "staller")
    assert again.value.kind == "died"


def test_a_mechanism_that_exits_its_own_process_is_reported_died(make_host: Callable[..., Any]) -> None:
    host = make_host()
    host.load("counter", COUNTER, None)
    host.load("quitter", misbehaving("os._exit(3)"), None)
    observe(host, "counter")
    counter_container = host.container_name("counter")
    with pytest.raises(HookFailure) as failure:
        observe(host, "quitter")
    assert failure.value.kind == "died" and "exited with code 3" in failure.value.reason
    assert json.loads(host.state_json("counter")) == {"seen": 1}
    assert host.container_name("counter") == counter_container


def test_a_memory_bomb_is_killed_and_the_other_mechanism_keeps_answering(make_host: Callable[..., Any]) -> None:
    from bilevel_evolve.sandbox.container_spec import BoxLimits

    host = make_host(limits=BoxLimits(memory_mb=192, pids=64))
    host.load("counter", COUNTER, None)
    host.load("bomb", misbehaving("hoard = []\nwhile True:\n    hoard.append(b'x' * (16 << 20))"), None)
    observe(host, "counter")
    observe(host, "counter")
    checkpoint = host.state_json("counter")
    with pytest.raises(HookFailure) as failure:
        observe(host, "bomb")
    assert failure.value.kind == "died" and failure.value.mechanism == "bomb"
    # whichever process the kernel chose, the counter answers with the state it had at its checkpoint
    assert host.state_json("counter") == checkpoint
    assert host.call("counter", "guide", ctx_json(), 1, {}) == {"note": "seen 2"}


def test_a_worker_that_writes_garbage_on_its_reply_channel_is_reported_garbage(
        make_host: Callable[..., Any]) -> None:
    forge = "fd = int(sys.argv[sys.argv.index('--res-fd') + 1])\nos.write(fd, b'{not json at all\\n')"
    host = make_host()
    host.load("counter", COUNTER, None)
    host.load("forger", misbehaving(forge), None)
    with pytest.raises(HookFailure) as failure:
        observe(host, "forger")
    assert failure.value.kind == "garbage"
    observe(host, "counter")
    assert json.loads(host.state_json("counter")) == {"seen": 1}


def test_a_forged_well_formed_worker_reply_with_wrong_types_is_garbage(make_host: Callable[..., Any]) -> None:
    forge = ("fd = int(sys.argv[sys.argv.index('--res-fd') + 1])\n"
             "os.write(fd, b'{\"ok\": true, \"value_json\": 5}\\n')\n"
             "os.write(fd, b'{\"ok\": true}\\n')")  # the worker's own reply then arrives out of turn
    host = make_host()
    host.load("forger", misbehaving(forge), None)
    with pytest.raises(HookFailure) as failure:
        observe(host, "forger")
    assert failure.value.kind == "garbage"


def test_close_removes_the_container_and_unregisters_it(make_host: Callable[..., Any],
                                                       host_containers: Callable[[], list[Any]]) -> None:
    from bilevel_evolve.sandbox.lifecycle import REGISTRY

    host = make_host()
    assert host_containers() == []  # started lazily, on the first load
    host.load("counter", COUNTER, None)
    (container,) = host_containers()
    assert container.name == host.container_name("counter") and container.name in REGISTRY.live()
    host.close()
    assert host_containers() == [] and container.name not in REGISTRY.live()
    host.close()  # idempotent


def test_each_mechanism_has_a_container_of_its_own_labelled_with_it_and_unload_removes_it(
        make_host: Callable[..., Any], host_containers: Callable[[], list[Any]]) -> None:
    from bilevel_evolve.sandbox.lifecycle import LABEL_MECHANISM

    host = make_host()
    host.load("counter", COUNTER, None)
    host.load("tabu", TABU, None)
    held = {c.labels[LABEL_MECHANISM]: c.name for c in host_containers()}
    assert held == {"counter": host.container_name("counter"), "tabu": host.container_name("tabu")}
    host.unload("tabu")
    assert [c.name for c in host_containers()] == [host.container_name("counter")]
    host.load("tabu", TABU, None)  # loaded again: a fresh container
    assert host.container_name("tabu") not in (None, held["tabu"]) and host.containers_started == 3
