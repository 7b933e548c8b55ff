"""`--executor ray`: a run's trials as Ray tasks, each with its CPU and GPU request.

The driver (this process) keeps the run directory, the trace and every decision; a task gets the
domain's spec and the trial's parameters, runs the trial in a scratch directory on its node, and
returns the result with the trial's files, which the driver writes into the run directory. A task
lost with its node (or its worker) is submitted again; its step is decided once, so the trace holds
each trial once. The address is --ray-address, else RAY_ADDRESS, else `local` (a cluster of this
machine, started for the run and stopped with it).
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from typing import Any

import structlog

from bilevel_evolve.engine.run.executors import TrialJob, fresh_trial_dir
from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.ground.records import TrialResult

log = structlog.get_logger("bilevel_evolve.engine.run.ray_executor")

RAY_EXTRA_FIX = "pip install 'bilevel-evolve[ray]' (on the driver and on every node of the cluster)"
TASK_MODULE = "bilevel_evolve.engine.run.ray_task"
CONNECT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 120.0
WAIT_S = 0.5  # ray.wait in slices, so that Ctrl-C and SIGTERM are seen
MAX_LOSSES = 5  # times one trial may be lost with its node before the run gives up


def import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UsageError("--executor ray needs the ray library, which is not installed", RAY_EXTRA_FIX) from None


def ray_address(flag: str | None) -> str:
    return flag or os.environ.get("RAY_ADDRESS") or "local"


def check_reachable(address: str) -> None:
    """Fail at once, naming the address, when nothing answers there (ray.init would retry for a minute)."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    fix = (f"start the cluster (`ray start --head` on {host or 'its head node'}) or fix --ray-address / RAY_ADDRESS; "
           "--ray-address local starts a cluster on this machine")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address!r} is not HOST:PORT (or ray://HOST:PORT, local, auto)", fix)
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}", fix) from None


class RayExecutor:
    def __init__(self, domain_spec: str, domain_options: dict[str, Any], *, workers: int, gpus_per_trial: int,
                 address: str | None) -> None:
        ray = import_ray()
        self.address = ray_address(address)
        check_reachable(self.address)
        self._ray = ray
        self._started_here = self.address == "local"
        self.slots = workers
        self._domain = (domain_spec, domain_options)
        self._gpus = gpus_per_trial
        init: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
        if self._started_here:  # room for every worker, whatever this machine's core count
            init.update(address="local", num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False)
        else:
            init["address"] = self.address
        try:
            ray.init(**init)
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError... for a bad cluster
            raise UsageError(f"cannot connect to the Ray cluster at {self.address}: {exc}",
                             "check the address and that the cluster runs the same ray version") from None
        try:
            nodes = check_nodes(ray)
        except BaseException:
            self._shutdown()
            raise
        self._task = ray.remote(importlib.import_module(TASK_MODULE).run_trial_task)
        self._in_flight: dict[Any, tuple[TrialJob, int]] = {}  # ObjectRef -> (job, times lost so far)
        self.summary = (f"trials: {workers} workers as Ray tasks on {self.address} ({nodes} node"
                        f"{'s' if nodes > 1 else ''}), each asking 1 CPU and {gpus_per_trial} GPU"
                        f"{'s' if gpus_per_trial != 1 else ''}")

    def submit(self, job: TrialJob, losses: int = 0) -> None:
        spec, options = self._domain
        ref = self._task.options(num_cpus=1, num_gpus=self._gpus, max_retries=0).remote(
            spec, options, job.params, job.seed, job.step, self._gpus)
        self._in_flight[ref] = (job, losses)

    def next_finished(self) -> tuple[int, TrialResult]:
        ray = self._ray
        while True:
            ready: list[Any] = []
            while not ready:
                ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=WAIT_S)
            ref = ready[0]
            job, losses = self._in_flight.pop(ref)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the trial's set-up raised, on its node
                raise _task_error(exc, job) from None
            except ray.exceptions.RayError as exc:  # the task was lost: its worker or its node died
                self._lost(job, losses, exc)
                continue
            trial_dir = fresh_trial_dir(job.trial_dir)
            for rel, data in out["files"].items():
                path = trial_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            return job.step, TrialResult.model_validate(out["result"])

    def _lost(self, job: TrialJob, losses: int, exc: Exception) -> None:
        if losses + 1 >= MAX_LOSSES:
            raise EvolveError(f"the trial of step {job.step} was lost {MAX_LOSSES} times on the Ray cluster "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                              "check the cluster's nodes (`ray status`), then `evolve resume` the run") from None
        log.warning("trial_requeued", step=job.step, losses=losses + 1, why=type(exc).__name__)
        self.submit(job, losses + 1)

    def close(self) -> None:
        for ref in list(self._in_flight):
            try:
                self._ray.cancel(ref)  # a KeyboardInterrupt in the task: the trial's process group is killed
            except Exception as exc:  # the cluster may already be gone; nothing more to stop then
                log.warning("ray_cancel_failed", error=str(exc))
        self._in_flight.clear()
        self._shutdown()

    def _shutdown(self) -> None:
        self._ray.shutdown()  # disconnects; a cluster started for this run (`local`) stops with it


def check_nodes(ray: Any) -> int:
    """Every alive node must import the trial task (bilevel-evolve installed there): a probe runs on each."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    def probe(module: str) -> str:  # pickled by value: it must run where bilevel_evolve is missing
        import importlib
        import traceback

        try:
            importlib.import_module(module)
        except Exception:
            return traceback.format_exc(limit=1).strip().splitlines()[-1]
        return ""

    remote_probe = ray.remote(num_cpus=0, max_retries=0)(probe)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {n["NodeManagerAddress"] + " " + n["NodeID"][:8]: remote_probe.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(TASK_MODULE)
        for n in nodes}
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    for where, ref in refs.items():
        try:
            problem = ray.get(ref, timeout=max(1.0, deadline - time.monotonic()))
        except Exception as exc:
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if problem:
            raise UsageError(f"Ray node {where} cannot run trials: importing {TASK_MODULE} failed there ({problem})",
                             RAY_EXTRA_FIX)
    return len(nodes)


def _task_error(exc: Any, job: TrialJob) -> EvolveError:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EvolveError):
        return cause
    text = str(cause or exc)
    if "No module named 'bilevel_evolve" in text:
        return UsageError(f"a Ray node cannot import bilevel_evolve (step {job.step}): {text.splitlines()[-1]}",
                          RAY_EXTRA_FIX)
    return EvolveError(f"the trial of step {job.step} failed on its Ray node: {text.splitlines()[-1] if text else exc}",
                       "a domain raises only for errors of its set-up: fix it, then `evolve resume` the run")
