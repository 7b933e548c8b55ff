"""Smoke-test one mechanism in a fresh, hardened, disposable container and decide on the result.

    report = run_smoke_test(MechanismSource(data))   # BoxReport; report.ok when the verdict is PASSED

The host enforces its own wall-clock deadline (kill + remove) on top of the harness's, reads the
verdict from capped output, and accepts only: a schema-valid verdict carrying this run's nonce,
exit code 0, no OOM kill, no timeout. The container is removed on every path, and so is the staging
folder the mechanism is mounted from: at the end of the test, or, when the engine was killed during it
(no `finally` runs), by the next smoke test on this machine (its name says whose it is).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import DockerException

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox import gpu
from bilevel_evolve.sandbox.box_report import BoxReport
from bilevel_evolve.sandbox.container_spec import MECHANISM_DIR_IN_CONTAINER, BoxLimits, hardened_settings
from bilevel_evolve.sandbox.image import HARNESS_MODULE, connect, guest_command, image_name, require_image
from bilevel_evolve.sandbox.lifecycle import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_PID_START,
    create_owned,
    owner_alive,
    owner_labels,
    remove_owned,
    sweep_once,
)
from bilevel_evolve.sandbox.runtime import require_runtime
from bilevel_evolve.sandbox.verdict import find_verdict

MAX_LOG_BYTES = 2 * 1024 * 1024
STAGING_PREFIX = "bilevel-box-"  # then <pid>-<pid start time>- of the engine, then mkdtemp's random part
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "x": {"type": "float", "low": -5.0, "high": 5.0, "log": False, "default": 0.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.01},
    "batch": {"type": "int", "low": 8, "high": 512, "log": True, "default": 64},
    "layers": {"type": "int", "low": 1, "high": 8, "log": False, "default": 2},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
}


def run_smoke_test(
    source: MechanismSource,
    *,
    limits: BoxLimits | None = None,
    gpu_wanted: bool | None = None,
    space: dict[str, Any] | None = None,
    direction: str = "minimize",
    trace: list[dict[str, Any]] | None = None,
    image: str | None = None,
    client: docker.DockerClient | None = None,
) -> BoxReport:
    """Run the smoke test of `source`. Raises EvolveError only when the box itself cannot run (no
    engine, no image, GPU asked for without NVIDIA runtime, `limits.runtime` not registered)."""
    limits = limits or BoxLimits()
    sha = source.sha256
    client = client or connect()
    image = image or image_name()
    require_image(client, image)
    use_gpu, device = gpu.resolve(client, require_runtime(client, limits.runtime, gpu_wanted))
    sweep_once(client)
    job = {
        "nonce": secrets.token_hex(32), "seed": 0, "space": space or DEFAULT_SPACE, "direction": direction,
        "iterations": len(trace) if trace else limits.iterations, "trace": trace, "config": {},
        "per_call_s": limits.per_call_s, "import_s": limits.import_s, "deadline_s": limits.deadline_s,
        "output_keep": limits.output_keep, "mechanism_path": f"{MECHANISM_DIR_IN_CONTAINER}/mechanism.py",
    }
    sweep_staging()
    staging = _staging_dir()
    try:
        staging.chmod(0o755)  # the container's unprivileged user must read it
        (staging / "mechanism.py").write_bytes(source.data)
        (staging / "mechanism.py").chmod(0o644)
        settings = hardened_settings(
            image=image, command=guest_command(HARNESS_MODULE),
            kind="smoke", limits=limits, use_gpu=use_gpu, mechanism_dir=staging, name_tag=sha[:12],
            stdin=True,
        )
        return _run_container(client, settings, job, limits, device=device, image=image, sha=sha)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_dir() -> Path:
    """A fresh folder for the mechanism's bind mount, named after this engine (its pid and the pid's
    start time), so that a sweep can tell a killed engine's leftover from a live engine's folder."""
    labels = owner_labels("smoke")
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{labels[LABEL_PID]}-{labels[LABEL_PID_START]}-"))


def sweep_staging(root: Path | None = None) -> list[Path]:
    """Remove the staging folders (under `root`, default the temporary directory) of engines that are
    gone; those of live engines, other users and other names stay. Returns what was removed."""
    removed = []
    for entry in Path(root or tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*"):
        pid, _, rest = entry.name.removeprefix(STAGING_PREFIX).partition("-")
        started = rest.partition("-")[0]
        try:
            ours = not entry.is_symlink() and entry.is_dir() and entry.stat().st_uid == os.getuid()
        except OSError:
            continue
        owner = {LABEL_HOST: socket.gethostname(), LABEL_PID: pid, LABEL_PID_START: started}
        if ours and pid.isdigit() and started.isdigit() and not owner_alive(owner):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _run_container(client: docker.DockerClient, settings: dict[str, Any], job: dict[str, Any],
                   limits: BoxLimits, *, device: str, image: str, sha: str) -> BoxReport:
    started = time.monotonic()
    try:
        container_id = create_owned(client, settings)
        sock = client.api.attach_socket(container_id, params={"stdin": 1, "stream": 1})
        try:
            client.api.start(container_id)
            raw = getattr(sock, "_sock", sock)
            raw.sendall(json.dumps(job).encode() + b"\n")
        finally:
            sock.close()
        timed_out = False
        try:
            # whole seconds (the SDK's type), rounded up so the host's deadline never comes early
            client.api.wait(container_id, timeout=math.ceil(limits.deadline_s + limits.host_grace_s))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            # the SDK reports a wait past its timeout either way; a lost engine is not the mechanism's fault
            client.ping()
            timed_out = True
            with contextlib.suppress(DockerException):
                client.api.kill(container_id)
        state = client.api.inspect_container(container_id)["State"]
        output = _read_output(client, container_id)
        verdict, ignored = find_verdict(output, job["nonce"])
        return _decide(
            verdict=verdict, ignored=ignored, timed_out=timed_out, oom=bool(state.get("OOMKilled")),
            exit_code=state.get("ExitCode"), limits=limits,
            base={"device": device, "image": image, "container": settings["name"], "sha256": sha,
                  "duration_s": round(time.monotonic() - started, 3)},
        )
    except (DockerException, requests.exceptions.RequestException) as exc:
        raise EvolveError(f"the Docker engine failed during the smoke test: {exc}",
                          "check `docker info`; restart the engine if it is stuck") from None
    finally:
        remove_owned(client, settings["name"])


def _read_output(client: docker.DockerClient, container_id: str) -> bytes:
    """The container's stdout, keeping at most the last MAX_LOG_BYTES (the verdict is written last)."""
    kept = bytearray()
    for chunk in client.api.logs(container_id, stdout=True, stderr=False, stream=True, follow=False):
        kept += chunk
        if len(kept) > 2 * MAX_LOG_BYTES:
            del kept[: len(kept) - MAX_LOG_BYTES]
    return bytes(kept[-MAX_LOG_BYTES:])


