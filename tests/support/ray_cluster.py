"""A real two-node Ray cluster on loopback for the tests: a head and a worker node, each started with
`ray start ... --block` in its own process group, so that the test can kill one node whole.

Ray rewrites 127.0.0.1 given as a node address into the machine's outward address (multi-node
clusters refuse a loopback one), but not the rest of 127.0.0.0/8: the head is 127.0.0.2 and the
worker 127.0.0.3, so every address the nodes advertise and use is a loopback one. (Ray's own gRPC
servers still bind all interfaces; Ray has no option to change that.) The cluster uses Ray's token
authentication with a token of its own: `RayCluster.env` is what a driver needs to connect.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
START_TIMEOUT_S = 180.0
# Find a dead node in about three seconds, not thirty (the head's health checks of its nodes).
FAST_FAILURE_DETECTION = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                          "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "2"}


def require_ray() -> None:
    """Ray tests fail, not skip, on CI (it must install the ray extra); elsewhere they skip without ray."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed: CI must install the ray extra (scripts/_env.sh EXTRAS)")
        pytest.skip("ray is not installed (pip install 'bilevel-evolve[ray]')")


def _ray_cli() -> str:
    return str(Path(sys.executable).parent / "ray")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class RayNode:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """The node dies at once with everything it runs, as a machine that goes down: its process group
        and every process descended from it (Ray's workers, and the trials they started in sessions of
        their own)."""
        doomed = self._descendants()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def _descendants(self) -> list[int]:
        table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split("\n")
        children: dict[int, list[int]] = {}
        for row in table:
            if row.split():
                pid, ppid = map(int, row.split())
                children.setdefault(ppid, []).append(pid)
        found, todo = [], [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def raylet_pids(self) -> set[int]:
        pids = subprocess.run(["ps", "-o", "pid=,comm=", "-g", str(self.proc.pid)], capture_output=True, text=True)
        return {int(line.split()[0]) for line in pids.stdout.splitlines() if line.split()[1:] == ["raylet"]}


@dataclass
class RayCluster:
    address: str
    head: RayNode
    worker: RayNode
    env: dict[str, str]  # the authentication a driver needs (RAY_AUTH_MODE, RAY_AUTH_TOKEN)

    def alive_nodes(self) -> int:
        code = (f"import ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, **self.env})
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


def _start(args: list[str], log: Path, env: dict[str, str]) -> RayNode:
    fh = log.open("wb")
    proc = subprocess.Popen([_ray_cli(), "start", *args, "--disable-usage-stats", "--block"], stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    return RayNode(proc, log)


@contextlib.contextmanager
def two_node_cluster(head_cpus: int = 1, worker_cpus: int = 2) -> Iterator[RayCluster]:
    require_ray()
    temp = Path(tempfile.mkdtemp(prefix="evr", dir="/tmp"))  # short: Ray's socket paths must stay short
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, **FAST_FAILURE_DETECTION, **auth}
    port = _free_port(HEAD_IP)
    address = f"{HEAD_IP}:{port}"
    head = _start(["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", f"--num-cpus={head_cpus}",
                   "--include-dashboard=false", f"--temp-dir={temp / 'ray'}"], temp / "head.log", env)
    worker: RayNode | None = None
    try:
        _wait_for_port(HEAD_IP, port, head)
        worker = _start([f"--address={address}", f"--node-ip-address={WORKER_IP}", f"--num-cpus={worker_cpus}"],
                        temp / "worker.log", env)
        cluster = RayCluster(address, head, worker, auth)
        deadline = time.monotonic() + START_TIMEOUT_S
        while cluster.alive_nodes() < 2:
            if worker.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray worker node did not join:\n{(temp / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield cluster
    finally:
        for node in (worker, head):
            if node is not None:
                node.kill()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(host: str, port: int, node: RayNode) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
            return
        if node.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the Ray head did not start:\n{node.log.read_text()[-3000:]}")
        time.sleep(0.2)
