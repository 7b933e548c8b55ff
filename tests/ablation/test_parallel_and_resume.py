"""An ablation's results do not depend on its worker count, and a killed ablation continues where
it stopped: finished runs are kept as they are, the interrupted one is resumed, none restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_workers_find_exactly_what_one_worker_finds(tmp_path: Path, objective: Path, ablate,
                                                        sequences) -> None:  # type: ignore[no-untyped-def]
    assert ablate(objective, tmp_path / "w1", "--workers", "1", baselines="random,optuna") == 0
    assert ablate(objective, tmp_path / "w2", "--workers", "2", baselines="random,optuna") == 0
    one, two = sequences(tmp_path / "w1"), sequences(tmp_path / "w2")
    assert sorted(one) == ["A-r1", "A-r2", "B-r1", "B-r2", "optuna-r1", "optuna-r2", "random-r1", "random-r2"]
    assert one == two
    assert one["random-r1"] != one["random-r2"]  # repeats are seeded apart
    summary = json.loads((tmp_path / "w2" / "summary.json").read_text())
    assert [g["label"] for g in summary["groups"]] == ["A", "B", "random", "optuna"]


def test_repeating_a_finished_ablation_runs_nothing_again(tmp_path: Path, objective: Path,
                                                          ablate) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "abl"
    assert ablate(objective, out, repeats=1, iterations=3) == 0
    traces = {p: p.read_bytes() for p in (out / "runs").glob("*/trace.jsonl")}
    assert ablate(objective, out, repeats=1, iterations=3) == 0
    assert {p: p.read_bytes() for p in (out / "runs").glob("*/trace.jsonl")} == traces


def _steps_done(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / "checkpoint.json").read_text())["steps_done"])
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.slow
def test_a_sigkilled_ablation_continues_without_restarting_any_run(
        tmp_path: Path, objective: Path, ablate, ablate_cmd, sequences, trace) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "OBJECTIVE_DELAY": "0.03"}
    kw = {"repeats": 2, "iterations": 25}
    os.environ["OBJECTIVE_DELAY"] = "0.03"
    try:
        assert ablate(objective, tmp_path / "reference", **kw) == 0
    finally:
        del os.environ["OBJECTIVE_DELAY"]
    out = tmp_path / "killed"
    proc = subprocess.Popen(ablate_cmd(objective, out, **kw), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    victim = out / "runs" / "B-r1"  # plan order: A-r1, B-r1, random-r1, A-r2, ...
    deadline = time.monotonic() + 60
    while _steps_done(victim) < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = _steps_done(victim)
    assert 8 <= stopped_at < 26, "the kill must land inside B-r1"
    time.sleep(0.5)
    assert _steps_done(victim) == stopped_at, "the run's process outlived the killed ablation"
    finished_before = (out / "runs" / "A-r1" / "trace.jsonl").read_bytes()
    assert not (out / "runs" / "random-r1").exists()

    resumed = subprocess.run(ablate_cmd(objective, out, **kw), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 of 6 runs already finished" in resumed.stderr
    assert (out / "runs" / "A-r1" / "trace.jsonl").read_bytes() == finished_before
    kinds = [e["kind"] for e in trace(victim)]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == 1
    assert sequences(out) == sequences(tmp_path / "reference")
