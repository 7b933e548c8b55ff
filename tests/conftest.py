"""Fixtures every Docker-backed test shares: a real engine, the sandbox image, and the promise
that no container this session made survives it.

Locally a missing engine or image skips those tests with the reason; with CI=true it fails them
(a CI run that silently skipped the sandbox would prove nothing).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

SESSION_ENGINE_PIDS: set[int] = {os.getpid()}  # this session and the engine subprocesses it starts


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the sandbox cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    from bilevel_evolve.ground.errors import EvolveError
    from bilevel_evolve.sandbox.image import connect

    try:
        client = connect(timeout_s=60)
    except EvolveError as exc:
        unavailable(f"no Docker engine: {exc.problem}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_client: Any) -> str:
    from bilevel_evolve.ground.errors import EvolveError
    from bilevel_evolve.sandbox.image import image_name, require_image

    try:
        require_image(docker_client, image_name())
    except EvolveError as exc:
        unavailable(f"{exc.problem} (bash scripts/build-image.sh)")
    return image_name()


@pytest.fixture(scope="session")
def sandbox_ready(sandbox_image: str) -> None:
    """For tests that drive the engine end to end (it finds the engine and image by itself)."""


@pytest.fixture(scope="session")
def engine_pids() -> set[int]:
    """Add the pid of every engine subprocess a test starts, so the final check covers it too."""
    return SESSION_ENGINE_PIDS


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind() -> Iterator[None]:
    """After the session: no container made by this session (or its engine subprocesses) remains.

    Other sessions may share the Docker engine concurrently: their containers are not ours to judge."""
    yield
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception:
        return  # no engine: nothing could have been left
    from bilevel_evolve.sandbox.lifecycle import LABEL_OWNER, LABEL_PID, OWNER_VALUE

    # The low-level listing carries the labels: no per-container inspect that would race with another
    # session removing its own containers meanwhile.
    every = client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={OWNER_VALUE}"})
    ours = {str(p) for p in SESSION_ENGINE_PIDS}
    left = [info for info in every if (info.get("Labels") or {}).get(LABEL_PID) in ours]
    names = [name.lstrip("/") for info in left for name in info.get("Names", [])[:1]]
    for info in left:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(info["Id"], force=True)
    assert not names, f"containers with our label survived the test session: {names}"
