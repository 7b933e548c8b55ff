"""Run an ablation's plan: each run is a child `evolve run` (or `evolve resume`) process, W at once.

Runs are separate processes so they share nothing but the archive (which takes concurrent
writers): a run's result depends only on its own seed and config, never on which runs were
beside it, so W workers find exactly what one worker finds. Children are started from this
(single) thread and die with it (PR_SET_PDEATHSIG on Linux), so a killed ablation never leaves
runs going on behind the next one; each interrupted run is later resumed, never restarted.

Slots come from an `EnginePool` (engines.py): one implicit engine with W slots by default, or the
`--docker-host` engines. A run whose engine stops answering is resumed on another one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from bilevel_evolve.engine.ablation.progress_display import AblationProgress
from bilevel_evolve.engine.ablation.spec import AblationSpec, PlannedRun, plan
from bilevel_evolve.engine.ablation.store import clear_leftover, log_path, run_dir, run_state
from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.errors import EXIT_INTERRUPTED, EvolveError
from bilevel_evolve.sandbox.engine_pool import ASSIGNMENTS_FILE, Engine, EnginePool, EngineSpec, Slot

POLL_S = 0.05
STOP_GRACE_S = 30.0
LOST_GRACE_S = 10.0  # a run whose engine is lost gets SIGTERM, then SIGKILL after this
Action = Literal["skipped", "started", "resumed"]


@dataclass
class RunOutcome:
    run: PlannedRun
    action: Action
    returncode: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class _Child:
    run: PlannedRun
    action: Action
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    slot: Slot
    t0: float = field(default_factory=time.monotonic)
    kill_at: float | None = None


def run_command(spec: AblationSpec, out: Path, run: PlannedRun, action: Action,
                python: str = sys.executable) -> list[str]:
    base = [python, "-m", "bilevel_evolve.engine.cli"]
    path = run_dir(out, run.name)
    if action == "resumed":
        return [*base, "resume", str(path), "--no-progress"]
    return [*base, "run", *RUN_OPTIONS.argv(spec.run_options(run, path))]


class AblationExecutor:
    def __init__(self, spec: AblationSpec, out: Path, *, workers: int = 1, progress: bool = True,
                 python: str = sys.executable, engines: EnginePool | None = None) -> None:
        self.spec = spec
        self.out = out.resolve()
        self.workers = max(1, workers)
        self.progress = progress
        self.python = python
        self.pool = engines or EnginePool([EngineSpec(url=None, slots=self.workers)])
        self.pool.log = self.out / ASSIGNMENTS_FILE  # which engine ran which run (only with --docker-host)

    def run(self) -> list[RunOutcome]:
        runs = plan(self.spec)
        outcomes: dict[str, RunOutcome] = {}
        queue: list[tuple[PlannedRun, Action]] = []
        for run in runs:
            state = run_state(run_dir(self.out, run.name))
            if state == "done":
                outcomes[run.name] = RunOutcome(run, "skipped")
            else:
                queue.append((run, "resumed" if state == "partial" else "started"))
        running: list[_Child] = []
        self.pool.record_pool()
        with AblationProgress(len(runs), len(outcomes), self.out, enabled=self.progress) as bar:
            try:
                while queue or running:
                    while queue and (slot := self.pool.acquire()) is not None:
                        running.append(self._launch(*queue.pop(0), slot))
                    if queue and not running and not self.pool.revive_any():
                        raise self.pool.none_answers()
                    time.sleep(POLL_S)
                    for engine in self.pool.health_tick([c.slot.engine for c in running]):
                        _abandon(engine, running)
                    _kill_overdue(running)
                    for child in [c for c in running if c.proc.poll() is not None]:
                        running.remove(child)
                        self.pool.release(child.slot)
                        if self._engine_lost(child):
                            queue.insert(0, (child.run, child.action))  # _launch resumes it if it began
                            continue
                        outcome = self._reap(child)
                        outcomes[outcome.run.name] = outcome
                        bar.run_done(outcome, run_dir(self.out, outcome.run.name))
            except BaseException:
                _stop(running)
                raise
        ordered = [outcomes[r.name] for r in runs]
        failed = [o for o in ordered if not o.ok]
        if failed:
            lines = ", ".join(f"{o.run.name} (exit {o.returncode}, log {log_path(self.out, o.run.name)})"
                              for o in failed)
            raise EvolveError(f"{len(failed)} of {len(runs)} runs failed: {lines}",
                              "read the logs, fix the cause, and repeat the same command: finished runs are "
                              "kept and the others resume")
        return ordered

    def _launch(self, run: PlannedRun, action: Action, slot: Slot) -> _Child:
        path = run_dir(self.out, run.name)
        if action == "started" and run_state(path) == "partial":
            action = "resumed"  # it began on an engine that was lost
        if action == "started":
            clear_leftover(path)
        cmd = run_command(self.spec, self.out, run, action, self.python)
        log = log_path(self.out, run.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = log.open("ab")
        where = f" on {slot.engine.spec.label}" if self.pool.explicit else ""
        fh.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {action}{where}: {' '.join(cmd)}\n".encode())
        fh.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **slot.environment()}
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=_die_with_parent)
        self.pool.record_start(slot, run.name, action, proc.pid)
        return _Child(run, action, proc, fh, slot)

    def _engine_lost(self, child: _Child) -> bool:
        """A failed run whose engine no longer answers is re-queued (to be resumed), not failed. A run
        that got to its end before the engine went (e.g. it failed only removing its container) is done."""
        if child.proc.returncode == 0 or child.slot.engine.spec.url is None:
            return False
        if child.slot.engine.alive and self.pool.answers(child.slot.engine):
            return False
        if run_state(run_dir(self.out, child.run.name)) == "done":
            child.proc.returncode = 0
            return False
        child.log.close()
        self.pool.record_requeue(child.slot, child.run.name, child.proc.returncode)
        return True

    def _reap(self, child: _Child) -> RunOutcome:
        child.log.close()
        code = child.proc.returncode
        if code in (EXIT_INTERRUPTED, -signal.SIGINT, -signal.SIGTERM):
            raise KeyboardInterrupt
        return RunOutcome(child.run, child.action, code, time.monotonic() - child.t0)


def _stop(running: list[_Child]) -> None:
    """Ctrl-C or an error here: let every child checkpoint and stop (SIGTERM = interrupt)."""
    for child in running:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in running:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
        child.log.close()


def _abandon(engine: Engine, running: list[_Child]) -> None:
    """The engine went away under these runs: stop them (they are resumed elsewhere)."""
    for child in running:
        if child.slot.engine is engine and child.proc.poll() is None and child.kill_at is None:
            child.proc.send_signal(signal.SIGTERM)
            child.kill_at = time.monotonic() + LOST_GRACE_S


def _kill_overdue(running: list[_Child]) -> None:
    now = time.monotonic()
    for child in running:
        if child.kill_at is not None and now >= child.kill_at and child.proc.poll() is None:
            child.proc.kill()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
