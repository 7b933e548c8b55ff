"""One live mechanism's container: hardened, its init the host server, and the channel to that server.

The container has the smoke-test box's confinement (`sandbox/container_spec.py`) and holds one
mechanism and nothing else: its own pid namespace, uid-owned processes, /tmp, /dev/shm, memory,
pids and CPU quota. Whatever the mechanism does to them (fills them, holds them, kills what it can
see) it does to itself. The server is pid 1 (`sandbox/guest/host_server.py` says why), so the
channel, the container's stdin/stdout over the Docker attach socket, cannot be reached from the
mechanism's processes; a container whose channel fails anyway is discarded with its mechanism.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import docker
from docker.errors import DockerException

from bilevel_evolve.sandbox.container_spec import BoxLimits, hardened_settings
from bilevel_evolve.sandbox.guest.worker_link import LlmAnswer
from bilevel_evolve.sandbox.hosts.channel import Channel, ChannelFault, llm_request_in, parse_envelope
from bilevel_evolve.sandbox.lifecycle import LABEL_MECHANISM, create_owned, remove_owned


class MechanismContainer:
    """Created, started and pinged by `start`; `exchange` one request at a time; `discard` removes it."""

    def __init__(self, client: docker.DockerClient, *, image: str, command: list[str], limits: BoxLimits,
                 use_gpu: bool, run_id: str, mech_id: str) -> None:
        self._client = client
        self._settings = hardened_settings(image=image, command=command, kind="host", limits=limits,
                                           use_gpu=use_gpu, name_tag=run_id, stdin=True, command_is_init=True,
                                           labels={LABEL_MECHANISM: mech_id[:128]})
        self.name: str = self._settings["name"]
        self.id: str | None = None
        self._channel: Channel | None = None
        self._next_id = 0

    def start(self, limit_s: float) -> None:
        """Create and start the container and wait for its server's first answer. Docker's own
        errors pass through; ChannelFault when the server does not come up."""
        self.id = create_owned(self._client, self._settings)
        sock = self._client.api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stream": 1})
        self._channel = Channel(sock)
        self._client.api.start(self.id)
        envelope, _ = self.exchange({"op": "ping"}, None, limit_s)
        if not envelope["ok"]:
            raise ChannelFault("garbage", f"the server answered its ping with {envelope['reason']}")

    def exchange(self, request: dict[str, Any], payload: bytes | None, limit_s: float,
                 on_llm: LlmAnswer | None = None) -> tuple[dict[str, Any], bytes]:
        """Send one request (header, then the worker's payload) and return the server's reply header
        and the worker's answer after it; ChannelFault when the channel itself failed. The ctx.llm
        requests the server passes up on the way are answered by `on_llm` (a request where there is
        none is a fault); the deadline does not count the time their answers take."""
        channel = self._channel
        if channel is None:
            raise ChannelFault("died", "the mechanism's container is gone")
        self._next_id += 1
        request_id = self._next_id
        deadline = time.monotonic() + limit_s
        header = json.dumps({"id": request_id, **request}, separators=(",", ":")).encode()
        channel.send(header + (b"\t" + payload if payload is not None else b"") + b"\n", deadline)
        while (asked := llm_request_in(line := channel.read_line(deadline), request_id)) is not None:
            if on_llm is None:
                raise ChannelFault("garbage", "the container passed up a ctx.llm request outside a hook call")
            started = time.monotonic()
            answer = on_llm(asked)
            deadline += time.monotonic() - started
            reply = json.dumps({"id": request_id, "op": "llm_answer"}, separators=(",", ":")).encode()
            channel.send(reply + b"\t" + answer + b"\n", deadline)
        return parse_envelope(line, request_id)

    def exit_detail(self) -> str:
        """How the container ended, for a reason: '' while it runs or when Docker cannot say."""
        if self.id is None:
            return ""
        with contextlib.suppress(Exception):
            self._client.api.wait(self.id, timeout=3)
        try:
            state = self._client.api.inspect_container(self.id)["State"]
        except DockerException:
            return ""
        if state.get("Running"):
            return ""
        oom = "; the container ran out of memory" if state.get("OOMKilled") else ""
        return f" (the container exited with code {state.get('ExitCode')}{oom})"

    def discard(self) -> None:
        """Close the channel and remove the container with everything in it; idempotent."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.id is not None:
            remove_owned(self._client, self.name)
            self.id = None
