"""The Docker engine and the sandbox image: connect with a clear error, never pull implicitly."""

from __future__ import annotations

import os
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from engine.errors import EvolveError

DEFAULT_IMAGE = "bilevel-evolve-sandbox:latest"
IMAGE_ENV = "SANDBOX_IMAGE"
SANDBOX_DIR = Path(__file__).resolve().parent
HARNESS_DIR_IN_CONTAINER = "/opt/harness"
# The in-container harness, bind-mounted read-only from this package over the image's baked copy,
# so the host's verdict schema and the harness that writes it can never drift apart.
HARNESS_FILES = (
    "harness.py", "harness_trace.py", "harness_worker.py", "harness_worker_client.py",
    "hook_contract.py", "runtime_api.py", "mechanism_host_server.py",
)
PYTHON_IN_CONTAINER = "/opt/venv/bin/python"

START_ENGINE_FIX = (
    "start a Docker engine: `sudo systemctl start docker`, or `sudo dockerd &`, "
    "or `bash scripts/install-docker.sh` (installs and starts it)"
)


def image_name() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def connect(timeout_s: float = 30.0) -> docker.DockerClient:
    """A client for a Docker engine that answers, or EvolveError saying how to start one."""
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except DockerException as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EvolveError(
            f"no Docker engine answers at {host} ({_short(exc)}); Level 2 needs one to vet mechanisms",
            START_ENGINE_FIX,
        ) from None
    return client


def require_image(client: docker.DockerClient, name: str | None = None) -> str:
    """The image id of the sandbox image; raises (never pulls) when it is not present locally."""
    name = name or image_name()
    try:
        return str(client.images.get(name).id)
    except ImageNotFound:
        raise EvolveError(
            f"sandbox image {name} missing: run scripts/build-image.sh",
            "bash scripts/build-image.sh  (builds it offline from a local wheelhouse; a few minutes)",
        ) from None
    except DockerException as exc:
        raise EvolveError(f"could not look up the sandbox image {name}: {_short(exc)}", START_ENGINE_FIX) from None


def harness_mounts() -> list[tuple[str, str]]:
    """(host path, container path) for every harness file, all to be mounted read-only."""
    missing = [f for f in HARNESS_FILES if not (SANDBOX_DIR / f).is_file()]
    if missing:
        raise EvolveError(f"the sandbox package is incomplete: missing {', '.join(missing)}",
                          "reinstall the project (pip install -e .)")
    return [(str(SANDBOX_DIR / f), f"{HARNESS_DIR_IN_CONTAINER}/{f}") for f in HARNESS_FILES]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
