"""A long-lived hardened container (the *mechanism host*'s home for a whole run).

Same settings as a smoke-test container (`container_spec.hardened_settings`); it idles until it is
removed, and workers are started in it with `docker exec`:

    box = HostContainer.start(mechanisms_dir=Path(run_dir, "mechanisms"))
    exec_id = box.exec_worker("/mech/<id>/mechanism.py")   # harness_worker.py --stdio
    ...
    box.remove()

`mechanisms_dir` is mounted read-only at /mech; write each accepted source there before exec.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from engine.errors import EvolveError
from sandbox import gpu
from sandbox.container_spec import SANDBOX_USER, BoxLimits, hardened_settings
from sandbox.image import HARNESS_DIR_IN_CONTAINER, PYTHON_IN_CONTAINER, connect, image_name, require_image
from sandbox.lifecycle import REGISTRY, sweep_once

IDLE = [PYTHON_IN_CONTAINER, "-I", "-c", "import signal\nwhile True: signal.pause()"]
WORKER_ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class HostContainer:
    client: docker.DockerClient
    id: str
    name: str
    device: str

    @classmethod
    def start(cls, *, mechanisms_dir: Path, limits: BoxLimits | None = None, gpu_wanted: bool | None = None,
              image: str | None = None, client: docker.DockerClient | None = None) -> HostContainer:
        client = client or connect()
        image = image or image_name()
        require_image(client, image)
        use_gpu, device = gpu.resolve(client, gpu_wanted)
        sweep_once(client)
        settings = hardened_settings(image=image, command=IDLE, kind="host", limits=limits or BoxLimits(),
                                     use_gpu=use_gpu, mechanism_dir=mechanisms_dir.resolve())
        container = None
        try:
            container = client.containers.create(**settings)
            REGISTRY.add(str(container.id))
            container.start()
        except DockerException as exc:
            if container is not None:
                with contextlib.suppress(DockerException):
                    container.remove(force=True)
                REGISTRY.discard(str(container.id))
            raise EvolveError(f"could not start the mechanism host container: {exc}",
                              "check `docker info` and the sandbox image (scripts/build-image.sh)") from None
        return cls(client=client, id=str(container.id), name=settings["name"], device=device)

    def exec_worker(self, mechanism_path: str) -> str:
        """Create (not start) an exec running a worker on stdin/stdout; returns the exec id.
        Start it with `client.api.exec_start(exec_id, socket=True)` and speak the worker protocol."""
        command = [PYTHON_IN_CONTAINER, "-s", "-P", f"{HARNESS_DIR_IN_CONTAINER}/harness_worker.py", "--stdio",
                   "--mechanism", mechanism_path]
        created: dict[str, Any] = self.client.api.exec_create(
            self.id, command, stdin=True, stdout=True, stderr=False, user=SANDBOX_USER,
            environment=WORKER_ENV, workdir="/tmp")
        return str(created["Id"])

    def running(self) -> bool:
        try:
            return bool(self.client.api.inspect_container(self.id)["State"]["Running"])
        except DockerException:
            return False

    def remove(self) -> None:
        with contextlib.suppress(DockerException):
            self.client.api.remove_container(self.id, force=True)
        REGISTRY.discard(self.id)
