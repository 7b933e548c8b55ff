"""Does this Docker engine pass NVIDIA GPUs through? Probed once per engine and cached."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import docker
from docker.types import DeviceRequest
from pydantic import BaseModel, ConfigDict

from bilevel_evolve.ground.errors import EvolveError

CDI_DIRS = (Path("/etc/cdi"), Path("/var/run/cdi"))
NVIDIA_HOOKS = ("nvidia-container-runtime-hook", "nvidia-container-toolkit")


class GpuSupport(BaseModel):
    model_config = ConfigDict(frozen=True)

    available: bool
    how: str  # "nvidia runtime", "CDI", "nvidia hook" or why not


_cache: dict[str, GpuSupport] = {}
_lock = threading.Lock()


def probe(client: docker.DockerClient) -> GpuSupport:
    """NVIDIA passthrough support of the engine behind `client` (cached per engine URL)."""
    key = str(client.api.base_url)
    with _lock:
        if key not in _cache:
            _cache[key] = _probe(client)
        return _cache[key]


def _probe(client: docker.DockerClient) -> GpuSupport:
    try:
        info = client.info()
    except docker.errors.DockerException as exc:
        return GpuSupport(available=False, how=f"docker info failed: {exc}")
    if "nvidia" in (info.get("Runtimes") or {}):
        return GpuSupport(available=True, how="nvidia runtime")
    if any(d.is_dir() and any("nvidia" in p.name for p in d.iterdir()) for d in CDI_DIRS):
        return GpuSupport(available=True, how="CDI")
    if any(shutil.which(h) for h in NVIDIA_HOOKS):
        return GpuSupport(available=True, how="nvidia hook")
    return GpuSupport(available=False, how="no NVIDIA runtime found")


def resolve(client: docker.DockerClient, want: bool | None) -> tuple[bool, str]:
    """(use the GPU?, the plain device line for the report). want=None means: when available."""
    support = probe(client)
    if want is False:
        return False, "device: cpu (GPU not requested)"
    if support.available:
        return True, f"device: gpu ({support.how}, all devices)"
    if want:
        raise EvolveError(
            f"a GPU was asked for but this Docker engine has no NVIDIA runtime ({support.how})",
            "install the NVIDIA Container Toolkit and restart docker, or drop --gpu to run on CPU",
        )
    return False, f"device: cpu ({support.how})"


def device_requests(use_gpu: bool) -> list[DeviceRequest]:
    """Every GPU, or none (the report's device line says "all devices")."""
    return [DeviceRequest(count=-1, capabilities=[["gpu"]])] if use_gpu else []
