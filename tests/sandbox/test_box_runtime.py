"""--sandbox-runtime: the sandbox containers under another OCI runtime (gVisor's runsc) where the Docker
engine has it registered, and a clear error naming the fix where it has not.

The runsc tests run where `docker info` lists runsc and are skipped, saying why, where it does not (it
is optional: docs/SANDBOX.md says how to register it).
"""

from __future__ import annotations

import argparse
import json
import platform
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox.container_spec import BoxLimits, hardened_settings
from bilevel_evolve.sandbox.runtime import GVISOR, require_runtime

TABU = Path(__file__).parent / "mechanisms" / "tabu_search.py"


class FakeInfo:
    def __init__(self, *runtimes: str) -> None:
        self.runtimes = runtimes

    def info(self) -> dict[str, Any]:
        return {"Runtimes": {name: {"path": name} for name in self.runtimes}}


def engine_with(*runtimes: str) -> Any:
    """A client that answers `docker info` only."""
    return FakeInfo(*runtimes)


def test_the_default_runtime_needs_no_registration_and_sets_nothing() -> None:
    assert require_runtime(engine_with("runc"), None, None) is None
    settings = hardened_settings(image="x", command=["true"], kind="smoke", limits=BoxLimits())
    assert settings["runtime"] is None
    assert hardened_settings(image="x", command=["true"], kind="smoke",
                             limits=BoxLimits(runtime=GVISOR))["runtime"] == GVISOR


def test_an_unregistered_gvisor_is_an_error_naming_the_fix() -> None:
    with pytest.raises(EvolveError) as caught:
        require_runtime(engine_with("runc", "io.containerd.runc.v2"), GVISOR)
    assert "no runtime 'runsc'" in caught.value.problem
    assert "(it has: io.containerd.runc.v2, runc)" in caught.value.problem
    assert caught.value.fix is not None
    assert "apt-get install runsc" in caught.value.fix and "/etc/docker/daemon.json" in caught.value.fix
    assert '"runtimeArgs": ["--network=none"]' in caught.value.fix and "HUP" in caught.value.fix


def test_another_unregistered_runtime_names_daemon_json() -> None:
    with pytest.raises(EvolveError, match="no runtime 'kata'") as caught:
        require_runtime(engine_with("runc"), "kata")
    assert caught.value.fix is not None and "daemon.json" in caught.value.fix


def test_gvisor_passes_no_gpu_through() -> None:
    engine = engine_with("runc", GVISOR)
    with pytest.raises(EvolveError, match="GPU was asked for under gVisor"):
        require_runtime(engine, GVISOR, True)
    assert require_runtime(engine, GVISOR, None) is False  # "if there is one": no
    assert require_runtime(engine, GVISOR, False) is False


def test_the_run_option_fills_the_config_and_refuses_what_is_no_runtime_name() -> None:
    parser = argparse.ArgumentParser()
    RUN_OPTIONS.add_run_flags(parser)
    values = vars(parser.parse_args(["--domain", "function:branin", "--sandbox-runtime", "runsc"]))
    assert RUN_OPTIONS.run_config(values, run_id="r").sandbox_runtime == "runsc"
    assert RUN_OPTIONS.run_config({**values, "sandbox_runtime": None}, run_id="r").sandbox_runtime is None
    assert RUN_OPTIONS.argv({"sandbox_runtime": "runsc"}) == ["--sandbox-runtime", "runsc"]
    with pytest.raises(ValueError, match="sandbox_runtime"):
        RUN_OPTIONS.run_config({**values, "sandbox_runtime": "run sc; rm"}, run_id="r")


@pytest.mark.docker
def test_a_smoke_test_under_an_unregistered_runtime_fails_before_any_container(
    docker_client: Any, sandbox_image: str, our_containers: Callable[..., list[Any]]
) -> None:
    from bilevel_evolve.sandbox.box import run_smoke_test

    source = MechanismSource(TABU.read_bytes() + b"\n# unregistered-runtime probe\n")
    with pytest.raises(EvolveError, match="no runtime 'no-such-runtime'"):
        run_smoke_test(source, limits=BoxLimits(runtime="no-such-runtime"), client=docker_client,
                       image=sandbox_image, gpu_wanted=False)
    assert not [c for c in our_containers(**{"bilevel-evolve.kind": "smoke"}) if source.sha256[:12] in c.name]