def _decide(*, verdict: Any, ignored: list[str], timed_out: bool, oom: bool, exit_code: int | None,
            limits: BoxLimits, base: dict[str, Any]) -> BoxReport:
    common = {**base, "verdict": verdict, "exit_code": exit_code, "oom_killed": oom, "timed_out": timed_out,
              "ignored_output": tuple(ignored[:10])}
    warnings = verdict.warnings if verdict else ()
    if timed_out:
        return BoxReport(status="TIMEOUT", warnings=warnings, **common, reasons=(
            f"killed by the host at the {limits.deadline_s + limits.host_grace_s:g} s wall-clock deadline",))
    if oom:
        detail = f" ({verdict.reasons[0]})" if verdict and verdict.reasons else ""
        return BoxReport(status="OOM", warnings=warnings, **common, reasons=(
            f"out of memory: the container hit its {limits.memory_mb} MiB limit{detail}",))
    if verdict is None:
        why = "; ".join(dict.fromkeys(ignored)) or "no verdict line at all"
        return BoxReport(status="NO_VERDICT", **common, reasons=(
            f"no verdict carrying this run's nonce (exit code {exit_code}; {why})",))
    if exit_code != 0:
        return BoxReport(status="CRASHED", warnings=warnings, **common, reasons=(
            f"the harness exited with code {exit_code}", *verdict.reasons))
    return BoxReport(status=verdict.status, reasons=verdict.reasons, warnings=warnings, **common)
