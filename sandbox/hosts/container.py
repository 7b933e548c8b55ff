"""The default mechanism host: one long-lived hardened container per run holds the active mechanisms.

    host = ContainerHost(run_id="r1")
    host.load(mech_id, source, state_json=None)     # starts the container on first use
    host.call(mech_id, "observe", ctx_json, seed, {"trial": {...}})
    host.state_json(mech_id); host.unload(mech_id); host.close()

The container has exactly the smoke-test box's confinement (`bilevel_evolve.sandbox.container_spec`) and runs
`sandbox/guest/host_server.py`, which keeps one worker process per mechanism. Requests and
replies are JSON lines over the container's stdin/stdout (the Docker attach socket). Every
exchange has two deadlines: the server's on the worker, and a slightly larger one here. Each
worker keeps the history; a call carries only the trials it lacks (`sandbox/hosts/history.py`),
and a worker started afresh (a load, a reload after a restart) gets the whole history once.

Faults, from the caller's point of view (`HookFailure.kind`), and what the host does:
- the worker stalls, dies (e.g. OOM-killed: workers are the OOM killer's first victims) or answers
  garbage: timeout / died / garbage for that call; the server kills that worker, the others go on;
- the server itself stops answering, the container dies, or the channel carries garbage: the
  mechanism being called is the offender (timeout / died / garbage); the container is replaced by a
  fresh one and every other mechanism is reloaded from its last known state, i.e. the state it was
  loaded with or the last `state_json` returned — the engine checkpoints after every iteration, so
  that is the state of the last checkpointed iteration. A mechanism that cannot be reloaded fails
  its next call with "died".
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import DockerException

from bilevel_evolve.ground.contract.interface import HOOKS, STATE_HOOKS
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox import gpu as gpu_support
from bilevel_evolve.sandbox.container_spec import BoxLimits, hardened_settings
from bilevel_evolve.sandbox.hosts.base import DEFAULT_CALL_LIMIT_S, LOAD_LIMIT_S, HookFailure, Loaded, decode_reply
from bilevel_evolve.sandbox.hosts.channel import Channel, ChannelFault, parse_envelope
from bilevel_evolve.sandbox.hosts.history import HistoryFeed
from bilevel_evolve.sandbox.image import HOST_SERVER_MODULE, connect, guest_command, image_name, require_image
from bilevel_evolve.sandbox.lifecycle import REGISTRY, sweep_once

HOST_LIMITS = BoxLimits(memory_mb=2048, pids=256, tmpfs_mb=64)  # several workers, each maybe with torch
HOST_GRACE_S = 1.0  # the host's deadline is the server's plus this
KNOWN_HOOKS = frozenset(HOOKS + STATE_HOOKS)


@dataclass
class _Kept:
    """What the host needs to bring a mechanism back in a fresh container."""

    source: MechanismSource
    state_json: str | None
    history: HistoryFeed  # what its current worker holds of the history


class ContainerHost:
    """`MechanismHost` whose mechanisms live in one hardened container per run."""

    kind = "container"

    def __init__(self, run_id: str, *, call_limit_s: float = DEFAULT_CALL_LIMIT_S,
                 load_limit_s: float = LOAD_LIMIT_S, client: docker.DockerClient | None = None,
                 image: str | None = None, gpu: bool = False, limits: BoxLimits | None = None,
                 command: list[str] | None = None, incremental_history: bool = True) -> None:
        self.run_id = run_id
        self.call_limit_s = call_limit_s
        self.load_limit_s = load_limit_s
        self.image = image
        self.gpu = gpu
        self.limits = limits or HOST_LIMITS
        self.command = command or guest_command(HOST_SERVER_MODULE)
        self.incremental_history = incremental_history
        self.restarts = 0  # containers replaced after a fault
        self.container_name: str | None = None
        self._client = client
        self._own_client = client is None
        self._container_id: str | None = None
        self._channel: Channel | None = None
        self._kept: dict[str, _Kept] = {}  # in load order
        self._lost: dict[str, str] = {}  # mechanisms a restart could not bring back, and why
        self._next_id = 0
        self._restart_due = False

    # ---- MechanismHost ----------------------------------------------------------------------------
    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        self._kept.pop(mech_id, None)
        self._lost.pop(mech_id, None)
        try:
            loaded = self._load(mech_id, source, state_json)
        finally:
            self._settle()
        self._kept[mech_id] = _Kept(source, state_json, HistoryFeed(self.incremental_history))
        return loaded

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        try:
            self._require_loaded(mech_id, hook)
            reply = self._kept[mech_id].history.call(
                lambda request, limit_s: self._call_worker(mech_id, hook, request, limit_s),
                hook, ctx, seed, args, self.call_limit_s)
            return self._checked(mech_id, hook, reply)
        finally:
            self._settle()

    def state_json(self, mech_id: str) -> str:
        try:
            reply = self._ask(mech_id, "state_dict", {"op": "state_dict", "mech": mech_id,
                                                      "limit_s": self.call_limit_s})
            if "unencodable" in reply:
                raise HookFailure(mech_id, "state_dict", "invalid", f"returned {str(reply['unencodable'])[:300]}")
            self._checked(mech_id, "state_dict", reply)
            text = str(reply["value_json"])
            if mech_id in self._kept:
                self._kept[mech_id].state_json = text
            return text
        finally:
            self._settle()

    def unload(self, mech_id: str) -> None:
        self._kept.pop(mech_id, None)
        self._lost.pop(mech_id, None)
        if self._channel is None:
            return
        try:
            self._exchange({"op": "unload", "mech": mech_id}, None, self.call_limit_s, mech_id, "unload")
        except HookFailure:
            pass  # gone either way
        finally:
            self._settle()

    def ping(self) -> float:
        """Seconds for one round trip to the in-container server (no mechanism involved); starts the
        container when needed. For health checks and benchmarks."""
        started = time.perf_counter()
        try:
            self._exchange({"op": "ping"}, None, self.call_limit_s, "", "ping")
        finally:
            self._settle()
        return time.perf_counter() - started

    def close(self) -> None:
        self._kept.clear()
        self._lost.clear()
        self._restart_due = False
        self._discard_container()
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    # ---- requests -----------------------------------------------------------------------------------
    def _load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        try:
            text = source.text()
        except UnicodeDecodeError:
            raise HookFailure(mech_id, "load", "invalid", "the source is not valid UTF-8") from None
        request = {"op": "load", "mech": mech_id, "source": text, "state_json": state_json,
                   "limit_s": self.load_limit_s, "call_limit_s": self.call_limit_s}
        # the server spends up to: import + MECHANISM() (load limit each) + load_state_dict (call limit)
        reply = self._exchange(request, None, 2 * self.load_limit_s + self.call_limit_s, mech_id, "load")
        if reply.get("ok") is not True:
            _value(mech_id, "load", reply)  # raises: the import, MECHANISM() or load_state_dict failed
        hooks = reply.get("hooks")
        if not (isinstance(reply.get("class"), str) and isinstance(reply.get("name"), str)
                and isinstance(hooks, list) and all(isinstance(h, str) and h in KNOWN_HOOKS for h in hooks)):
            self._drop_in_server(mech_id)
            raise HookFailure(mech_id, "load", "garbage", "the worker's answer to import is malformed")
        return Loaded(reply["class"], reply["name"], tuple(hooks))

    def _call_worker(self, mech_id: str, hook: str, request: dict[str, Any], limit_s: float) -> dict[str, Any]:
        payload = json.dumps(request, separators=(",", ":")).encode()
        return self._ask(mech_id, hook, {"op": "call", "mech": mech_id, "hook": hook, "limit_s": limit_s}, payload)

    def _ask(self, mech_id: str, hook: str, request: dict[str, Any], payload: bytes | None = None) -> dict[str, Any]:
        self._require_loaded(mech_id, hook)
        return self._exchange(request, payload, float(request["limit_s"]), mech_id, hook)

    def _require_loaded(self, mech_id: str, hook: str) -> None:
        if mech_id in self._lost:
            raise HookFailure(mech_id, hook, "died", self._lost[mech_id])
        if mech_id not in self._kept:
            raise HookFailure(mech_id, hook, "died", "the mechanism is not loaded")

    def _exchange(self, request: dict[str, Any], payload: bytes | None, limit_s: float, mech_id: str,
                  hook: str) -> dict[str, Any]:
        """Send one request (header, then the worker's payload) and return the worker's reply;
        HookFailure (and a due restart, when the channel itself failed) otherwise."""
        channel = self._ensure_started()
        self._next_id += 1
        request_id = self._next_id
        deadline = time.monotonic() + limit_s + HOST_GRACE_S
        try:
            header = json.dumps({"id": request_id, **request}, separators=(",", ":")).encode()
            channel.send(header + (b"\t" + payload if payload is not None else b"") + b"\n", deadline)
            envelope, answer = parse_envelope(channel.read_line(deadline), request_id)
        except ChannelFault as fault:
            if not self._engine_answers():  # the engine went away, not the mechanism: blame nobody
                self._discard_container()
                raise EvolveError(
                    f"the Docker engine stopped answering during {hook} ({fault.reason})",
                    "start the engine again (scripts/install-docker.sh), then `evolve resume` the run") from None
            reason = fault.reason + (self._exit_detail() if fault.kind == "died" else "")
            self._discard_container()
            self._kept.pop(mech_id, None)  # the offender is not brought back
            self._restart_due = True
            raise HookFailure(mech_id, hook, fault.kind, reason) from None
        if not envelope["ok"]:  # the server already killed that mechanism's worker
            self._kept.pop(mech_id, None)
            raise HookFailure(mech_id, hook, envelope["kind"], envelope["reason"])
        try:  # the worker's own line: mechanism code could have written it
            reply = json.loads(answer)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self._drop_in_server(mech_id)
            raise HookFailure(mech_id, hook, "garbage", "the mechanism's worker sent a reply that is not a JSON "
                              "object")
        return reply

    def _engine_answers(self) -> bool:
        try:
            return self._client is not None and bool(self._client.ping())
        except Exception:  # any failure to answer means no
            return False

    def _checked(self, mech_id: str, hook: str, reply: dict[str, Any]) -> Any:
        try:
            return _value(mech_id, hook, reply)
        except HookFailure as failure:
            if failure.kind == "garbage":  # its worker's channel is out of step: kill it
                self._drop_in_server(mech_id)
            raise

    def _drop_in_server(self, mech_id: str) -> None:
        self._kept.pop(mech_id, None)
        with contextlib.suppress(HookFailure):
            self._exchange({"op": "unload", "mech": mech_id}, None, self.call_limit_s, mech_id, "unload")

    def _settle(self) -> None:
        """After a channel fault: a fresh container with every remaining mechanism reloaded."""
        while self._restart_due:
            self._restart_due = False
            pending = list(self._kept.items())
            if pending:
                self.restarts += 1
            for mech_id, kept in pending:
                try:
                    self._load(mech_id, kept.source, kept.state_json)
                    kept.history = HistoryFeed(self.incremental_history)  # a fresh worker holds nothing
                except HookFailure as failure:
                    self._kept.pop(mech_id, None)
                    self._lost[mech_id] = ("lost when the mechanism host container was replaced: it could not be "
                                           f"reloaded ({failure.hook} {failure.kind}: {failure.reason})")
                    if self._restart_due:
                        break  # that reload broke the new container too: start over without it

    # ---- the container ------------------------------------------------------------------------------
    def _ensure_started(self) -> Channel:
        if self._channel is not None:
            return self._channel
        try:
            self._start()
        except (DockerException, requests.exceptions.RequestException) as exc:
            self._discard_container()
            raise EvolveError(f"the Docker engine could not start the mechanism host: {exc}",
                              "check `docker info`; restart the engine, then `evolve resume` the run") from None
        except BaseException:
            self._discard_container()
            raise
        assert self._channel is not None
        return self._channel

    def _start(self) -> None:
        if self._client is None:
            self._client = connect()
        client = self._client
        image = self.image or image_name()
        require_image(client, image)
        use_gpu = gpu_support.resolve(client, True)[0] if self.gpu else False
        sweep_once(client)
        settings = hardened_settings(image=image, command=self.command, kind="host", limits=self.limits,
                                     use_gpu=use_gpu, name_tag=self.run_id, stdin=True)
        container = client.containers.create(**settings)
        self._container_id = str(container.id)
        REGISTRY.add(self._container_id)
        self.container_name = settings["name"]
        sock = client.api.attach_socket(self._container_id, params={"stdin": 1, "stdout": 1, "stream": 1})
        self._channel = Channel(sock)
        container.start()
        deadline = time.monotonic() + self.load_limit_s
        try:
            self._channel.send(b'{"id":0,"op":"ping"}\n', deadline)
            envelope, _ = parse_envelope(self._channel.read_line(deadline), 0)
        except ChannelFault as fault:
            detail = self._exit_detail()
            raise EvolveError(f"the mechanism host container did not come up: {fault.reason}{detail}",
                              "run `evolve check` on a known-good mechanism to test the sandbox image; "
                              "rebuild it with scripts/build-image.sh") from None
        if not envelope["ok"]:
            raise EvolveError(f"the mechanism host container answered its ping with {envelope['reason']}",
                              "rebuild the sandbox image with scripts/build-image.sh")

    def _exit_detail(self) -> str:
        if self._client is None or self._container_id is None:
            return ""
        with contextlib.suppress(Exception):
            self._client.api.wait(self._container_id, timeout=3)
        try:
            state = self._client.api.inspect_container(self._container_id)["State"]
        except DockerException:
            return ""
        if state.get("Running"):
            return ""
        oom = "; the container ran out of memory" if state.get("OOMKilled") else ""
        return f" (the container exited with code {state.get('ExitCode')}{oom})"

    def _discard_container(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._container_id is not None and self._client is not None:
            with contextlib.suppress(DockerException):
                self._client.api.remove_container(self._container_id, force=True)
            REGISTRY.discard(self._container_id)
        self._container_id = None


def _value(mech_id: str, hook: str, reply: dict[str, Any]) -> Any:
    """The JSON-decoded value of a worker reply. The worker runs mechanism code, so its reply is
    checked like any other untrusted input."""
    ok = reply.get("ok")
    if ok is False:
        return decode_reply(mech_id, hook, {"ok": False, "error": str(reply.get("error", "an error"))[:1000],
                                            "where": str(reply.get("where", ""))[:200]})
    if ok is not True or not isinstance(reply.get("value_json", ""), str):
        raise HookFailure(mech_id, hook, "garbage", "the mechanism's worker sent a malformed reply")
    if "unencodable" in reply:
        raise HookFailure(mech_id, hook, "invalid", f"returned {str(reply['unencodable'])[:300]}, which is not "
                          "JSON data")
    try:
        return json.loads(reply["value_json"]) if "value_json" in reply else None
    except ValueError:
        raise HookFailure(mech_id, hook, "garbage", "the mechanism's worker sent a value that is not JSON") from None
