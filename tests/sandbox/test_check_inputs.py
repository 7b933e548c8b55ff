"""Issue 15, item 5 and the findings about `evolve check`: a source is bytes and never a path (case 33),
a mechanism's name reaches the terminal escaped, a 50,000-deep trace line is a clear error, and a
smoke test's staging folder is removed on every exit path, a killed engine's by the next smoke test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.contract.source import MechanismSource, sha256_hex
from bilevel_evolve.sandbox.box import STAGING_PREFIX, run_smoke_test
from bilevel_evolve.sandbox.lifecycle import LABEL_PID, sweep_orphans
from bilevel_evolve.sandbox.vet import check_mechanism

HOST_MECHANISM = """
class HostOnlySecretMechanism:
    name = "host-only-secret"

    def observe(self, trial, ctx):
        return None


MECHANISM = HostOnlySecretMechanism
"""
ANSI_NAME = r'''
class Painter:
    name = "painter\x1b[31m\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\x1b[2J"

    def observe(self, trial, ctx):
        return None


MECHANISM = Painter
'''
SLOW_TO_BUILD = """
class Slow:
    name = "slow"

    def __init__(self):
        while True:
            pass

    def observe(self, trial, ctx):
        return None


MECHANISM = Slow
"""
QUICK = """
class Quick:
    name = "quick"

    def observe(self, trial, ctx):
        return None


MECHANISM = Quick
"""


def _host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host_only.py"
    path.write_text(HOST_MECHANISM)
    return path


def test_a_source_that_is_the_path_of_a_host_file_is_judged_as_that_text(tmp_path: Path) -> None:
    path_text = str(_host_file(tmp_path))
    report = check_mechanism(path_text)
    assert report.status == "rejected-static"
    assert report.sha256 == sha256_hex(path_text.encode())
    assert "HostOnlySecretMechanism" not in report.model_dump_json() + report.to_text()


@pytest.mark.docker
def test_with_the_gate_off_the_box_runs_the_path_text_never_the_file(tmp_path: Path, docker_client: Any,
                                                                     sandbox_image: str) -> None:
    path_text = str(_host_file(tmp_path))
    report = check_mechanism(path_text, gate=False, client=docker_client)
    assert report.status == "rejected-smoke"
    assert report.sha256 == sha256_hex(path_text.encode())
    assert "HostOnlySecretMechanism" not in report.model_dump_json() + report.to_text()


@pytest.mark.docker
def test_evolve_check_of_a_file_whose_content_is_a_path_does_not_read_that_path(
        tmp_path: Path, sandbox_ready: None, capsys: pytest.CaptureFixture[str]) -> None:
    pointer = tmp_path / "pointer.py"
    pointer.write_text(str(_host_file(tmp_path)))
    assert main(["check", str(pointer), "--report-dir", str(tmp_path / "reports")]) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out and "HostOnlySecretMechanism" not in out and "host-only-secret" not in out


@pytest.mark.docker
def test_a_name_with_terminal_escapes_is_printed_escaped_by_evolve_check(
        tmp_path: Path, sandbox_ready: None, capsys: pytest.CaptureFixture[str]) -> None:
    mech = tmp_path / "painter.py"
    mech.write_text(ANSI_NAME)
    assert main(["check", str(mech), "--report-dir", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "painter\\x1b[31m\\x1b]8;;http://evil.example\\x07click" in out
    assert "\x1b" not in (tmp_path / "reports" / "report.txt").read_text()


def test_a_deeply_nested_trace_line_is_a_clear_error_not_a_traceback(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mech = tmp_path / "quick.py"
    mech.write_text(QUICK)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("[" * 50_000 + "]" * 50_000 + "\n")
    assert main(["check", str(mech), "--trace", str(trace), "--report-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "is not a JSON trace" in err and "Traceback" not in err


def _staging(root: Path) -> list[Path]:
    return sorted(root.glob(f"{STAGING_PREFIX}*"))


@pytest.mark.docker
def test_a_smoke_test_leaves_no_staging_folder(tmp_path: Path, docker_client: Any, sandbox_image: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run_smoke_test(MechanismSource.from_text(QUICK), client=docker_client).ok
    assert _staging(tmp_path) == []


@pytest.mark.docker
def test_the_staging_folder_of_a_killed_smoke_test_is_removed_by_the_next_one(
        tmp_path: Path, docker_client: Any, sandbox_image: str, engine_pids: set[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code = ("import sys\nfrom bilevel_evolve.ground.contract.source import MechanismSource\n"
            "from bilevel_evolve.sandbox.box import run_smoke_test\n"
            "run_smoke_test(MechanismSource.from_text(sys.stdin.read()))\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp_path)})
    engine_pids.add(child.pid)
    assert child.stdin is not None
    child.stdin.write(SLOW_TO_BUILD.encode())
    child.stdin.close()
    owned = {"label": [f"{LABEL_PID}={child.pid}"]}
    try:
        # Killed once its container runs (the mechanism never finishes building): a kill in the middle of
        # the container's create would leave one that the engine makes after the sweep below has run.
        while not ([p for p in _staging(tmp_path) if p.name.startswith(f"{STAGING_PREFIX}{child.pid}-")]
                   and docker_client.api.containers(filters=owned)):
            assert child.poll() is None, "the smoke test ended before its staging folder and container were seen"
            time.sleep(0.005)
    finally:
        child.send_signal(signal.SIGKILL)  # no finally runs in the child
        child.wait()
    leftover = _staging(tmp_path)
    assert len(leftover) == 1  # what a kill leaves
    sweep_orphans(docker_client)  # its container: the next engine's start-up sweep removes it
    assert docker_client.api.containers(all=True, filters=owned) == []
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert run_smoke_test(MechanismSource.from_text(QUICK), client=docker_client).ok
    assert _staging(tmp_path) == []
