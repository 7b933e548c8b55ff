"""Faults that take the whole mechanism host down: the offender fails, a fresh container takes over,
and every other mechanism comes back from its last known (checkpointed) state."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import HookFailure
from bilevel_evolve.sandbox.hosts.channel import Channel, ChannelFault
from bilevel_evolve.sandbox.image import PYTHON_IN_CONTAINER

from .conftest import COUNTER, ctx_json, misbehaving, observe

FRAGILE = MechanismSource(b"""
class Fragile:
    name = "fragile"

    def guide(self, ctx):
        return None

    def state_dict(self):
        return {"x": 1}

    def load_state_dict(self, state):
        raise RuntimeError("cannot come back")

MECHANISM = Fragile
""")

# The real server, except that any reply mentioning "corrupt-me" leaves as bytes that are not JSON.
CORRUPTING_SERVER = [PYTHON_IN_CONTAINER, "-I", "-c", """
import os, sys
import bilevel_evolve.sandbox.guest.host_server as server
real = server.write_reply
def write_reply(reply):
    if "corrupt-me" in repr(reply):
        os.write(1, b"\\x00\\xffthis is not json\\n")
    else:
        real(reply)
server.write_reply = write_reply
sys.exit(server.main())
"""]

CORRUPTER = MechanismSource(b"""
class Corrupter:
    name = "corrupter"

    def guide(self, ctx):
        return {"note": "corrupt-me"}

MECHANISM = Corrupter
""")


def _counted(host: Any, mech_id: str) -> int:
    return int(json.loads(host.state_json(mech_id))["seen"])


@pytest.mark.docker
def test_a_mechanism_that_kills_the_server_is_died_and_the_others_return_from_their_checkpoint(
        make_host: Callable[..., Any], host_containers: Callable[[], list[Any]]) -> None:
    host = make_host()
    host.load("counter", COUNTER, None)
    host.load("killer", misbehaving("os.kill(os.getppid(), signal.SIGKILL)"), None)
    first = host.container_name
    observe(host, "counter")
    observe(host, "counter")
    assert _counted(host, "counter") == 2  # the engine checkpoints here
    observe(host, "counter")  # after the checkpoint: lost with the container
    with pytest.raises(HookFailure) as failure:
        observe(host, "killer")
    assert failure.value.kind == "died" and failure.value.mechanism == "killer"
    assert "stopped" in failure.value.reason
    assert host.restarts == 1 and host.container_name != first
    assert [c.name for c in host_containers()] == [host.container_name]  # the old one is removed
    assert _counted(host, "counter") == 2
    with pytest.raises(HookFailure) as gone:
        observe(host, "killer")
    assert gone.value.kind == "died"  # the offender is not brought back


@pytest.mark.docker
def test_a_frozen_server_hits_the_host_deadline_and_the_container_is_replaced(
        make_host: Callable[..., Any]) -> None:
    host = make_host(call_limit_s=1.0)
    host.load("counter", COUNTER, None)
    host.load("freezer", misbehaving("os.kill(os.getppid(), signal.SIGSTOP)"), None)
    observe(host, "counter")
    host.state_json("counter")
    with pytest.raises(HookFailure) as failure:
        observe(host, "freezer")
    assert failure.value.kind == "timeout" and failure.value.mechanism == "freezer"
    assert host.restarts == 1
    assert _counted(host, "counter") == 1


@pytest.mark.docker
def test_garbage_on_the_channel_fails_that_call_and_the_container_is_replaced(
        make_host: Callable[..., Any]) -> None:
    host = make_host(command=CORRUPTING_SERVER)
    host.load("counter", COUNTER, None)
    host.load("corrupter", CORRUPTER, None)
    observe(host, "counter")
    host.state_json("counter")
    with pytest.raises(HookFailure) as failure:
        host.call("corrupter", "guide", ctx_json(), 1, {})
    assert failure.value.kind == "garbage" and "not JSON" in failure.value.reason
    assert host.restarts == 1
    assert host.call("counter", "guide", ctx_json(), 1, {}) == {"note": "seen 1"}


@pytest.mark.docker
def test_a_mechanism_that_cannot_be_reloaded_after_a_restart_fails_its_next_call(
        make_host: Callable[..., Any]) -> None:
    host = make_host()
    host.load("fragile", FRAGILE, None)
    host.load("counter", COUNTER, None)
    host.load("killer", misbehaving("os.kill(os.getppid(), signal.SIGKILL)"), None)
    host.state_json("fragile")
    observe(host, "counter")
    host.state_json("counter")
    with pytest.raises(HookFailure):
        observe(host, "killer")
    with pytest.raises(HookFailure) as lost:
        host.call("fragile", "guide", ctx_json(), 1, {})
    assert lost.value.kind == "died" and "cannot come back" in lost.value.reason
    assert _counted(host, "counter") == 1


# ---- the channel's framing, over a real socket pair ---------------------------------------------------
def _frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_lines_split_across_docker_frames_are_reassembled_and_stderr_is_ignored() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(ours)
        theirs.sendall(_frame(1, b'{"id": 1, ') + _frame(2, b"noise on stderr\n") + _frame(1, b'"ok": true}\n{"id"'))
        assert channel.read_line(time.monotonic() + 5) == b'{"id": 1, "ok": true}'
        theirs.sendall(_frame(1, b': 2}\n'))
        assert channel.read_line(time.monotonic() + 5) == b'{"id": 2}'


@pytest.mark.parametrize(("data", "kind"), [
    (b"plain bytes without any framing\n", "garbage"),  # the header's padding bytes are not zero
    (_frame(1, b"x" * 64) * 2, "timeout"),  # no newline yet, and nothing more comes
    (b"", "died"),  # the other end closes
])
def test_the_channel_turns_every_bad_stream_into_a_fault(data: bytes, kind: str) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(ours)
        theirs.sendall(data)
        if not data:
            theirs.shutdown(socket.SHUT_WR)
        with pytest.raises(ChannelFault) as fault:
            channel.read_line(time.monotonic() + 0.3)
        assert fault.value.kind == kind


def test_an_answer_over_the_size_cap_is_garbage() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        channel = Channel(ours, max_line=1000)
        theirs.sendall(_frame(1, b"y" * 600) + _frame(1, b"y" * 600))
        with pytest.raises(ChannelFault) as fault:
            channel.read_line(time.monotonic() + 5)
        assert fault.value.kind == "garbage"
