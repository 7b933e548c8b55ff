"""Drive the real `evolve` CLI through SIGKILLs at chosen points of the run, then let it finish.

A kill point is a count of steps decided (`decision` lines in the trace), so where a kill lands is a
property of the run, not of how fast the machine runs it. The last attempt is never killed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

HANG_GUARD_S = 600  # only so that a run that stopped making progress fails instead of hanging the suite
POLL_S = 0.005
DECISION = b'"kind":"decision"'  # JSON escapes quotes inside strings: this is only ever a real event kind
RESUMED = b'"kind":"run_resumed"'

# An objective file with one parameter of each kind and a little sleep per trial (kills land mid-run).
MIXED_SPACE_OBJECTIVE = '''
import time

SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0, "default": 4.0},
    "y": {"type": "float", "low": 1e-3, "high": 10.0, "log": True, "default": 5.0},
    "k": {"type": "int", "low": 1, "high": 20, "default": 17},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
}
DIRECTION = "minimize"

def objective(params):
    time.sleep(0.01)
    return (params["x"] - 1) ** 2 + abs(params["y"] - 0.3) + params["k"] * 0.1 + len(params["act"]) * 0.01
'''


def evolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bilevel_evolve.engine.cli", *args]


def run_status(run_dir: Path) -> str | None:
    checkpoint = run_dir / "checkpoint.json"
    return json.loads(checkpoint.read_text())["status"] if checkpoint.exists() else None


def reference_run(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path) -> None:
    """Run `evolve run ARGS --run-dir RUN_DIR` uninterrupted."""
    subprocess.run(evolve_cmd("run", *run_args, "--run-dir", str(run_dir)), check=True, env=env,
                   capture_output=True, cwd=cwd, timeout=HANG_GUARD_S)


def run_with_kills(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path,
                   kill_after: Sequence[int], after_kill: Callable[[], None] | None = None,
                   first: Sequence[str] | None = None) -> list[int]:
    """Start `evolve run ARGS --run-dir RUN_DIR` and SIGKILL it as soon as its trace holds
    kill_after[0] decisions; `evolve resume` it and kill it at kill_after[1] (or one step past the
    previous kill, whichever is later), and so on; then resume it once more, uncut, to the end.
    `first`: the first attempt's `evolve` arguments instead (a resume of an existing run, e.g.
    `resume RUN_DIR --iterations N`); kill points count the decisions of the whole trace.

    Returns the decisions the trace held at each kill that landed mid-run (the checkpoint still
    `running`). Only a kill that found the run already over can be missing from it: then that
    attempt finished the run uncut, and no more are made. `after_kill` is called after each of those."""
    assert all(point >= 1 for point in kill_after), "a run killed before its first step may not exist yet"
    landed: list[int] = []
    # the run_resumed lines an attempt waits for: those already there, and its own
    resumes_before = _trace(run_dir).count(RESUMED) + (1 if first is not None and first[0] == "resume" else 0)
    for attempt, point in enumerate(sorted(kill_after)):
        target = max(point, landed[-1] + 1) if landed else point
        with _attempt(run_args, run_dir, env=env, cwd=cwd, resume=attempt > 0,
                      first=first if attempt == 0 else None) as run:
            if not run.wait_for(decisions=target, resumes=resumes_before + attempt):
                run.check_finished()  # it ended before the kill point
                return landed
            run.kill()
        if run_status(run_dir) == "completed":  # the kill came after the final checkpoint
            return landed
        landed.append(_trace(run_dir).count(DECISION))
        if after_kill is not None:
            after_kill()
    with _attempt(run_args, run_dir, env=env, cwd=cwd, resume=bool(kill_after),
                  first=None if kill_after else first) as run:
        run.proc.wait(timeout=HANG_GUARD_S)
        run.check_finished()
    return landed


def _trace(run_dir: Path) -> bytes:
    trace = run_dir / "trace.jsonl"
    return trace.read_bytes() if trace.exists() else b""


@contextmanager
def _attempt(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path, resume: bool,
             first: Sequence[str] | None = None) -> Iterator[_Attempt]:
    """One `evolve run` or `evolve resume` process (`first`: these `evolve` arguments). Its stderr goes
    to a file, not a pipe: a pipe that nobody reads until the end could fill and stall the run."""
    cmd = (evolve_cmd(*first) if first is not None
           else evolve_cmd("resume", str(run_dir), "--no-progress") if resume
           else evolve_cmd("run", *run_args, "--run-dir", str(run_dir)))
    with tempfile.TemporaryFile() as stderr:
        attempt = _Attempt(subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr),
                           stderr, run_dir)
        try:
            yield attempt
        finally:
            if attempt.proc.poll() is None:
                attempt.kill()


@dataclass
class _Attempt:
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    run_dir: Path

    def wait_for(self, *, decisions: int, resumes: int) -> bool:
        """Until the trace holds `decisions` decisions written by this attempt (True), or the
        process exits (False). A resumed attempt writes its run_resumed line first: until then the
        trace may still be the killed attempt's, tail and all, and counting it would kill too early."""
        deadline = time.monotonic() + HANG_GUARD_S
        while self.proc.poll() is None:
            data = _trace(self.run_dir)
            if data.count(RESUMED) >= resumes and data.count(DECISION) >= decisions:
                return True
            if time.monotonic() > deadline:
                pytest.fail(f"the run made no progress to {decisions} decisions")
            time.sleep(POLL_S)
        return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def check_finished(self) -> None:
        self.stderr.seek(0)
        stderr = self.stderr.read().decode(errors="replace")
        assert self.proc.returncode == 0, stderr
        assert run_status(self.run_dir) == "completed", stderr


def decided_trials(run_dir: Path) -> list[tuple]:
    """(step, params, value, status, accepted) of every trial in a run's trace, each step exactly once."""
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    accepted = {e["step"]: e["accepted"] for e in events if e["kind"] == "decision"}
    trials = [e for e in events if e["kind"] == "trial"]
    assert [t["step"] for t in trials] == list(range(len(trials))), "a trial was lost or traced twice"
    return [(t["step"], t["params"], t["value"], t["status"], accepted[t["step"]]) for t in trials]
