"""What a Ray worker runs for one trial: the domain rebuilt from the run's config, a scratch trial
directory of its own, and the trial's files sent back with the result (never through a shared path).

Imported on every Ray node: it needs bilevel-evolve installed there, and only the domains below it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.process import trial_devices
from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.ground.space import Scalar

MAX_RETURNED_BYTES = 64 * 1024 * 1024  # a trial's files beyond this stay behind (their names are listed)
LEFT_OUT_FILE = "files-left-on-the-ray-node.txt"

_domains: dict[str, Domain] = {}  # per worker process: a domain is loaded once, then reused


def run_trial_task(domain_spec: str, domain_options: dict[str, Any], params: dict[str, Scalar], seed: int,
                   step: int, gpus: int) -> dict[str, Any]:
    """The trial's result (TrialResult as JSON) and its files {relative path: bytes}."""
    key = json.dumps([domain_spec, domain_options], sort_keys=True)
    if key not in _domains:
        _domains[key] = load_domain(domain_spec, DomainOptions.from_mapping(domain_options))
    devices: tuple[str, ...] = ()
    if gpus:
        import ray

        devices = tuple(str(d) for d in ray.get_gpu_ids())
    with tempfile.TemporaryDirectory(prefix=f"evolve-trial-{step:05d}-") as scratch:
        trial_dir = Path(scratch) / f"{step:05d}"  # named as in the run directory: trials/00042
        trial_dir.mkdir()
        with trial_devices(devices):  # only the GPUs Ray gave this task; none when it asked for none
            result = _domains[key].run_trial(params, trial_dir, seed)
        return {"result": result.model_dump(mode="json"), "files": collect_files(trial_dir)}


def collect_files(root: Path, limit: int = MAX_RETURNED_BYTES) -> dict[str, bytes]:
    """The files under root, smallest first, up to `limit` bytes in all; a note names any left out."""
    paths = sorted((p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
                   key=lambda p: (p.stat().st_size, str(p)))
    files: dict[str, bytes] = {}
    left_out: list[str] = []
    used = 0
    for path in paths:
        size = path.stat().st_size
        rel = str(path.relative_to(root))
        if used + size > limit:
            left_out.append(f"{rel} ({size} bytes)")
            continue
        files[rel] = path.read_bytes()
        used += size
    if left_out:
        files[LEFT_OUT_FILE] = ("over the return cap of the Ray executor:\n" + "\n".join(left_out) + "\n").encode()
    return files

