"""Two real Docker engines on one machine: the default one and a second `dockerd` with its own
socket, data root and containerd (scripts/second-engine.sh). An ablation with Level 2 spreads its
runs (and so their smoke tests and mechanism hosts) over both; when the second engine dies
mid-ablation its run is resumed on the first and the results equal a one-engine ablation's; when
no engine is left the ablation stops with a clear error and continues later, nothing lost.

Needs root (dockerd) and the sandbox image; locally they are skipped without them, with CI=true
they fail. Starting the engine and loading the ~1 GB image into it happens once per module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from engine_assignments import read_assignments

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.sandbox.lifecycle import LABEL_OWNER, LABEL_PID, OWNER_VALUE, sweep_orphans

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "second-engine.sh"
FIRST = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
OUR_LABEL = f"{LABEL_OWNER}={OWNER_VALUE}"
OBJECTIVE = '''
import os, time

SPACE = {"x": {"type": "float", "low": -5.0, "high": 5.0, "default": 4.0},
         "y": {"type": "float", "low": -5.0, "high": 5.0, "default": -3.0}}
DIRECTION = "minimize"

def objective(params):
    time.sleep(float(os.environ.get("OBJECTIVE_DELAY", "0")))
    return (params["x"] - 1.3) ** 2 + 2 * (params["y"] + 0.4) ** 2 + 0.3 * abs(params["x"] * params["y"])
'''
# Level 2 every 3 iterations: each run has 5 research sessions (smoke tests) and a mechanism host.
SHAPE = ("--groups", "C,D", "--repeats", "2", "--iterations", "16", "--baselines", "", "--level2-every", "3",
         "--no-progress")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the second Docker engine cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class SecondEngine:
    dir: Path
    unix: str
    tcp: str
    port: int
    start_s: float  # dockerd start + image load, measured

    def _script(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300)

    def kill(self) -> None:
        done = self._script("kill", str(self.dir))
        assert done.returncode == 0, done.stderr

    def restart(self) -> None:
        """Same roots (its image is kept); a restart after a kill stops the containers it left."""
        done = self._script("start", str(self.dir), "--tcp", str(self.port))
        assert done.returncode == 0, done.stderr

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.unix, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def second_engine(sandbox_ready: None) -> Iterator[SecondEngine]:
    if os.geteuid() != 0:
        _unavailable("a second dockerd needs root")
    if shutil.which("dockerd") is None:
        _unavailable("no dockerd (bash scripts/install-docker.sh)")
    root = Path(tempfile.mkdtemp(prefix="evd2-", dir="/tmp"))  # short: unix socket paths are capped at 108
    port = _free_port()
    t0 = time.monotonic()
    started = subprocess.run(["bash", str(SCRIPT), "start", str(root), "--tcp", str(port)], capture_output=True,
                             text=True, timeout=600)
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(root)], capture_output=True, timeout=300)
        _unavailable(f"the second engine did not start: {started.stderr.strip()[-500:]}")
    engine = SecondEngine(root, f"unix://{root}/docker.sock", f"tcp://127.0.0.1:{port}", port,
                          time.monotonic() - t0)
    print(f"\nsecond engine started and sandbox image loaded in {engine.start_s:.1f} s", file=sys.stderr)
    try:
        yield engine
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop", str(root)], capture_output=True, text=True,
                                 timeout=300)
        assert stopped.returncode == 0, stopped.stderr
        assert not root.exists(), "the second engine's directories were not removed"


@pytest.fixture(scope="module")
def objective_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("objective") / "objective.py"
    path.write_text(OBJECTIVE)
    return path


def _argv(objective: Path, out: Path, *extra: str) -> list[str]:
    return ["ablate", "--domain", f"function:{objective}", *SHAPE, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def reference(objective_file: Path, tmp_path_factory: pytest.TempPathFactory, sandbox_ready: None) -> Path:
    """The same ablation on the default engine alone (W=2: results do not depend on W)."""
    out = tmp_path_factory.mktemp("reference") / "abl"
    assert main(_argv(objective_file, out, "--workers", "2")) == 0
    return out


def _steps_done(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / "checkpoint.json").read_text())["steps_done"])
    except (OSError, ValueError, KeyError):
        return -1


def _runs_on(out: Path) -> dict[str, list[tuple[str, str, int]]]:
    """engine -> [(run, action, pid)] in the order they were started."""
    got: dict[str, list[tuple[str, str, int]]] = {}
    for event in read_assignments(out):
        if event["event"] == "run":
            got.setdefault(event["engine"], []).append((event["run"], event["action"], event["pid"]))
    return got


def _created_by(client: docker.DockerClient, since: float) -> list[dict[str, Any]]:
    """Labels of every container of ours the engine created since `since` (its event log)."""
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create", "label": OUR_LABEL})
    return [e["Actor"]["Attributes"] for e in events]


def _left(client: docker.DockerClient, pids: set[int]) -> list[str]:
    # The low-level listing carries the labels: no per-container inspect that races with a container
    # another engine (or test session) removes mid-listing.
    every = client.api.containers(all=True, filters={"label": OUR_LABEL})
    return [(c.get("Names") or [c["Id"][:12]])[0].lstrip("/") for c in every
            if (c.get("Labels") or {}).get(LABEL_PID) in {str(p) for p in pids}]


def _wait_for(what: Callable[[], bool], proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert proc.poll() is None, "the ablation ended before the engine could be killed"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_runs_spread_over_two_engines_and_find_what_one_engine_finds(
        second_engine: SecondEngine, objective_file: Path, reference: Path, tmp_path: Path,
        sequences: Callable[[Path], dict[str, list[tuple]]]) -> None:
    out, t0 = tmp_path / "abl", time.time() - 1
    assert main(_argv(objective_file, out, "--docker-host", FIRST, "--docker-host", second_engine.unix)) == 0
    on = _runs_on(out)
    assert set(on) == {FIRST, second_engine.unix}, "both engines get runs"
    assert sorted(r for runs in on.values() for r, _, _ in runs) == ["C-r1", "C-r2", "D-r1", "D-r2"]
    assert sequences(out) == sequences(reference)
    first, second = docker.DockerClient(base_url=FIRST, timeout=30), second_engine.client()
    try:
        for client, url in ((first, FIRST), (second, second_engine.unix)):
            mine = {pid for _, _, pid in on[url]}
            pids = {int(labels[LABEL_PID]) for labels in _created_by(client, t0)}
            others = {pid for u, runs in on.items() if u != url for _, _, pid in runs}
            assert pids & mine, f"the runs given to {url} made their containers there"
            assert not pids & others, f"no run given elsewhere made a container on {url}"
            assert _left(client, mine) == []
    finally:
        first.close()
        second.close()


def test_a_lost_engine_s_run_is_resumed_on_the_other_with_nothing_lost_or_repeated(
        second_engine: SecondEngine, objective_file: Path, reference: Path, tmp_path: Path,
        ablate_cmd: Callable[..., list[str]], sequences: Callable[[Path], dict[str, list[tuple]]],
        trace: Callable[[Path], list[dict]]) -> None:
    out = tmp_path / "abl"
    argv = [sys.executable, "-m", "bilevel_evolve.engine.cli", *_argv(objective_file, out, "--docker-host", FIRST,
                                                          "--docker-host", second_engine.tcp)]
    proc = subprocess.Popen(argv, env={**os.environ, "OBJECTIVE_DELAY": "0.1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: second_engine.tcp in _runs_on(out), proc)
        victim = _runs_on(out)[second_engine.tcp][0][0]
        _wait_for(lambda: _steps_done(out / "runs" / victim) >= 5, proc)  # past its first Level 2 session
        second_engine.kill()
        stopped_at = _steps_done(out / "runs" / victim)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        second_engine.restart()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert stopped_at < 17, "the kill must land inside the run"

    events = read_assignments(out)
    kinds = [(e["event"], e.get("run") or e.get("engine")) for e in events]
    assert ("lost", second_engine.tcp) in kinds and ("requeued", victim) in kinds
    lost_at = kinds.index(("lost", second_engine.tcp))
    assert all(e["engine"] == FIRST for e in events[lost_at:] if e["event"] == "run"), "nothing went to the dead engine"
    assert (victim, "resumed") in [(r, a) for r, a, _ in _runs_on(out)[FIRST]]

    assert sequences(out) == sequences(reference)  # also: every step once, none missing
    started_resumed = [e["kind"] for e in trace(out / "runs" / victim)]
    assert started_resumed.count("run_started") == 1 and started_resumed.count("run_resumed") >= 1
    assert main(["archive", "--archive", str(out / "archive"), "verify"]) == 0

    pids = {pid for runs in _runs_on(out).values() for _, _, pid in runs}
    second = second_engine.client()
    try:  # what the crash stranded on the second engine: its owners are dead, so the sweep takes it
        sweep_orphans(second)
        assert _left(second, pids) == []
    finally:
        second.close()
    first = docker.DockerClient(base_url=FIRST, timeout=30)
    try:
        assert _left(first, pids) == []
    finally:
        first.close()


def test_with_every_engine_gone_the_ablation_stops_clearly_and_continues_later(
        second_engine: SecondEngine, objective_file: Path, reference: Path, tmp_path: Path,
        sequences: Callable[[Path], dict[str, list[tuple]]]) -> None:
    out = tmp_path / "abl"
    argv = [sys.executable, "-m", "bilevel_evolve.engine.cli",
            *_argv(objective_file, out, "--docker-host", second_engine.unix)]
    proc = subprocess.Popen(argv, env={**os.environ, "OBJECTIVE_DELAY": "0.1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _steps_done(out / "runs" / "C-r1") >= 5, proc)
        second_engine.kill()
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        second_engine.restart()
    message = stderr.decode()
    assert proc.returncode == 1, message[-2000:]
    assert "no Docker engine answers" in message and second_engine.unix in message
    assert "repeat the same command" in message

    # the same ablation, now on the first engine: the interrupted run resumes, nothing restarts
    assert main(_argv(objective_file, out, "--docker-host", FIRST)) == 0
    assert sequences(out) == sequences(reference)
    assert ("C-r1", "resumed") in [(r, a) for r, a, _ in _runs_on(out)[FIRST]]


def test_a_lost_engine_rejoins_the_pool_when_it_answers_again(second_engine: SecondEngine, tmp_path: Path) -> None:
    from bilevel_evolve.sandbox.engine_pool import EnginePool, parse_engines

    pool = EnginePool(parse_engines([second_engine.unix], 1), tmp_path / "engines.jsonl")
    assert pool.check(image=os.environ.get("SANDBOX_IMAGE", "bilevel-evolve-sandbox:latest")) == []
    second_engine.kill()
    try:
        assert not pool.answers(pool.engines[0])
        assert pool.acquire() is None
        assert not pool.revive_any()
    finally:
        second_engine.restart()
    assert pool.revive_any()
    slot = pool.acquire()
    assert slot is not None and slot.environment() == {"DOCKER_HOST": second_engine.unix}
    assert [e["event"] for e in read_assignments(tmp_path)] == ["lost", "rejoined"]
