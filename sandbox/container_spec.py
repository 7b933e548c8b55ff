"""The one place where a sandbox container's settings are decided.

Used for the per-candidate smoke-test container and for each live mechanism's container, so both
get exactly the same confinement: no network, read-only root, size-capped tmpfs, memory without
swap, a pids cap, no capabilities, no-new-privileges, a non-root user, an init that reaps (Docker's,
or the command itself when it is one: the mechanism host's server), capped logs, a CPU quota, an
explicit environment without secrets, and no Docker socket.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docker.types import LogConfig, Mount, Ulimit
from pydantic import BaseModel, ConfigDict, Field

from bilevel_evolve.sandbox import gpu
from bilevel_evolve.sandbox.image import harness_mounts
from bilevel_evolve.sandbox.lifecycle import owner_labels

SANDBOX_USER = "10001:10001"
CONTAINER_ENV = {  # the whole environment; nothing from the host's
    "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
MECHANISM_DIR_IN_CONTAINER = "/mech"
FORBIDDEN_SOURCES = ("/var/run/docker.sock", "/run/docker.sock")


class BoxLimits(BaseModel):
    """Resource limits and deadlines of one sandbox container."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory_mb: int = Field(default=1024, ge=64, le=65536)
    cpus: float = Field(default=1.0, gt=0, le=64)
    pids: int = Field(default=128, ge=16, le=4096)
    tmpfs_mb: int = Field(default=64, ge=1, le=4096)
    shm_mb: int = Field(default=16, ge=1, le=4096)
    log_max: str = Field(default="1m", pattern=r"^\d+[kmg]$")
    deadline_s: float = Field(default=60.0, gt=0, le=3600)  # whole smoke test, inside the container
    host_grace_s: float = Field(default=5.0, ge=1, le=600)  # extra the host waits before it kills
    per_call_s: float = Field(default=5.0, gt=0, le=600)
    import_s: float = Field(default=30.0, gt=0, le=600)
    iterations: int = Field(default=12, ge=1, le=1000)
    output_keep: int = Field(default=2048, ge=0, le=8192)
    runtime: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # None: runc


def container_name(kind: str, tag: str = "") -> str:
    """Unique per container: two smoke tests of the same mechanism at once never clash."""
    tag = "".join(c for c in tag if c.isalnum())[:12]
    return f"bilevel-{kind}-{tag + '-' if tag else ''}{uuid.uuid4().hex[:12]}"


def hardened_settings(
    *,
    image: str,
    command: list[str],
    kind: str,
    limits: BoxLimits,
    use_gpu: bool = False,
    mechanism_dir: Path | None = None,
    name_tag: str = "",
    stdin: bool = False,
    command_is_init: bool = False,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create(**settings)`. `command_is_init`: the command
    runs as pid 1 and reaps what it inherits itself, instead of under Docker's init; `labels` are
    added to the owner labels."""
    mounts = [Mount(target=dst, source=src, type="bind", read_only=True) for src, dst in harness_mounts()]
    if mechanism_dir is not None:
        mounts.append(Mount(target=MECHANISM_DIR_IN_CONTAINER, source=str(mechanism_dir), type="bind",
                            read_only=True))
    for mount in mounts:
        if mount["Source"] in FORBIDDEN_SOURCES:
            raise ValueError("the Docker socket is never mounted into a sandbox")
    memory = f"{limits.memory_mb}m"
    environment = dict(CONTAINER_ENV)
    if not use_gpu:  # where nvidia is the default runtime, a CUDA base image would otherwise see GPUs
        environment["NVIDIA_VISIBLE_DEVICES"] = "void"
    return {
        "image": image,
        "command": command,
        "name": container_name(kind, name_tag),
        "labels": {**(labels or {}), **owner_labels(kind)},
        "user": SANDBOX_USER,
        "environment": environment,
        "working_dir": "/tmp",
        "hostname": "sandbox",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
        "shm_size": f"{limits.shm_mb}m",
        "mounts": mounts,
        "mem_limit": memory,
        "memswap_limit": memory,  # equal: no swap
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "init": not command_is_init,
        "ipc_mode": "private",
        "ulimits": [Ulimit(name="core", soft=0, hard=0), Ulimit(name="nofile", soft=1024, hard=1024)],
        "log_config": LogConfig(type=LogConfig.types.JSON, config={"max-size": limits.log_max, "max-file": "1"}),
        "device_requests": gpu.device_requests(use_gpu),
        "runtime": limits.runtime,
        "stdin_open": stdin,
        "detach": True,
    }
