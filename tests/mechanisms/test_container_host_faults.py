"""Faults that take a mechanism's container down, and what a mechanism can do to its own server: each
fault fails the mechanism whose container it happened in and removes that container; no other
mechanism is touched, restarted or reloaded."""

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

from .conftest import COUNTER, ctx_json, observe

# The real server, except that the reply to a hook whose answer mentions "corrupt-me" leaves as the
# bytes of a Python expression (and, with exit_after, the server then exits).
CORRUPTING_SERVER = """
import os, sys
import bilevel_evolve.sandbox.guest.host_server as server
real = server.write_reply
def write_reply(reply):
    if b"corrupt-me" in reply:
        data = memoryview({expression})
        while data:
            data = data[os.write(1, data):]
        if {exit_after!r}:
            os._exit(0)
    else:
        real(reply)
server.write_reply = write_reply
sys.exit(server.main())
"""

CORRUPTER = MechanismSource(b"""
class Corrupter:
    name = "corrupter"

    def guide(self, ctx):
        return {"note": "corrupt-me"}

MECHANISM = Corrupter
""")

# What a mechanism's code tries against its own server (pid 1 of its container), and reports.
AGAINST_THE_SERVER = MechanismSource(b"""
import os, signal

class AgainstTheServer:
    name = "against-the-server"

    def guide(self, ctx):
        seen = {"parent": os.getppid()}
        for path in ("/proc/1/fd/1", "/proc/1/fd/0", "/proc/1/mem", "/proc/1/environ"):
            try:
                os.close(os.open(path, os.O_RDWR if path.endswith("fd/1") else os.O_RDONLY))
                seen[path] = "opened"
            except OSError as exc:
                seen[path] = type(exc).__name__
        for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
            os.kill(1, sig)
        return {"note": repr(sorted(seen.items()))}

MECHANISM = AgainstTheServer
""")


def _corrupting(expression: str, exit_after: bool = False) -> list[str]:
    return [PYTHON_IN_CONTAINER, "-I", "-c", CORRUPTING_SERVER.format(expression=expression, exit_after=exit_after)]


def _counted(host: Any, mech_id: str) -> int:
    return int(json.loads(host.state_json(mech_id))["seen"])


@pytest.mark.docker
def test_a_mechanism_can_neither_reach_nor_signal_its_server(make_host: Callable[..., Any]) -> None:
    host = make_host()
    host.load("attacker", AGAINST_THE_SERVER, None)
    for _ in range(2):  # still answering after SIGSTOP, SIGTERM and SIGKILL
        note = host.call("attacker", "guide", ctx_json(), 1, {})["note"]
    assert note == repr(sorted({"parent": 1, "/proc/1/fd/1": "PermissionError", "/proc/1/fd/0": "PermissionError",
                                "/proc/1/mem": "PermissionError", "/proc/1/environ": "PermissionError"}.items()))


ORPHAN_MAKER = MechanismSource(b"""
import os, time

class OrphanMaker:
    name = "orphan-maker"

    def guide(self, ctx):
        if ctx.iteration == 1:  # 40 processes whose parent exits at once: each is handed to pid 1, then exits
            for _ in range(40):
                if os.fork() == 0:
                    if os.fork() == 0:
                        time.sleep(0.2)
                    os._exit(0)
                os.waitpid(-1, 0)
        zombies = 0
        for entry in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % entry, "rb") as fh:
                    zombies += fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
            except (OSError, IndexError):
                pass
        return {"note": str(zombies)}

MECHANISM = OrphanMaker
""")


@pytest.mark.docker
def test_the_server_reaps_the_orphans_a_mechanism_leaves(make_host: Callable[..., Any]) -> None:
    host = make_host()
    host.load("orphans", ORPHAN_MAKER, None)
    host.call("orphans", "guide", ctx_json(iteration=1), 1, {})
    deadline = time.monotonic() + 20
    while (left := int(host.call("orphans", "guide", ctx_json(iteration=2), 1, {})["note"])) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == 0


