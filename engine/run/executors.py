"""Where a run's trials execute: inline (one worker), in threads (N workers), or as Ray tasks.

An executor only runs trials: it is handed jobs in proposal order and gives back results in whatever
order they finish. Every decision, and every write to the trace, stays with the loop.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.process import kill_running_trials, trial_devices
from bilevel_evolve.engine.run.gpu_slots import SlotDevices
from bilevel_evolve.ground.records import TrialResult
from bilevel_evolve.ground.space import Scalar


@dataclass(frozen=True)
class TrialJob:
    step: int
    params: dict[str, Scalar]
    seed: int
    trial_dir: Path  # on the driver: where the trial's files end up


class TrialExecutor(Protocol):
    slots: int  # trials it runs at once
    summary: str  # one plain line: where trials run, on which devices

    def submit(self, job: TrialJob) -> None: ...

    def next_finished(self) -> tuple[int, TrialResult]:
        """Block until a submitted trial finishes: (its step, its result). Raises what the trial's
        set-up raised (a domain raises only for errors of the set-up, never for a bad trial)."""
        ...

    def close(self) -> None:
        """Stop every trial still in flight (the run ended, or was interrupted)."""
        ...


def fresh_trial_dir(path: Path) -> Path:
    if path.exists():  # left by an interrupted attempt at this step
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def run_job(domain: Domain, job: TrialJob, devices: tuple[str, ...] | None) -> TrialResult:
    with trial_devices(devices):
        return domain.run_trial(job.params, fresh_trial_dir(job.trial_dir), job.seed)


class InlineExecutor:
    """One worker: the trial runs in the loop's own thread when its result is asked for."""

    slots = 1

    def __init__(self, domain: Domain, devices: SlotDevices | None = None) -> None:
        self.domain = domain
        self.devices = devices or SlotDevices(None, "1 worker")
        self.summary = f"trials: 1 worker, in this process; {self.devices.summary}"
        self._queued: deque[TrialJob] = deque()

    def submit(self, job: TrialJob) -> None:
        self._queued.append(job)

    def next_finished(self) -> tuple[int, TrialResult]:
        job = self._queued.popleft()
        return job.step, run_job(self.domain, job, self.devices.of(0))

    def close(self) -> None:
        self._queued.clear()


class ThreadExecutor:
    """N workers as threads around domain.run_trial (a subprocess for train_opt and command trials, so
    they run truly at once). Each trial takes a free slot and that slot's GPUs for as long as it runs."""

    def __init__(self, domain: Domain, workers: int, devices: SlotDevices) -> None:
        self.domain = domain
        self.slots = workers
        self.devices = devices
        self.summary = f"trials: {workers} workers (threads of this process); {devices.summary}"
        self._free = list(range(workers))
        self._lock = threading.Lock()
        self._done: queue.Queue[tuple[int, TrialResult | BaseException]] = queue.Queue()

    def submit(self, job: TrialJob) -> None:
        with self._lock:
            if not self._free:
                raise RuntimeError(f"more than {self.slots} trials submitted at once")  # a scheduler bug
            slot = self._free.pop(0)
        # daemon: an interrupted run does not wait for an in-process objective to return
        threading.Thread(target=self._run, args=(job, slot), name=f"trial-{job.step}", daemon=True).start()

    def _run(self, job: TrialJob, slot: int) -> None:
        try:
            outcome: TrialResult | BaseException = run_job(self.domain, job, self.devices.of(slot))
        except BaseException as exc:  # handed to the loop's thread, which raises it
            outcome = exc
        with self._lock:
            self._free.append(slot)
        self._done.put((job.step, outcome))

    def next_finished(self) -> tuple[int, TrialResult]:
        step, outcome = self._done.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return step, outcome

    def close(self) -> None:
        kill_running_trials()
