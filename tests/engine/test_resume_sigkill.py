"""Kill the real `evolve` process with SIGKILL at random points, resume each time, and compare
the trial sequence with an uninterrupted run of the same seed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

OBJECTIVE = '''
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


def _evolve(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def _sequence(run_dir: Path) -> list[tuple]:
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    decisions = {e["step"]: e["accepted"] for e in events if e["kind"] == "decision"}
    trials = [e for e in events if e["kind"] == "trial"]
    assert [t["step"] for t in trials] == list(range(len(trials))), "a trial was lost or repeated"
    return [(t["step"], t["params"], t["value"], t["status"], decisions[t["step"]]) for t in trials]


def _finished(run_dir: Path) -> bool:
    checkpoint = run_dir / "checkpoint.json"
    return checkpoint.exists() and json.loads(checkpoint.read_text())["status"] == "completed"


@pytest.mark.slow
def test_resume_after_repeated_sigkill_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    objective = tmp_path / "objective.py"
    objective.write_text(OBJECTIVE)
    common = ["--domain", f"function:{objective}", "--iterations", "200", "--seed", "11", "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(_evolve("run", *common, "--run-dir", str(tmp_path / "ref")), check=True, env=env,
                   capture_output=True, cwd=tmp_path)
    reference = _sequence(tmp_path / "ref")

    run_dir = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    for _attempt in range(40):
        if _finished(run_dir):  # the last kill landed after the final checkpoint
            break
        started = (run_dir / "config.json").exists()
        cmd = _evolve("resume", str(run_dir), "--no-progress") if started else _evolve(
            "run", *common, "--run-dir", str(run_dir))
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.5, 1.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert proc.returncode == 0, stderr
        break
    else:
        pytest.fail("the run never finished")
    assert kills >= 3, f"only {kills} kills landed mid-run; the test did not test resume"
    assert _sequence(run_dir) == reference
    resumed = [json.loads(x) for x in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert sum(1 for e in resumed if e["kind"] == "run_resumed") >= 1
