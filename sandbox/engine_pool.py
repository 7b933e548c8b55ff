"""The Docker engines an ablation's runs are spread over (`evolve ablate --docker-host URL#slots=N`).

Each engine has its own slots (runs at once) and, optionally, GPU ids pinned to its slots. A run
is started with DOCKER_HOST=<its engine> in its environment, so everything it does in Docker (smoke
tests, its mechanism host container) lands there. Engines are pinged before any work is assigned
and while runs are in flight; one that stops answering is lost: its runs are resumed elsewhere and
it is pinged again after a backoff (5 s, doubling up to 60 s) and rejoins the pool when it answers.

Without `--docker-host` there is one implicit engine: the environment's own (no DOCKER_HOST is
set for the children), `--workers` slots, never pinged, never lost; exactly the single-engine
behaviour.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException
from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.ground.errors import EvolveError, UsageError

PING_TIMEOUT_S = 3.0
HEALTH_EVERY_S = 2.0
BACKOFF_FIRST_S, BACKOFF_MAX_S = 5.0, 60.0
ASSIGNMENTS_FILE = "engines.jsonl"
SCHEMES = ("unix", "tcp", "ssh")
START_ONE_FIX = ("start one of them (`bash scripts/install-docker.sh` on its machine, or `bash "
                 "scripts/second-engine.sh start DIR` for a local extra engine) or pass another --docker-host, "
                 "then repeat the same command: finished runs are kept and the others resume")


class EngineSpec(BaseModel):
    """One `--docker-host` value: `URL[#slots=N][,gpus=0+1]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None  # None: the environment's engine, DOCKER_HOST left as it is
    slots: int = Field(ge=1, le=256)
    gpus: tuple[str, ...] = ()  # slot i gets gpus[i % len(gpus)] as CUDA_VISIBLE_DEVICES

    @property
    def label(self) -> str:
        return self.url or os.environ.get("DOCKER_HOST") or "default engine"


def parse_engine(text: str, default_slots: int) -> EngineSpec:
    """`unix:///run/d2.sock`, `tcp://gpu-box:2375#slots=2`, `ssh://me@gpu-box#slots=4,gpus=0+1+2+3`."""
    url, _, fragment = text.strip().partition("#")
    parts = urlsplit(url)
    bad = f"--docker-host {text!r}"
    if parts.scheme not in SCHEMES:
        raise UsageError(f"{bad}: the URL must start with unix://, tcp:// or ssh://",
                         "e.g. --docker-host unix:///var/run/docker.sock or tcp://gpu-box:2375#slots=2")
    if parts.scheme == "unix" and not parts.path:
        raise UsageError(f"{bad}: no socket path", "e.g. unix:///var/run/docker.sock")
    if parts.scheme in ("tcp", "ssh") and not parts.hostname:
        example = "tcp://gpu-box:2375" if parts.scheme == "tcp" else "ssh://me@gpu-box"
        raise UsageError(f"{bad}: no host", f"e.g. {example}")
    if parts.scheme == "tcp" and parts.port is None:
        raise UsageError(f"{bad}: no port", "e.g. tcp://gpu-box:2375 (2376 with TLS)")
    if parts.scheme == "ssh" and importlib.util.find_spec("paramiko") is None:
        raise UsageError(f"{bad}: ssh engines need paramiko, which the Docker SDK uses for ssh://",
                         "pip install 'docker[ssh]'")
    options: dict[str, str] = {}
    for item in filter(None, fragment.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in ("slots", "gpus") or not value:
            raise UsageError(f"{bad}: unknown option {item!r}", "options are #slots=N and gpus=ID+ID, e.g. "
                             f"{url}#slots=2,gpus=0+1")
        options[key] = value
    gpus = tuple(g for g in options.get("gpus", "").split("+") if g)
    try:
        slots = int(options.get("slots") or (len(gpus) if gpus else default_slots))
        return EngineSpec(url=url, slots=slots, gpus=gpus)
    except ValueError:
        raise UsageError(f"{bad}: slots must be a whole number from 1 to 256", f"e.g. {url}#slots=2") from None


def parse_engines(values: list[str] | None, workers: int) -> list[EngineSpec]:
    if not values:
        return [EngineSpec(url=None, slots=workers)]
    specs = [parse_engine(v, workers) for v in values]
    urls = [s.url for s in specs]
    twice = sorted({u for u in urls if urls.count(u) > 1 and u})
    if twice:
        raise UsageError(f"--docker-host {twice[0]} given twice", "give each engine once, with #slots=N")
    return specs


def client_for(url: str | None, timeout_s: float) -> docker.DockerClient:
    """A client made exactly as a child run makes its own (`docker.from_env`, so DOCKER_TLS_VERIFY and
    DOCKER_CERT_PATH apply alike), pointed at `url`."""
    environment = dict(os.environ) if url is None else {**os.environ, "DOCKER_HOST": url}
    # the stub says timeout: int; docker hands it to requests, which takes float seconds
    return docker.from_env(timeout=timeout_s, environment=environment)  # type: ignore[arg-type]


def ping(url: str | None, timeout_s: float = PING_TIMEOUT_S) -> str | None:
    """None when the engine answers within timeout_s, else why not (one line)."""
    client = None
    try:
        client = client_for(url, timeout_s)
        client.ping()
        return None
    except Exception as exc:  # requests, paramiko and socket errors all mean "no answer"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return text[:200]
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


@dataclass(eq=False)  # identity: one object per engine
class Engine:
    spec: EngineSpec
    busy: set[int] = field(default_factory=set)  # slot indices with a run on them
    lost_reason: str | None = None
    retry_at: float = 0.0
    backoff_s: float = BACKOFF_FIRST_S
    gpu: str = ""  # what bilevel_evolve.sandbox.gpu found ("" until probed)
    answered_at: float = -1e9  # monotonic time of its last answered ping

    @property
    def alive(self) -> bool:
        return self.lost_reason is None

    def free_slot(self) -> int | None:
        return next((i for i in range(self.spec.slots) if i not in self.busy), None)


@dataclass(frozen=True)
class Slot:
    engine: Engine
    index: int

    def environment(self) -> dict[str, str]:
        """What the child run gets on top of this process's environment."""
        env: dict[str, str] = {}
        if self.engine.spec.url is not None:
            env["DOCKER_HOST"] = self.engine.spec.url
        gpus = self.engine.spec.gpus
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[self.index % len(gpus)]
        return env

    def describe(self) -> dict[str, Any]:
        env = self.environment()
        return {"engine": self.engine.spec.label, "slot": self.index, "gpu": env.get("CUDA_VISIBLE_DEVICES")}


class EnginePool:
    """Slots over engines; `acquire` prefers the engine with the most free slots (spreads runs)."""

    def __init__(self, specs: list[EngineSpec], log: Path | None = None) -> None:
        self.engines = [Engine(s) for s in specs]
        self.log = log
        self.image: str | None = None  # the sandbox image every engine must hold, once check() knows it
        self._next_health = 0.0

    @property
    def explicit(self) -> bool:
        """Engines named with --docker-host (pinged, can be lost); False for the implicit default."""
        return any(e.spec.url is not None for e in self.engines)

    # ---- before any work ---------------------------------------------------------------------------
    def check(self, *, image: str | None = None) -> list[str]:
        """Ping every named engine, drop those that do not answer (returns warnings), raise when none
        does; with `image`, each answering engine must hold it. Probes each engine's GPU support."""
        if not self.explicit:
            return []
        from bilevel_evolve.sandbox import gpu
        from bilevel_evolve.sandbox.image import require_image

        self.image = image
        warnings = []
        for engine in self.engines:
            why = ping(engine.spec.url)
            if why is not None:
                self._lose(engine, why)
                warnings.append(f"engine {engine.spec.label} does not answer ({why}); left out for now")
                continue
            engine.answered_at = time.monotonic()
            client = client_for(engine.spec.url, 30.0)
            try:
                if image is not None:
                    try:
                        require_image(client, image)
                    except EvolveError as exc:
                        raise EvolveError(f"engine {engine.spec.label}: {exc.problem}",
                                          f"copy it there: docker save {image} | DOCKER_HOST={engine.spec.url} "
                                          "docker load") from None
                support = gpu.probe(client)
                engine.gpu = support.how if support.available else "none"
                if engine.spec.gpus and not support.available:
                    warnings.append(f"engine {engine.spec.label} pins gpus {'+'.join(engine.spec.gpus)} but has no "
                                    f"NVIDIA runtime ({support.how}): only the runs' own processes see them")
                remote = _remote_name(client)
                if remote:
                    warnings.append(f"engine {engine.spec.label} runs on {remote}: its containers bind-mount this "
                                    "checkout's sandbox files and each run's mechanism files by path, so that machine "
                                    "must see them at the same paths (a shared filesystem); see docs/scaling.md")
            finally:
                client.close()
        if not any(e.alive for e in self.engines):
            raise self.none_answers()
        return warnings

    def record_pool(self) -> None:
        self._record({"event": "pool", "engines": [self._state(e) for e in self.engines]})

    # ---- scheduling --------------------------------------------------------------------------------
    def acquire(self) -> Slot | None:
        """A free slot on an answering engine (pinged first unless it answered in the last
        HEALTH_EVERY_S), or None."""
        while True:
            candidates = [e for e in self.engines if e.alive and e.free_slot() is not None]
            if not candidates:
                return None
            engine = max(candidates, key=lambda e: e.spec.slots - len(e.busy))  # first such engine on ties
            if engine.spec.url is None or time.monotonic() - engine.answered_at < HEALTH_EVERY_S \
                    or self.answers(engine):
                break
        index = engine.free_slot()
        assert index is not None
        engine.busy.add(index)
        return Slot(engine, index)

    def release(self, slot: Slot) -> None:
        slot.engine.busy.discard(slot.index)

    def answers(self, engine: Engine) -> bool:
        """Ping a named engine now; a silent one is marked lost. The implicit engine always 'answers'."""
        if engine.spec.url is None:
            return True
        why = ping(engine.spec.url)
        if why is not None:
            if engine.alive:
                self._lose(engine, why)
            return False
        engine.answered_at = time.monotonic()
        return engine.alive

    def health_tick(self, in_flight: list[Engine]) -> list[Engine]:
        """Every HEALTH_EVERY_S: ping engines with runs in flight (returns the newly lost ones) and
        lost engines whose backoff is over (they rejoin when they answer)."""
        now = time.monotonic()
        if not self.explicit or now < self._next_health:
            return []
        self._next_health = now + HEALTH_EVERY_S
        newly_lost = [e for e in dict.fromkeys(in_flight) if e.alive and not self.answers(e)]
        for engine in self.engines:
            if not engine.alive and now >= engine.retry_at:
                self._retry(engine)
        return newly_lost

    def revive_any(self) -> bool:
        """Last try before giving up: ping every lost engine regardless of its backoff."""
        for engine in self.engines:
            if not engine.alive:
                self._retry(engine)
        return any(e.alive for e in self.engines)

    def none_answers(self) -> EvolveError:
        tried = "; ".join(f"{e.spec.label} ({e.lost_reason})" for e in self.engines)
        return EvolveError(f"no Docker engine answers: tried {tried}", START_ONE_FIX)

    # ---- the record in OUT/engines.jsonl -----------------------------------------------------------
    def record_start(self, slot: Slot, run: str, action: str, pid: int) -> None:
        self._record({"event": "run", "run": run, "action": action, "pid": pid, **slot.describe()})

    def record_requeue(self, slot: Slot, run: str, code: int | None) -> None:
        self._record({"event": "requeued", "run": run, "engine": slot.engine.spec.label, "exit": code})

    def _lose(self, engine: Engine, why: str) -> None:
        _back_off(engine, why)
        self._record({"event": "lost", "engine": engine.spec.label, "reason": why})

    def _retry(self, engine: Engine) -> None:
        why = ping(engine.spec.url)
        if why is None and self.image is not None:
            why = _missing_image(engine.spec.url, self.image)
        if why is None:
            engine.lost_reason = None
            engine.answered_at = time.monotonic()
            engine.backoff_s = BACKOFF_FIRST_S
            self._record({"event": "rejoined", "engine": engine.spec.label})
        else:
            _back_off(engine, why)

    @staticmethod
    def _state(engine: Engine) -> dict[str, Any]:
        return {"engine": engine.spec.label, "slots": engine.spec.slots, "gpus": list(engine.spec.gpus),
                "gpu_support": engine.gpu, "answers": engine.alive, "reason": engine.lost_reason}

    def _record(self, event: dict[str, Any]) -> None:
        if self.log is None or not self.explicit:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": round(time.time(), 3), **event}) + "\n")

    def describe(self) -> str:
        return ", ".join(f"{e.spec.label} ({e.spec.slots} slot{'s' if e.spec.slots > 1 else ''}"
                         f"{', gpu ' + e.gpu if e.gpu and e.gpu != 'none' else ''}"
                         f"{'' if e.alive else ', not answering'})" for e in self.engines)


def _back_off(engine: Engine, why: str) -> None:
    """Mark the engine lost for `why`; its next retry waits twice as long as the last (capped)."""
    engine.lost_reason = why
    engine.retry_at = time.monotonic() + engine.backoff_s
    engine.backoff_s = min(BACKOFF_MAX_S, engine.backoff_s * 2)


def _missing_image(url: str | None, image: str) -> str | None:
    """Why an engine that answers cannot take runs (no sandbox image), or None."""
    client = None
    try:
        client = client_for(url, PING_TIMEOUT_S)
        client.images.get(image)
        return None
    except Exception as exc:  # ImageNotFound, or the engine went again
        return f"no sandbox image {image}: {type(exc).__name__}"
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _remote_name(client: docker.DockerClient) -> str | None:
    """The engine's machine name when it is not this machine (None when it is, or unknown)."""
    try:
        name = str(client.info().get("Name") or "")
    except DockerException:
        return None
    return name if name and name != socket.gethostname() else None
