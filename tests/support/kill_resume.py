"""Drive the real `evolve` CLI to completion while SIGKILLing it at random moments."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def evolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bilevel_evolve.engine.cli", *args]


def finished(run_dir: Path) -> bool:
    checkpoint = run_dir / "checkpoint.json"
    return checkpoint.exists() and json.loads(checkpoint.read_text())["status"] == "completed"


def reference_run(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path) -> float:
    """Run `evolve run ARGS --run-dir RUN_DIR` uninterrupted; return its wall-clock seconds."""
    started = time.monotonic()
    subprocess.run(evolve_cmd("run", *run_args, "--run-dir", str(run_dir)), check=True, env=env,
                   capture_output=True, cwd=cwd, timeout=600)
    return time.monotonic() - started


def run_with_random_kills(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path,
                          rng: random.Random, reference_s: float, attempts: int = 40) -> int:
    """Start `evolve run ARGS --run-dir RUN_DIR`, kill it after a random 25-50 % of the
    uninterrupted run's time, then `evolve resume` (killed the same way) until the run completes.
    Each attempt pays the start-up again, so several kills land mid-run however fast the machine
    is. Returns how many kills landed."""
    window_s = (0.25 * reference_s, 0.5 * reference_s)
    kills = 0
    for _ in range(attempts):
        if finished(run_dir):  # the last kill landed after the final checkpoint
            return kills
        started = (run_dir / "config.json").exists()
        cmd = evolve_cmd("resume", str(run_dir), "--no-progress") if started else evolve_cmd(
            "run", *run_args, "--run-dir", str(run_dir))
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(*window_s))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        return kills
    pytest.fail("the run never finished")
