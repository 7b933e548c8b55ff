"""Run an ablation's plan: each run is a child `evolve run` (or `evolve resume`) process, W at once.

Runs are separate processes so they share nothing but the archive (which takes concurrent
writers): a run's result depends only on its own seed and config, never on which runs were
beside it, so W workers find exactly what one worker finds. Children are started from this
(single) thread and die with it (PR_SET_PDEATHSIG on Linux), so a killed ablation never leaves
runs going on behind the next one; each interrupted run is later resumed, never restarted.
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

from engine.ablation.progress import AblationProgress
from engine.ablation.spec import AblationSpec, PlannedRun, plan
from engine.ablation.store import clear_leftover, log_path, run_dir, run_state
from engine.errors import EvolveError

POLL_S = 0.05
STOP_GRACE_S = 30.0
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
    t0: float = field(default_factory=time.monotonic)


def run_command(spec: AblationSpec, out: Path, run: PlannedRun, action: Action,
                python: str = sys.executable) -> list[str]:
    base = [python, "-m", "engine.cli"]
    path = str(run_dir(out, run.name))
    if action == "resumed":
        return [*base, "resume", path, "--no-progress"]
    return [*base, "run", "--domain", spec.domain, "--iterations", str(spec.iterations),
            "--levels", ",".join(run.levels), "--agent", run.agent, "--seed", str(run.seed),
            "--run-dir", path, "--archive", spec.archive, "--no-progress", *spec.options.cli_args()]


class AblationExecutor:
    def __init__(self, spec: AblationSpec, out: Path, *, workers: int = 1, progress: bool = True,
                 python: str = sys.executable) -> None:
        self.spec = spec
        self.out = out.resolve()
        self.workers = max(1, workers)
        self.progress = progress
        self.python = python

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
        with AblationProgress(len(runs), len(outcomes), self.out, enabled=self.progress) as bar:
            try:
                while queue or running:
                    while queue and len(running) < self.workers:
                        running.append(self._launch(*queue.pop(0)))
                    time.sleep(POLL_S)
                    for child in [c for c in running if c.proc.poll() is not None]:
                        running.remove(child)
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

    def _launch(self, run: PlannedRun, action: Action) -> _Child:
        path = run_dir(self.out, run.name)
        if action == "started":
            clear_leftover(path)
        cmd = run_command(self.spec, self.out, run, action, self.python)
        log = log_path(self.out, run.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = log.open("ab")
        fh.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {action}: {' '.join(cmd)}\n".encode())
        fh.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=_die_with_parent)
        return _Child(run, action, proc, fh)

    def _reap(self, child: _Child) -> RunOutcome:
        child.log.close()
        code = child.proc.returncode
        if code in (130, -signal.SIGINT, -signal.SIGTERM):
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


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
