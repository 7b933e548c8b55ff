"""Nothing is left running: an engine interrupted with SIGTERM removes its mechanisms' containers; one
killed with SIGKILL leaves them for the sweep at the next start, which removes them all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from docker.errors import NotFound

pytestmark = pytest.mark.docker

ENGINE = textwrap.dedent("""
    import sys, time
    from bilevel_evolve.ground.contract.source import MechanismSource
    from bilevel_evolve.sandbox.hosts.container import ContainerHost
    host = ContainerHost("lifecycle", image=sys.argv[1])
    source = MechanismSource(b"class C:\\n    def guide(self, ctx):\\n        return None\\nMECHANISM = C\\n")
    host.load("counter", source, None)
    host.load("other", source, None)
    print(host.container_name("counter"), host.container_name("other"), flush=True)
    time.sleep(120)
""")


def _engine_with_a_host(image: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-c", ENGINE, image], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    assert proc.stdout is not None
    names = proc.stdout.readline().split()
    assert len(names) == 2 and all(n.startswith("bilevel-host-") for n in names), \
        f"the engine did not start its mechanisms' containers (exit {proc.poll()})"
    return proc, names


def _exists(client: Any, name: str) -> bool:
    # the low-level listing: other engines sharing this Docker engine may sweep a container at any time
    return bool(client.api.containers(all=True, filters={"name": f"^{name}$"}))


def test_an_engine_stopped_with_sigterm_removes_its_mechanism_host(docker_client: Any, sandbox_image: str) -> None:
    proc, names = _engine_with_a_host(sandbox_image)
    assert all(_exists(docker_client, name) for name in names)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert not any(_exists(docker_client, name) for name in names)


def test_a_killed_engines_mechanism_host_is_swept_at_the_next_start(docker_client: Any, sandbox_image: str) -> None:
    from bilevel_evolve.sandbox.lifecycle import sweep_orphans

    proc, names = _engine_with_a_host(sandbox_image)
    proc.kill()  # no chance to clean up
    proc.wait(timeout=30)
    try:
        # What the next engine's start does. Another engine sharing this Docker engine may sweep it
        # first, and a container vanishing mid-listing makes docker-py's listing raise NotFound.
        for _ in range(3):
            with contextlib.suppress(NotFound):
                sweep_orphans(docker_client)
                break
        assert not any(_exists(docker_client, name) for name in names)
    finally:
        for name in names:
            for found in docker_client.api.containers(all=True, filters={"name": f"^{name}$"}):
                with contextlib.suppress(NotFound):
                    docker_client.api.remove_container(found["Id"], force=True)
