"""The default mechanism host: every active mechanism in a hardened container of its own.

    host = ContainerHost(run_id="r1")
    host.load(mech_id, source, state_json=None)     # starts that mechanism's container
    host.call(mech_id, "observe", ctx_json, seed, {"trial": {...}})
    host.state_json(mech_id); host.unload(mech_id); host.close()

Each container (`sandbox/hosts/mechanism_container.py`) has the smoke-test box's confinement and
runs `sandbox/guest/host_server.py` as its init, which keeps the mechanism's one worker process.
Requests and replies are JSON lines over the container's stdin/stdout (the Docker attach socket).
Every exchange has two deadlines: the server's on the worker, and a slightly larger one here. The
worker keeps the history; a call carries only the trials it lacks (`sandbox/hosts/history.py`),
and a worker started afresh (a load, a reload on resume) gets the whole history once. Replies are
decoded in one place (`sandbox/hosts/replies.py`).

One container per mechanism is the isolation: a mechanism sees no other mechanism's processes,
files or memory, cannot signal them and cannot write into their channels; what it exhausts (its
/tmp, /dev/shm, memory, pids) is its own. So every fault is the fault of the mechanism whose
container it happened in, and touches no other:
- its worker stalls, dies or answers garbage, or the server, the container or the channel fails:
  timeout / died / garbage for that call, and the container is removed with the mechanism in it
  (a later call says it is not loaded); the other mechanisms' containers are not touched;
- its hook raises or returns what no hook may: raised / invalid / over-budget, and it stays loaded
  until the engine unloads it;
- its hook's ctx.llm request is malformed or over the cap (sandbox/hosts/llm_bridge.py): garbage /
  invalid / over-budget, and the container goes (its worker waits for an answer); the engine's own
  failure while answering one (--max-cost spent) takes the container too and reaches the engine.
A ctx.llm request comes up the same channel in the middle of a call and is answered with the engine's
`llm_service`; the container itself never holds a key and has no network (`--network none`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import requests
from docker.errors import DockerException

from bilevel_evolve.ground.contract.interface import MAX_RETURN_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox import gpu as gpu_support
from bilevel_evolve.sandbox.container_spec import BoxLimits
from bilevel_evolve.sandbox.hosts import replies
from bilevel_evolve.sandbox.hosts.base import DEFAULT_CALL_LIMIT_S, LOAD_LIMIT_S
from bilevel_evolve.sandbox.hosts.channel import ChannelFault
from bilevel_evolve.sandbox.hosts.history import HistoryFeed
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmBridge, LlmService
from bilevel_evolve.sandbox.hosts.mechanism_container import MechanismContainer
from bilevel_evolve.sandbox.hosts.outcomes import HookFailure, Loaded
from bilevel_evolve.sandbox.image import HOST_SERVER_MODULE, connect, guest_command, image_name, require_image
from bilevel_evolve.sandbox.lifecycle import sweep_once

HOST_LIMITS = BoxLimits()  # each mechanism's container: what the smoke test gave it
HOST_GRACE_S = 1.0  # the host's deadline is the server's plus this
T = TypeVar("T")


@dataclass
class _Live:
    container: MechanismContainer
    history: HistoryFeed  # what its worker holds of the history


class ContainerHost:
    """`MechanismHost` whose mechanisms live in hardened containers, one each."""

    kind = "container"

    def __init__(self, run_id: str, *, call_limit_s: float = DEFAULT_CALL_LIMIT_S,
                 load_limit_s: float = LOAD_LIMIT_S, client: docker.DockerClient | None = None,
                 image: str | None = None, gpu: bool = False, limits: BoxLimits | None = None,
                 command: list[str] | None = None, incremental_history: bool = True,
                 max_return_bytes: int = MAX_RETURN_BYTES, llm_service: LlmService | None = None) -> None:
        self.run_id = run_id
        self.llm_service = llm_service
        self.call_limit_s = call_limit_s
        self.load_limit_s = load_limit_s
        self.image = image
        self.gpu = gpu
        self.limits = limits or HOST_LIMITS
        self.command = command or guest_command(HOST_SERVER_MODULE)
        self.incremental_history = incremental_history
        self.max_return_bytes = max_return_bytes
        self.containers_started = 0
        self._client = client
        self._own_client = client is None
        self._ready: tuple[str, bool] | None = None  # (image, use GPU), once the engine has been checked
        self._live: dict[str, _Live] = {}

    # ---- MechanismHost ----------------------------------------------------------------------------
    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        self.unload(mech_id)  # loaded again: a fresh container
        try:
            text = source.text()
        except UnicodeDecodeError:
            raise HookFailure(mech_id, "load", "invalid", "the source is not valid UTF-8") from None
        self._live[mech_id] = _Live(self._start(mech_id), HistoryFeed(self.incremental_history))
        request = {"op": "load", "mech": mech_id, "source": text, "state_json": state_json,
                   "limit_s": self.load_limit_s, "call_limit_s": self.call_limit_s}
        try:
            # the server spends up to: import + MECHANISM() (load limit each) + load_state_dict (call limit)
            reply = self._exchange(mech_id, "load", request, None, 2 * self.load_limit_s + self.call_limit_s)
            return replies.loaded(mech_id, reply)
        except HookFailure:
            self.unload(mech_id)  # the import, MECHANISM() or load_state_dict failed: nothing to keep
            raise

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        live = self._require(mech_id, hook)
        bridge = LlmBridge(self.llm_service, mech_id, hook)

        def send(request: dict[str, Any], limit_s: float) -> dict[str, Any]:
            payload = json.dumps(request, separators=(",", ":")).encode()
            header = {"op": "call", "mech": mech_id, "hook": hook, "limit_s": limit_s}
            return self._exchange(mech_id, hook, header, payload, limit_s, on_llm=bridge)

        reply = live.history.call(send, hook, ctx, seed, args, self.call_limit_s)
        return self._decoded(mech_id, lambda: replies.hook_value(mech_id, hook, reply, self.max_return_bytes))

    def state_json(self, mech_id: str) -> str:
        self._require(mech_id, "state_dict")
        request = {"op": "state_dict", "mech": mech_id, "limit_s": self.call_limit_s}
        reply = self._exchange(mech_id, "state_dict", request, None, self.call_limit_s)
        return self._decoded(mech_id, lambda: replies.state_text(mech_id, reply))

    def unload(self, mech_id: str) -> None:
        live = self._live.pop(mech_id, None)
        if live is not None:
            live.container.discard()

    def close(self) -> None:
        for mech_id in list(self._live):
            self.unload(mech_id)
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    # ---- for tests, health checks and benchmarks ----------------------------------------------------
    def ping(self, mech_id: str) -> float:
        """Seconds for one round trip to a mechanism's server (the mechanism itself not involved)."""
        self._require(mech_id, "ping")
        started = time.perf_counter()
        self._exchange(mech_id, "ping", {"op": "ping"}, None, self.call_limit_s, worker_answer=False)
        return time.perf_counter() - started

    def container_name(self, mech_id: str) -> str | None:
        live = self._live.get(mech_id)
        return None if live is None else live.container.name

    # ---- requests -----------------------------------------------------------------------------------
    def _require(self, mech_id: str, hook: str) -> _Live:
        live = self._live.get(mech_id)
        if live is None:
            raise HookFailure(mech_id, hook, "died", "the mechanism is not loaded")
        return live

    def _exchange(self, mech_id: str, hook: str, request: dict[str, Any], payload: bytes | None, limit_s: float,
                  *, worker_answer: bool = True, on_llm: LlmBridge | None = None) -> dict[str, Any]:
        """One request to the mechanism's server and the worker's reply, decoded; on any fault the
        container is removed and HookFailure names the mechanism (EvolveError when it was the
        Docker engine that went away). A failure while answering a ctx.llm request (`on_llm`) removes
        the container as well: its worker waits for an answer that will not come."""
        live = self._require(mech_id, hook)
        try:
            envelope, answer = live.container.exchange(request, payload, limit_s + HOST_GRACE_S, on_llm)
        except ChannelFault as fault:
            if not self._engine_answers():  # the engine went away, not the mechanism: blame nobody
                self.unload(mech_id)
                raise EvolveError(
                    f"the Docker engine stopped answering during {hook} ({fault.reason})",
                    "start the engine again (scripts/install-docker.sh), then `evolve resume` the run") from None
            reason = fault.reason + (live.container.exit_detail() if fault.kind == "died" else "")
            self.unload(mech_id)
            raise HookFailure(mech_id, hook, fault.kind, reason) from None
        except BaseException:  # from answering a ctx.llm request: the mechanism's fault or the run's
            self.unload(mech_id)
            raise
        if not envelope["ok"]:  # the server already killed the worker
            self.unload(mech_id)
            raise HookFailure(mech_id, hook, envelope["kind"], envelope["reason"])
        if not worker_answer:
            return envelope
        return self._decoded(mech_id, lambda: replies.worker_reply(mech_id, hook, answer))

    def _decoded(self, mech_id: str, decode: Callable[[], T]) -> T:
        """decode(); a garbage reply means the worker's channel is out of step, so its container goes."""
        try:
            return decode()
        except HookFailure as failure:
            if failure.kind == "garbage":
                self.unload(mech_id)
            raise

    def _engine_answers(self) -> bool:
        try:
            return self._client is not None and bool(self._client.ping())
        except Exception:  # any failure to answer means no
            return False

    # ---- the containers -----------------------------------------------------------------------------
    def _start(self, mech_id: str) -> MechanismContainer:
        try:
            client = self._client = self._client or connect()
            if self._ready is None:
                image = self.image or image_name()
                require_image(client, image)
                use_gpu = gpu_support.resolve(client, True)[0] if self.gpu else False
                sweep_once(client)
                self._ready = (image, use_gpu)
            image, use_gpu = self._ready
            container = MechanismContainer(client, image=image, command=self.command, limits=self.limits,
                                           use_gpu=use_gpu, run_id=self.run_id, mech_id=mech_id)
        except (DockerException, requests.exceptions.RequestException) as exc:
            raise EvolveError(f"the Docker engine could not start a mechanism's container: {exc}",
                              "check `docker info`; restart the engine, then `evolve resume` the run") from None
        try:
            container.start(self.load_limit_s)
        except (DockerException, requests.exceptions.RequestException) as exc:
            container.discard()
            raise EvolveError(f"the Docker engine could not start a mechanism's container: {exc}",
                              "check `docker info`; restart the engine, then `evolve resume` the run") from None
        except ChannelFault as fault:
            detail = container.exit_detail()
            container.discard()
            raise EvolveError(f"a mechanism's container did not come up: {fault.reason}{detail}",
                              "run `evolve check` on a known-good mechanism to test the sandbox image; "
                              "rebuild it with scripts/build-image.sh") from None
        except BaseException:
            container.discard()
            raise
        self.containers_started += 1
        return container
