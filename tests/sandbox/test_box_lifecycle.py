"""Cases 21-23: no container outlives its engine; clear errors, never a pull; concurrent tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox.lifecycle import LABEL_PID

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
ENGINE = """
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.box import run_smoke_test
from bilevel_evolve.sandbox.container_spec import BoxLimits
SLEEPER = '''
import time
class Sleeper:
    def propose(self, ctx):
        time.sleep(120)
MECHANISM = Sleeper
'''
report = run_smoke_test(MechanismSource.from_text(SLEEPER), limits=BoxLimits(deadline_s=60, per_call_s=90))
print(report.status, flush=True)
"""
SWEEP = (
    "from bilevel_evolve.sandbox.image import connect; from bilevel_evolve.sandbox.lifecycle import sweep_orphans; "
    "print(sweep_orphans(connect()))"
)
QUICK = """
class Quick:
    def propose(self, ctx):
        return None
MECHANISM = Quick
"""


def _start_engine(engine_pids: set[int]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", ENGINE], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    engine_pids.add(proc.pid)
    return proc


def _wait_for_running(our_containers, pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.status == "running" for c in our_containers(**{LABEL_PID: str(pid)})):
            time.sleep(0.5)  # the smoke test is under way
            return
        time.sleep(0.1)
    raise AssertionError("the engine subprocess never started its smoke-test container")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_engine_removes_its_container(our_containers, engine_pids, sig: signal.Signals) -> None:
    proc = _start_engine(engine_pids)
    try:
        _wait_for_running(our_containers, proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert our_containers(**{LABEL_PID: str(proc.pid)}) == []


@pytest.mark.slow
def test_container_of_a_sigkilled_engine_is_swept_at_the_next_start(our_containers, engine_pids) -> None:
    proc = _start_engine(engine_pids)
    _wait_for_running(our_containers, proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    assert our_containers(**{LABEL_PID: str(proc.pid)}), "SIGKILL cannot be handled: the container stays"
    restarted = subprocess.run([sys.executable, "-c", SWEEP], cwd=ROOT, capture_output=True, text=True,
                               timeout=60, check=True)
    assert "bilevel-smoke" in restarted.stdout  # (an engine of another session sharing this Docker may sweep first)
    assert our_containers(**{LABEL_PID: str(proc.pid)}) == []


def test_sweep_leaves_containers_of_live_engines_alone(docker_client, sandbox_image, our_containers) -> None:
    from bilevel_evolve.sandbox.container_spec import BoxLimits, hardened_settings
    from bilevel_evolve.sandbox.lifecycle import REGISTRY

    settings = hardened_settings(image=sandbox_image, command=["sleep", "30"], kind="host", limits=BoxLimits())
    container = docker_client.containers.create(**settings)
    REGISTRY.add(settings["name"])
    try:
        container.start()
        other_engine = subprocess.run([sys.executable, "-c", SWEEP], cwd=ROOT, capture_output=True, text=True,
                                      timeout=60, check=True)
        assert settings["name"] not in other_engine.stdout
        assert [c.name for c in our_containers(**{LABEL_PID: str(os.getpid())})
                if c.name == settings["name"]] == [settings["name"]]
    finally:
        container.remove(force=True)
        REGISTRY.discard(settings["name"])


def test_missing_image_is_a_clear_error_and_never_a_pull(docker_client, our_containers) -> None:
    from bilevel_evolve.sandbox.box import run_smoke_test

    before = {c.id for c in our_containers()}
    with pytest.raises(EvolveError) as err:
        run_smoke_test(MechanismSource.from_text(QUICK), image="bilevel-evolve-sandbox:no-such-tag",
                       client=docker_client)
    assert "image bilevel-evolve-sandbox:no-such-tag missing: run scripts/build-image.sh" in str(err.value)
    assert {c.id for c in our_containers()} == before
    tags = [t for image in docker_client.images.list() for t in image.tags]
    assert "bilevel-evolve-sandbox:no-such-tag" not in tags


def test_unreachable_engine_is_a_clear_error(monkeypatch) -> None:
    from bilevel_evolve.sandbox.image import connect

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(EvolveError) as err:
        connect(timeout_s=5)
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in err.value.problem
    assert "systemctl start docker" in err.value.fix and "dockerd" in err.value.fix


def test_gpu_without_nvidia_runtime_is_refused_before_any_container(docker_client, sandbox_image,
                                                                     our_containers) -> None:
    from bilevel_evolve.sandbox import gpu
    from bilevel_evolve.sandbox.box import run_smoke_test

    if gpu.probe(docker_client).available:
        pytest.skip("this engine has an NVIDIA runtime")
    before = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)}
    with pytest.raises(EvolveError) as err:
        run_smoke_test(MechanismSource.from_text(QUICK), gpu_wanted=True, client=docker_client, image=sandbox_image)
    assert "no NVIDIA runtime" in err.value.problem
    created = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)} - before
    # not even a "Created" one (of this engine: other sessions may share the Docker engine meanwhile)
    assert not [c for c in our_containers(**{LABEL_PID: str(os.getpid())}) if c.id in created]


def test_no_gpu_means_a_plain_cpu_run(box, docker_client) -> None:
    from bilevel_evolve.sandbox import gpu

    if gpu.probe(docker_client).available:
        pytest.skip("this engine has an NVIDIA runtime")
    report = box(QUICK, gpu=None)
    assert report.status == "PASSED"
    assert report.device == "device: cpu (no NVIDIA runtime found)"


def test_two_smoke_tests_of_one_mechanism_at_once_are_independent(box) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: box(QUICK), range(2)))
    assert [r.status for r in reports] == ["PASSED", "PASSED"]
    assert reports[0].container != reports[1].container
    assert reports[0].sha256 == reports[1].sha256
    assert reports[0].verdict.nonce != reports[1].verdict.nonce


def test_a_create_whose_answer_never_came_leaves_no_container(docker_client, sandbox_image, our_containers,
                                                              monkeypatch) -> None:
    """A busy engine makes the container but its answer times out on our side: the box still removes it."""
    import requests
    from docker.models.containers import ContainerCollection

    from bilevel_evolve.sandbox.box import run_smoke_test

    real_create = ContainerCollection.create
    made: list[str] = []

    def create_then_time_out(self: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(real_create(self, *args, **kwargs).name)
        raise requests.exceptions.ReadTimeout("read timed out")

    monkeypatch.setattr(ContainerCollection, "create", create_then_time_out)
    with pytest.raises(EvolveError) as err:
        run_smoke_test(MechanismSource.from_text(QUICK), client=docker_client)
    assert "the Docker engine failed during the smoke test" in str(err.value)
    assert len(made) == 1 and [c.name for c in our_containers() if c.name in made] == []


def test_a_removal_that_times_out_is_retried_until_the_container_is_gone(docker_client, sandbox_image,
                                                                         our_containers, monkeypatch) -> None:
    import requests

    from bilevel_evolve.sandbox.box import run_smoke_test
    from bilevel_evolve.sandbox.lifecycle import REGISTRY, REMOVE_ATTEMPTS

    real_remove = docker_client.api.remove_container
    refused: list[str] = []

    def busy_then_remove(container: str, **kwargs: Any) -> Any:
        if str(container).startswith("bilevel-smoke-") and len(refused) < REMOVE_ATTEMPTS - 1:
            refused.append(str(container))
            raise requests.exceptions.ReadTimeout("read timed out")
        return real_remove(container, **kwargs)

    monkeypatch.setattr(docker_client.api, "remove_container", busy_then_remove)
    report = run_smoke_test(MechanismSource.from_text(QUICK), client=docker_client)
    assert report.ok, report
    assert len(refused) == REMOVE_ATTEMPTS - 1 and report.container == refused[0]
    assert [c.name for c in our_containers() if c.name == report.container] == []
    assert report.container not in REGISTRY.live()
