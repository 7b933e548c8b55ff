"""`--executor ray` on a real two-node Ray cluster on loopback: the same decisions as the local twin, a
killed worker node whose in-flight trials are run again elsewhere (none lost, none traced twice), and
clear errors for an unreachable address and for a node that cannot import bilevel_evolve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kill_resume import decided_trials
from ray_cluster import RayCluster, require_ray, two_node_cluster

from bilevel_evolve.engine.cli.main import main

HANG_GUARD_S = 600
# The trial notes where it ran (the raylet of its node) and sleeps long enough to be caught in flight.
TRIAL = r'''
S=$(basename "$EVOLVE_TRIAL_DIR")
echo "start $S ${RAY_RAYLET_PID-local}" >> "$MARKS"
sleep $SLEEP_S
echo "end $S" >> "$MARKS"
awk "BEGIN{print \"score: \" ($EVOLVE_PARAM_X - 1)^2 + ($EVOLVE_PARAM_Y - 2)^2}"
'''
SPEC = {"command": ["sh", "trial.sh"], "metric_regex": "score: ([0-9.eE+-]+)", "param_style": "env",
        "space": {"x": {"type": "float", "low": -5, "high": 5, "default": 3},
                  "y": {"type": "float", "low": -5, "high": 5, "default": -3}}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with two_node_cluster(head_cpus=1, worker_cpus=2) as started:
        yield started


def _spec(tmp_path: Path, name: str, sleep_s: float) -> tuple[Path, Path]:
    """A spec whose trials note themselves in NAME.marks (the spec's env travels with a Ray task; the
    driver's environment does not: a task sees its node's)."""
    (tmp_path / "trial.sh").write_text(TRIAL)
    marks = tmp_path / f"{name}.marks"
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({**SPEC, "env": {"MARKS": str(marks), "SLEEP_S": str(sleep_s)}}))
    return path, marks


def _args(spec: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["run", "--domain", f"command:{spec}", "--iterations", "14", "--seed", "7", "--workers", "3",
            "--run-dir", str(run_dir), "--no-progress", *extra]


def _evolve(args: list[str], cwd: Path, cluster: RayCluster | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(cluster.env if cluster else {}), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bilevel_evolve.engine.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)



def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=HANG_GUARD_S)
    assert proc.returncode == 0, err.decode(errors="replace")


@pytest.mark.slow
def test_a_ray_run_and_its_local_twin_take_the_samedecided_trials(cluster: RayCluster, tmp_path: Path) -> None:
    local_spec, _ = _spec(tmp_path, "local", 0.05)
    ray_spec, ray_marks = _spec(tmp_path, "ray", 0.05)
    local = _evolve(_args(local_spec, tmp_path / "local"), tmp_path)
    on_ray = _evolve(_args(ray_spec, tmp_path / "ray", "--executor", "ray", "--ray-address", cluster.address),
                     tmp_path, cluster)
    _finish(local)
    _finish(on_ray)
    assert decided_trials(tmp_path / "ray") == decided_trials(tmp_path / "local")
    assert (tmp_path / "ray" / "trials" / "00003" / "command.log").is_file()  # the files came back with the task
    ran_on = {line.split()[2] for line in ray_marks.read_text().splitlines() if line.startswith("start")}
    assert len(ran_on) == 2, f"the trials ran on {ran_on}, not on both nodes"


@pytest.mark.slow
def test_a_killed_worker_node_loses_no_trial_and_repeats_none(tmp_path: Path) -> None:
    ray_spec, marks = _spec(tmp_path, "ray", 1.0)
    local_spec, _ = _spec(tmp_path, "local", 0.0)
    # a cluster of its own: this test kills its worker node
    with two_node_cluster(head_cpus=1, worker_cpus=2) as cluster:
        run = _evolve(_args(ray_spec, tmp_path / "ray", "--executor", "ray", "--ray-address", cluster.address),
                      tmp_path, cluster)
        doomed = cluster.worker.raylet_pids()
        deadline = time.monotonic() + HANG_GUARD_S
        while not _in_flight_on(marks, doomed, after_step=4):
            assert run.poll() is None, run.stderr.read().decode(errors="replace") if run.stderr else ""
            assert time.monotonic() < deadline, "no trial ran on the worker node"
            time.sleep(0.05)
        cluster.worker.kill()
        _finish(run)
    _finish(_evolve(_args(local_spec, tmp_path / "local"), tmp_path))
    assert decided_trials(tmp_path / "ray") == decided_trials(tmp_path / "local")
    log = (tmp_path / "ray" / "log.jsonl").read_text()
    assert '"trial_requeued"' in log, "the kill found no trial in flight on the node"


def _in_flight_on(marks: Path, raylets: set[int], after_step: int) -> bool:
    """Whether a trial past after_step runs now on a node with one of these raylets."""
    if not marks.exists():
        return False
    lines = [line.split() for line in marks.read_text().splitlines()]
    ended = {words[1] for words in lines if words[0] == "end"}
    return any(words[0] == "start" and int(words[1]) > after_step and words[1] not in ended
               and words[2].isdigit() and int(words[2]) in raylets for words in lines)


def test_an_unreachable_ray_address_is_named_and_nothing_starts(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    require_ray()
    spec, _ = _spec(tmp_path, "run", 0.0)
    code = main(_args(spec, tmp_path / "run", "--executor", "ray", "--ray-address", "127.0.0.1:9"))
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Ray cluster at 127.0.0.1:9" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


PROBE_A_MISSING_MODULE = """
from bilevel_evolve.engine.run import ray_executor
from bilevel_evolve.ground.errors import UsageError
# the probe imports what a trial needs; a module no node has stands for a node without bilevel-evolve
ray_executor.TASK_MODULE = "bilevel_evolve.not_installed_here"
try:
    ray_executor.RayExecutor("function:branin", {}, workers=1, gpus_per_trial=0, address=%r)
except UsageError as exc:
    print(exc.render())
"""


@pytest.mark.slow
def test_a_node_that_cannot_import_the_project_is_a_clear_error(cluster: RayCluster) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE_A_MISSING_MODULE % cluster.address], capture_output=True,
                         text=True, timeout=HANG_GUARD_S, env={**os.environ, **cluster.env})
    assert re.search(r"Ray node 127\.0\.0\.[23] \w+ cannot run trials: importing "
                     r"bilevel_evolve\.not_installed_here failed there \(ModuleNotFoundError", out.stdout), out
    assert "pip install 'bilevel-evolve[ray]'" in out.stdout
