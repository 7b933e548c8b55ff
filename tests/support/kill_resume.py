"""Drive the real `evolve` CLI to completion while SIGKILLing it at random moments."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def evolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def finished(run_dir: Path) -> bool:
    checkpoint = run_dir / "checkpoint.json"
    return checkpoint.exists() and json.loads(checkpoint.read_text())["status"] == "completed"


def run_with_random_kills(run_args: list[str], run_dir: Path, *, env: dict[str, str], cwd: Path,
                          rng: random.Random, window_s: tuple[float, float], attempts: int = 40) -> int:
    """Start `evolve run ARGS --run-dir RUN_DIR`, kill it after a random time in window_s, then
    `evolve resume` (again killed at random) until the run completes. Returns how many kills landed."""
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