@pytest.mark.docker
def test_a_container_killed_from_outside_fails_only_its_mechanism(
        make_host: Callable[..., Any], docker_client: Any, host_containers: Callable[[], list[Any]]) -> None:
    host = make_host()
    host.load("counter", COUNTER, None)
    host.load("doomed", COUNTER, None)
    observe(host, "counter")
    counter_container = host.container_name("counter")
    docker_client.containers.get(host.container_name("doomed")).kill()  # as the OOM killer would
    with pytest.raises(HookFailure) as failure:
        observe(host, "doomed")
    assert failure.value.kind == "died" and failure.value.mechanism == "doomed"
    assert "stopped" in failure.value.reason and "exited with code" in failure.value.reason
    assert [c.name for c in host_containers()] == [counter_container]  # the dead one is removed
    observe(host, "counter")
    assert _counted(host, "counter") == 2  # not reloaded from a checkpoint: never touched
    with pytest.raises(HookFailure) as gone:
        observe(host, "doomed")
    assert gone.value.kind == "died"  # the offender is not brought back


@pytest.mark.docker
def test_a_frozen_container_hits_the_host_deadline_and_only_it_is_removed(
        make_host: Callable[..., Any], docker_client: Any) -> None:
    host = make_host(call_limit_s=1.0)
    host.load("counter", COUNTER, None)
    host.load("frozen", COUNTER, None)
    observe(host, "counter")
    docker_client.containers.get(host.container_name("frozen")).pause()
    with pytest.raises(HookFailure) as failure:
        observe(host, "frozen")
    assert failure.value.kind == "timeout" and failure.value.mechanism == "frozen"
    assert host.container_name("frozen") is None
    assert _counted(host, "counter") == 1


# Whatever a server's stdout carries, the engine sees a fault of the mechanism it was asked about.
# Request 1 is the container's ping, 2 the load, 3 the corrupted call.
CHANNEL_GARBAGE = {
    "not JSON": (r"b'\x00\xffthis is not json\n'", "garbage"),
    "deep nesting": ("b'[' * 60_000 + b'\\n'", "garbage"),
    "a header over its cap": ("b'[' * 100_000 + b'\\n'", "garbage"),
    "wrong id": (r"""b'{"id": 999, "ok": true}\t{"ok": true}\n'""", "garbage"),
    "an id of another type": (r"""b'{"id": true, "ok": true}\t{"ok": true}\n'""", "garbage"),
    "NaN id": (r"""b'{"id": NaN, "ok": true}\t{"ok": true}\n'""", "garbage"),
    "a lone surrogate in a fault": (r"""b'{"id": 3, "ok": false, "kind": "died", "reason": "\\ud800\\u001b[31m"}\n'""",
                                    "died"),
    "a worker answer 100,000 deep": (r"""b'{"id": 3, "ok": true}\t' + b'[' * 100_000 + b'\n'""", "garbage"),
    "a worker answer not UTF-8": (r"""b'{"id": 3, "ok": true}\t\xff\xfe\n'""", "garbage"),
    "a huge line": (r"b'7' * (5 << 20) + b'\n'", "garbage"),
}


@pytest.mark.docker
@pytest.mark.parametrize("case", list(CHANNEL_GARBAGE))
def test_garbage_on_a_channel_fails_that_mechanism_and_leaves_the_other_untouched(
        case: str, make_host: Callable[..., Any]) -> None:
    data, kind = CHANNEL_GARBAGE[case]
    host = make_host(command=_corrupting(data))
    host.load("counter", COUNTER, None)
    host.load("corrupter", CORRUPTER, None)  # request 1: ping, 2: load, 3: this guide
    observe(host, "counter")
    with pytest.raises(HookFailure) as failure:
        host.call("corrupter", "guide", ctx_json(), 1, {})
    assert failure.value.kind == kind and failure.value.mechanism == "corrupter"
    assert failure.value.reason.isprintable()
    assert host.container_name("corrupter") is None
    assert host.call("counter", "guide", ctx_json(), 1, {}) == {"note": "seen 1"}


@pytest.mark.docker
@pytest.mark.parametrize("expression", [r"""b'{"id": 3, "ok": tr'""",
                                        r"""b'{"id": 3, "ok": true}\t{"ok": true}\n{"id": 4, "ok": true}'"""])
def test_an_early_end_or_a_line_out_of_turn_fails_that_mechanism(expression: str,
                                                                 make_host: Callable[..., Any]) -> None:
    host = make_host(command=_corrupting(expression, exit_after=True))
    host.load("corrupter", CORRUPTER, None)
    try:
        host.call("corrupter", "guide", ctx_json(), 1, {})  # the line out of turn may come after the answer
        host.call("corrupter", "guide", ctx_json(), 1, {})
    except HookFailure as failure:
        assert failure.mechanism == "corrupter" and failure.kind in ("died", "garbage")
    else:
        pytest.fail("the server's early exit went unnoticed")
    assert host.container_name("corrupter") is None


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