@pytest.fixture
def gvisor(docker_client: Any, sandbox_image: str) -> str:
    from bilevel_evolve.sandbox.runtime import registered_runtimes

    if GVISOR not in registered_runtimes(docker_client):
        pytest.skip("gVisor's runsc is not registered with this Docker engine (docs/SANDBOX.md: how to)")
    return GVISOR


@pytest.mark.docker
def test_an_ordinary_mechanism_passes_gate_and_box_under_gvisor(docker_client: Any, gvisor: str) -> None:
    from bilevel_evolve.sandbox.vet import check_mechanism

    report = check_mechanism(TABU, client=docker_client, gpu=None, runtime=gvisor)
    assert report.accepted, report.to_text()


@pytest.mark.docker
def test_under_gvisor_the_mechanism_sees_a_user_space_kernel_and_stays_contained(
    probe: Callable[..., tuple[dict[str, Any], Any]], gvisor: str
) -> None:
    results, report = probe(textwrap.dedent("""
        import socket
        results["release"] = os.uname().release
        results["uid"] = os.getuid()
        try:
            open("/escaped", "w")
            results["root"] = "written"
        except OSError as exc:
            results["root"] = exc.__class__.__name__
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            results["net"] = "connected"
        except OSError as exc:
            results["net"] = exc.__class__.__name__
        import numpy as np
        np.testing.measure("open('/tmp/ran', 'w').write('x')", 1)
        results["bypass_ran"] = os.path.exists("/tmp/ran")
    """), runtime=gvisor, import_s=120.0, deadline_s=180.0)
    assert report.ok, report.to_text()
    assert results["release"] != platform.release()  # gVisor's kernel answers, not the host's
    assert results["uid"] == 10001 and results["root"] != "written" and results["net"] != "connected"
    assert results["bypass_ran"] is True


@pytest.mark.docker
def test_a_live_mechanism_answers_hooks_under_gvisor(docker_client: Any, gvisor: str) -> None:
    from bilevel_evolve.domains.registry import load_domain
    from bilevel_evolve.ground.records import SearchConfig, SearchContext
    from bilevel_evolve.sandbox.hosts.container import HOST_LIMITS, ContainerHost

    domain = load_domain("function:branin")
    ctx = SearchContext(space=domain.space, direction=domain.direction, iteration=0, history=(), incumbent=None,
                        config=SearchConfig()).to_json()
    host = ContainerHost("gvisor-test", client=docker_client,
                         limits=HOST_LIMITS.model_copy(update={"runtime": gvisor}))
    try:
        loaded = host.load("tabu", MechanismSource(TABU.read_bytes()), None)
        assert (loaded.class_name, "guide" in loaded.hooks) == ("TabuSearch", True)
        host.call("tabu", "guide", ctx, 0, {})
        assert isinstance(json.loads(host.state_json("tabu")), dict)
    finally:
        host.close()


@pytest.mark.docker
def test_evolve_check_and_run_name_an_unregistered_runtime(docker_client: Any, sandbox_image: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from bilevel_evolve.engine.cli.main import main
    from bilevel_evolve.ground.errors import EXIT_FAILED

    assert main(["check", str(TABU), "--sandbox-runtime", "no-such-runtime",
                 "--report-dir", str(tmp_path / "check")]) == EXIT_FAILED
    assert "--sandbox-runtime no-such-runtime: this Docker engine has no runtime" in capsys.readouterr().err
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "function:branin", "--iterations", "2", "--mechanism", str(TABU),
                 "--sandbox-runtime", "no-such-runtime", "--run-dir", str(run_dir), "--no-progress"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "no runtime 'no-such-runtime'" in err and "daemon.json" in err
    assert not (run_dir / "trace.jsonl").exists()
