"""The OCI runtime sandbox containers run under: Docker's default (runc), or one the engine has
registered, such as gVisor's runsc (`--sandbox-runtime runsc`), whose user-space kernel stands between
the mechanism and the host kernel. See docs/SANDBOX.md for what it costs and where it does not work.
"""

from __future__ import annotations

import docker
from docker.errors import DockerException

from bilevel_evolve.ground.errors import EvolveError

GVISOR = "runsc"
# The registration this project tests with: the containers have no network, and this runsc refuses
# Docker's `none` network unless told so itself.
GVISOR_DAEMON_JSON = '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}'
RELOAD = "reload the engine (`sudo kill -HUP $(pidof dockerd)`, or `sudo systemctl reload docker`)"


def registered_runtimes(client: docker.DockerClient) -> tuple[str, ...]:
    """The runtimes `docker info` lists."""
    try:
        return tuple(sorted(client.info().get("Runtimes") or {}))
    except DockerException as exc:
        raise EvolveError(f"could not ask the Docker engine which runtimes it has: {exc}",
                          "check `docker info`") from None


def require_runtime(client: docker.DockerClient, runtime: str | None, gpu_wanted: bool | None = None) -> bool | None:
    """Raise EvolveError, naming the fix, unless sandbox containers can run under `runtime` (None: the
    engine's default, always there). Returns the GPU wish that holds under it: gVisor passes no GPU
    through here, so asking for one is an error and "if there is one" (None) becomes no."""
    if runtime is None:
        return gpu_wanted
    known = registered_runtimes(client)
    if runtime not in known:
        if runtime == GVISOR:
            fix = ("install gVisor (Debian: `sudo apt-get install runsc`), register it in /etc/docker/daemon.json "
                   f"as {GVISOR_DAEMON_JSON}, then {RELOAD}; `docker info` lists it under Runtimes")
        else:
            fix = (f"register {runtime!r} under \"runtimes\" in /etc/docker/daemon.json and {RELOAD}, or leave "
                   "--sandbox-runtime out to use the engine's default")
        raise EvolveError(f"--sandbox-runtime {runtime}: this Docker engine has no runtime {runtime!r} "
                          f"(it has: {', '.join(known) or 'none listed'})", fix)
    if runtime != GVISOR:
        return gpu_wanted
    if gpu_wanted:
        raise EvolveError("a GPU was asked for under gVisor's runsc, which passes no GPU through here "
                          "(this build has no nvproxy)",
                          "leave --sandbox-runtime out for mechanisms that need the GPU, or run them on the CPU")
    return False
