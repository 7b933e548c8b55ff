"""The Docker engine and the sandbox image: connect with a clear error, never pull implicitly."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from bilevel_evolve.ground.errors import EvolveError

DEFAULT_IMAGE = "bilevel-evolve-sandbox:latest"
IMAGE_ENV = "SANDBOX_IMAGE"
# Where the in-container code lives in the image; the image's venv has a .pth naming it, so the
# guest modules import under the same names (bilevel_evolve....) inside a container as on the host.
HARNESS_ROOT_IN_CONTAINER = "/opt/harness"
PTH_FILE = "bilevel-evolve-harness.pth"
PYTHON_IN_CONTAINER = "/opt/venv/bin/python"
# The in-container code: stdlib-only packages, baked into the image and bind-mounted read-only from
# this checkout over the baked copy, so the host's verdict schema and the harness that writes it can
# never drift apart. The one list of what enters a container (scripts/build-image.sh stages it too).
GUEST_PACKAGES = ("bilevel_evolve.ground.contract", "bilevel_evolve.sandbox.guest")
HARNESS_MODULE = "bilevel_evolve.sandbox.guest.harness"
HOST_SERVER_MODULE = "bilevel_evolve.sandbox.guest.host_server"
# Bumped when the in-container layout changes; an image without it is older than this checkout.
LAYOUT_LABEL, LAYOUT_VERSION = "bilevel-evolve.harness-layout", "namespace-1"


def guest_command(module: str) -> list[str]:
    """The container command that runs one guest module (isolated mode: no env, no cwd on sys.path)."""
    return [PYTHON_IN_CONTAINER, "-I", "-m", module]


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
        image = client.images.get(name)
    except ImageNotFound:
        raise EvolveError(
            f"sandbox image {name} missing: run scripts/build-image.sh",
            "bash scripts/build-image.sh  (builds it offline from a local wheelhouse; a few minutes)",
        ) from None
    except DockerException as exc:
        raise EvolveError(f"could not look up the sandbox image {name}: {_short(exc)}", START_ENGINE_FIX) from None
    if (image.labels or {}).get(LAYOUT_LABEL) != LAYOUT_VERSION:
        raise EvolveError(
            f"sandbox image {name} was built for an older layout of the in-container code",
            "bash scripts/build-image.sh  (rebuilds only the last layer; the base and wheels are reused)",
        )
    return str(image.id)


def guest_trees() -> list[tuple[Path, str]]:
    """(host folder, path inside the container) for each guest package."""
    trees = []
    for name in GUEST_PACKAGES:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations or not Path(locations[0]).is_dir():
            raise EvolveError(f"the sandbox package is incomplete: {name} is missing",
                              "reinstall the project (pip install -e .)")
        trees.append((Path(locations[0]), f"{HARNESS_ROOT_IN_CONTAINER}/{name.replace('.', '/')}"))
    return trees


def harness_mounts() -> list[tuple[str, str]]:
    """(host folder, container folder) for every guest package, all to be mounted read-only."""
    return [(str(host), inside) for host, inside in guest_trees()]


def stage_guest(dest: Path) -> None:
    """Copy the guest packages into an image build context (`dest` becomes /opt/harness), and beside
    it the .pth file that puts /opt/harness on the image's sys.path."""
    for host, inside in guest_trees():
        target = dest / Path(inside).relative_to(HARNESS_ROOT_IN_CONTAINER)
        shutil.copytree(host, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    (dest.parent / PTH_FILE).write_text(HARNESS_ROOT_IN_CONTAINER + "\n")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def main(argv: list[str] | None = None) -> int:
    """For scripts/build-image.sh: `stage DIR` fills the harness folder of a build context;
    `layout` prints the label the image must carry; `check` exits 1 (saying why) unless a Docker
    engine answers and holds an up-to-date sandbox image."""
    parser = argparse.ArgumentParser(prog="python -m bilevel_evolve.sandbox.image")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("stage").add_argument("dest", type=Path)
    sub.add_parser("layout")
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.action == "stage":
        stage_guest(args.dest)
    elif args.action == "layout":
        print(f"{LAYOUT_LABEL}={LAYOUT_VERSION}")
    else:
        try:
            print(require_image(connect()))
        except EvolveError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
