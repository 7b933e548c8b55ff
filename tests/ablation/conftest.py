from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main

# Cheap, deterministic, and with every kind of parameter (log float, log int, choice).
OBJECTIVE = '''
import math, time

SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0, "default": 4.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "default": 0.1},
    "k": {"type": "int", "low": 1, "high": 64, "log": True, "default": 48},
    "act": {"type": "choice", "choices": ["relu", "gelu", "tanh"], "default": "relu"},
}
DIRECTION = "minimize"
DELAY = float(__import__("os").environ.get("OBJECTIVE_DELAY", "0"))

def objective(params):
    time.sleep(DELAY)
    return ((params["x"] - 1.3) ** 2 + (math.log10(params["lr"]) + 2.5) ** 2
            + 0.05 * abs(params["k"] - 5) + {"relu": 0.3, "gelu": 0.0, "tanh": 0.6}[params["act"]])
'''


@pytest.fixture
def objective(tmp_path: Path) -> Path:
    path = tmp_path / "objective.py"
    path.write_text(OBJECTIVE)
    return path


def ablate_args(objective: Path, out: Path, *extra: str, groups: str = "A,B", repeats: int = 2,
                iterations: int = 6, baselines: str = "random") -> list[str]:
    return ["ablate", "--domain", f"function:{objective}", "--groups", groups, "--repeats", str(repeats),
            "--iterations", str(iterations), "--baselines", baselines, "--out", str(out), "--no-progress", *extra]


@pytest.fixture
def ablate() -> Callable[..., int]:
    """`evolve ablate` in this process (its runs are child processes, as always)."""
    def run(objective: Path, out: Path, *extra: str, **kw: object) -> int:
        return main(ablate_args(objective, out, *extra, **kw))  # type: ignore[arg-type]
    return run


@pytest.fixture
def ablate_cmd() -> Callable[..., list[str]]:
    """The argv of `evolve ablate` as a separate process (to kill it)."""
    def cmd(objective: Path, out: Path, *extra: str, **kw: object) -> list[str]:
        return [sys.executable, "-m", "bilevel_evolve.engine.cli", *ablate_args(objective, out, *extra, **kw)]  # type: ignore[arg-type]
    return cmd


def _trace(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def _sequence(run_dir: Path) -> list[tuple]:
    """What a run found: every trial in order with its decision (timestamps left out)."""
    events = _trace(run_dir)
    decisions = {e["step"]: e["accepted"] for e in events if e["kind"] == "decision"}
    trials = [e for e in events if e["kind"] == "trial"]
    assert [t["step"] for t in trials] == list(range(len(trials))), "a trial was lost or repeated"
    return [(t["step"], t["params"], t["value"], t["status"], decisions[t["step"]]) for t in trials]


def _sequences(out: Path) -> dict[str, list[tuple]]:
    return {d.name: _sequence(d) for d in sorted((out / "runs").iterdir())}


@pytest.fixture
def trace() -> Callable[[Path], list[dict]]:
    return _trace


@pytest.fixture
def sequences() -> Callable[[Path], dict[str, list[tuple]]]:
    return _sequences
