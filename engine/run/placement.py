"""The run's trial executor, from its configuration: how many workers, which GPUs, local or Ray.

Built before the run directory is touched, so that a bad request (no such GPUs, an unreachable Ray
cluster) fails with nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.engine.run.executors import InlineExecutor, ThreadExecutor, TrialExecutor
from bilevel_evolve.engine.run.gpu_slots import assign_gpus
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import UsageError


def build_executor(config: RunConfig, domain: Domain) -> TrialExecutor:
    if config.executor == "ray":
        if config.gpus is not None:
            raise UsageError("--gpus names this machine's devices; with --executor ray, Ray places the trials",
                             "drop --gpus and give --gpus-per-trial G: each trial asks Ray for G GPUs")
        from bilevel_evolve.engine.run.ray_executor import RayExecutor

        spec, options = portable_domain(config.domain, config.domain_options)
        return RayExecutor(spec, options, workers=config.workers, gpus_per_trial=config.gpus_per_trial or 0,
                           address=config.ray_address)
    if config.ray_address is not None:
        raise UsageError("--ray-address is for --executor ray", "add --executor ray, or drop --ray-address")
    devices = assign_gpus(config.workers, config.gpus, config.gpus_per_trial)
    if config.workers == 1:
        return InlineExecutor(domain, devices)
    return ThreadExecutor(domain, config.workers, devices)


def portable_domain(spec: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The domain spec and options with every file path made absolute: a Ray worker does not start
    in the driver's working directory."""
    kind, _, arg = spec.partition(":")
    named_file = kind in ("command", "train_opt") or arg.endswith(".py") or "/" in arg
    if arg and named_file and Path(arg).exists():
        spec = f"{kind}:{Path(arg).resolve()}"
    if options.get("space_file"):
        options = {**options, "space_file": str(Path(options["space_file"]).resolve())}
    return spec, options
