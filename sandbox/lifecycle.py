"""No container outlives its engine: labels, a registry, signal-time cleanup and an orphan sweep.

Every container carries the owning engine's identity (host, pid and the pid's start time, so a
recycled pid is not mistaken for a live owner). The sweep removes only containers whose owner is
gone, so two engines sharing a Docker daemon never remove each other's containers.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

LABEL_OWNER = "bilevel-evolve.owner"
LABEL_HOST = "bilevel-evolve.host"
LABEL_PID = "bilevel-evolve.pid"
LABEL_PID_START = "bilevel-evolve.pid-start"
LABEL_KIND = "bilevel-evolve.kind"
LABEL_MECHANISM = "bilevel-evolve.mechanism"  # on a live mechanism's container: the mechanism it holds
OWNER_VALUE = "bilevel-evolve"
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _pid_start(pid: int) -> str:
    """The kernel's start time of pid (clock ticks since boot), '' when the pid does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def owner_labels(kind: str) -> dict[str, str]:
    pid = os.getpid()
    return {
        LABEL_OWNER: OWNER_VALUE, LABEL_HOST: socket.gethostname(), LABEL_PID: str(pid),
        LABEL_PID_START: _pid_start(pid), LABEL_KIND: kind,
    }


def owner_alive(labels: dict[str, str]) -> bool:
    """Is the engine that created a container with these labels still running? Unknown means yes."""
    if labels.get(LABEL_HOST) != socket.gethostname():
        return True  # another machine's engine: not ours to judge
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return False
    start = _pid_start(pid)
    return bool(start) and start == labels.get(LABEL_PID_START, start)


def sweep_orphans(client: docker.DockerClient) -> list[str]:
    """Remove our-labelled containers whose owning engine is dead; returns their names."""
    removed = []
    # The low-level listing carries the labels: no per-container inspect that could race with
    # another engine removing its own container mid-listing.
    for info in client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={OWNER_VALUE}"}):
        if owner_alive(info.get("Labels") or {}):
            continue
        try:
            client.api.remove_container(info["Id"], force=True)
        except NotFound:
            continue
        except APIError as exc:
            if exc.status_code == 409:  # another engine's sweep is removing this orphan right now
                continue
            raise
        removed.append((info.get("Names") or [info["Id"][:12]])[0].lstrip("/"))
    return removed


class Registry:
    """Containers this process owns right now, by name; removed on SIGINT/SIGTERM/SIGHUP and at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._installed = False
        self._previous: dict[int, Any] = {}

    def add(self, container: str) -> None:
        with self._lock:
            self._names.add(container)
        self._install()

    def discard(self, container: str) -> None:
        with self._lock:
            self._names.discard(container)

    def live(self) -> set[str]:
        with self._lock:
            return set(self._names)

    def remove_all(self) -> None:
        names = self.live()
        if not names:
            return
        try:  # a fresh client: the interrupted thread may be inside a call on the shared one
            client = docker.from_env(timeout=10)
        except DockerException:
            return
        try:
            for container in names:
                remove_owned(client, container)
        finally:
            client.close()

    def _install(self) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._installed = True
        atexit.register(self.remove_all)
        for sig in HANDLED_SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.remove_all()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)  # e.g. Python's SIGINT handler raises KeyboardInterrupt
        elif previous == signal.SIG_IGN:
            return
        else:  # SIG_DFL: die of the signal, as the user asked
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


REGISTRY = Registry()
REMOVE_ATTEMPTS = 3
_ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)


def create_owned(client: docker.DockerClient, settings: dict[str, Any]) -> str:
    """Create a container this process owns; returns its id. It is registered by name before the
    call, so a create whose answer never came back (a busy engine past the client's timeout, while
    the engine made the container anyway) is still removed, now and again at exit."""
    name = str(settings["name"])
    REGISTRY.add(name)
    try:
        return str(client.containers.create(**settings).id)
    except BaseException:
        _remove(client, name)  # it stays registered: the engine may still be making it
        raise


def remove_owned(client: docker.DockerClient, name: str) -> bool:
    """Remove (killing it first) a container `create_owned` made, retrying through a busy engine.
    True once it is gone; False when the engine would not remove it, and then it stays registered,
    for the exit-time cleanup."""
    if _remove(client, name):
        REGISTRY.discard(name)
        return True
    return False


def _remove(client: docker.DockerClient, name: str) -> bool:
    for attempt in range(REMOVE_ATTEMPTS):
        try:
            client.api.remove_container(name, force=True)
            return True
        except NotFound:
            return True
        except _ENGINE_ERRORS:  # a timeout, or 409: a removal of it is already in progress
            if attempt + 1 < REMOVE_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
    return False


_sweep_lock = threading.Lock()
_swept: set[str] = set()


def sweep_once(client: docker.DockerClient) -> None:
    """Sweep orphans before this process's first container on an engine (the start-up sweep)."""
    key = str(client.api.base_url)
    with _sweep_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep_orphans(client)
