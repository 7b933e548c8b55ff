"""Which GPUs each in-flight trial gets: slot i of N holds its own G devices, never another slot's.

The devices come from `--gpus 0,1,...`, else from CUDA_VISIBLE_DEVICES when the engine was started
with it (a restriction the user already made), else from `nvidia-smi -L`. G is `--gpus-per-trial`,
by default the devices divided by the workers. A run of one worker without a GPU option leaves the
trial's environment as it always was: it sees what the engine sees.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from bilevel_evolve.ground.errors import UsageError

_GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)
_SMI_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class GpuInventory:
    devices: tuple[str, ...]
    found_by: str  # where the list came from, or why it is empty, for the one line a run prints


def discover_gpus() -> GpuInventory:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = tuple(d.strip() for d in visible.split(",") if d.strip())
        return GpuInventory(devices, "CUDA_VISIBLE_DEVICES of the engine" if devices
                            else "CUDA_VISIBLE_DEVICES of the engine is empty")
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return GpuInventory((), "nvidia-smi is not on PATH")
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return GpuInventory((), f"nvidia-smi -L failed: {exc}")
    devices = tuple(_GPU_LINE.findall(out.stdout))
    if out.returncode != 0 or not devices:
        why = (out.stderr or out.stdout).strip().splitlines()
        return GpuInventory((), f"nvidia-smi -L lists no GPU{': ' + why[0] if why else ''}")
    return GpuInventory(devices, "nvidia-smi -L")


@dataclass(frozen=True)
class SlotDevices:
    """Per slot, the device ids its trials see (CUDA_VISIBLE_DEVICES); None: the environment is left as it is."""

    slots: tuple[tuple[str, ...], ...] | None
    summary: str  # one plain line: what each slot gets

    def of(self, slot: int) -> tuple[str, ...] | None:
        return None if self.slots is None else self.slots[slot]


def assign_gpus(workers: int, gpus: Sequence[str] | None, per_trial: int | None,
                inventory: GpuInventory | None = None) -> SlotDevices:
    """The devices of each of `workers` slots. UsageError when the request cannot be met."""
    if workers == 1 and gpus is None and per_trial is None:
        return SlotDevices(None, "1 worker; the trial sees the GPUs the engine sees")
    if gpus is not None:
        devices, found_by = tuple(gpus), "--gpus"
        if len(set(devices)) != len(devices):
            raise UsageError(f"--gpus {','.join(devices)} names a device twice", "list each GPU id once")
    else:
        found = inventory or discover_gpus()
        devices, found_by = found.devices, found.found_by
    if not devices:
        if per_trial:
            raise UsageError(f"--gpus-per-trial {per_trial} asks for GPUs, but there are none ({found_by})",
                             "drop --gpus-per-trial, or name the devices with --gpus 0,1,...")
        return SlotDevices(tuple(() for _ in range(workers)) if per_trial == 0 else None,
                           f"no GPU ({found_by}): {workers} CPU slot{'s' if workers > 1 else ''}")
    if per_trial is None:
        per_trial = len(devices) // workers
        if per_trial == 0:
            raise UsageError(f"{workers} workers but {len(devices)} GPU{'s' if len(devices) > 1 else ''} "
                             f"({', '.join(devices)}; {found_by}): not one GPU per trial",
                             f"use --workers {len(devices)} or fewer, or --gpus-per-trial 0 to run the trials "
                             "without a GPU")
    need = workers * per_trial
    if need > len(devices):
        raise UsageError(f"{workers} workers x {per_trial} GPUs per trial need {need} GPUs; there are "
                         f"{len(devices)} ({', '.join(devices)}; {found_by})",
                         f"lower --workers or --gpus-per-trial so that workers x GPUs per trial <= {len(devices)}")
    slots = tuple(devices[i * per_trial:(i + 1) * per_trial] for i in range(workers))
    if per_trial == 0:
        return SlotDevices(slots, f"{workers} CPU slots: --gpus-per-trial 0 hides the GPUs from the trials")
    shown = " | ".join(",".join(s) for s in slots)
    return SlotDevices(slots, f"{workers} GPU slot{'s' if workers > 1 else ''} of {per_trial} "
                              f"({found_by}): {shown}")
