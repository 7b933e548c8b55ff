"""The engine pool without Docker: what `--docker-host` accepts, how runs are spread over slots,
what a child run is given, and the error when no engine answers (nothing written)."""

from __future__ import annotations

import importlib.util
import socket
import time
from pathlib import Path

import pytest
from engine_assignments import read_assignments

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.sandbox.engine_pool import (
    EnginePool,
    EngineSpec,
    parse_engine,
    parse_engines,
    ping,
)


@pytest.mark.parametrize(("text", "url", "slots", "gpus"), [
    ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock", 3, ()),
    ("tcp://gpu-box:2375#slots=2", "tcp://gpu-box:2375", 2, ()),
    ("tcp://10.0.0.7:2376#slots=4,gpus=0+1", "tcp://10.0.0.7:2376", 4, ("0", "1")),
    ("unix:///run/d2.sock#gpus=0+1+2", "unix:///run/d2.sock", 3, ("0", "1", "2")),
])
def test_docker_host_takes_a_url_with_slots_and_gpus(text: str, url: str, slots: int, gpus: tuple[str, ...]) -> None:
    assert parse_engine(text, default_slots=3) == EngineSpec(url=url, slots=slots, gpus=gpus)


@pytest.mark.skipif(importlib.util.find_spec("paramiko") is None, reason="paramiko not installed")
def test_ssh_engines_are_accepted_when_the_sdk_can_speak_ssh() -> None:
    assert parse_engine("ssh://me@gpu-box#slots=2", 1) == EngineSpec(url="ssh://me@gpu-box", slots=2)


@pytest.mark.skipif(importlib.util.find_spec("paramiko") is not None, reason="paramiko installed")
def test_ssh_engines_without_paramiko_say_what_to_install() -> None:
    with pytest.raises(UsageError) as err:
        parse_engine("ssh://me@gpu-box", 1)
    assert "docker[ssh]" in err.value.fix


@pytest.mark.parametrize(("text", "says"), [
    ("http://gpu-box:2375", "unix://, tcp:// or ssh://"),
    ("gpu-box:2375", "unix://, tcp:// or ssh://"),
    ("tcp://gpu-box", "no port"),
    ("tcp://:2375", "no host"),
    ("unix://", "no socket path"),
    ("unix:///x.sock#slots=0", "slots must be"),
    ("unix:///x.sock#slots=two", "slots must be"),
    ("unix:///x.sock#cpus=2", "unknown option"),
])
def test_a_bad_docker_host_is_a_usage_error(text: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_engine(text, 1)
    assert says in err.value.problem


def test_the_same_engine_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_engines(["unix:///a.sock", "unix:///b.sock", "unix:///a.sock#slots=2"], 1)


def test_without_docker_host_there_is_one_engine_with_workers_slots_and_the_environment_untouched() -> None:
    pool = EnginePool(parse_engines(None, 3))
    slots = [pool.acquire() for _ in range(4)]
    assert slots[3] is None and not pool.explicit
    assert [s.environment() for s in slots[:3] if s] == [{}, {}, {}]
    assert pool.check(image="anything") == []  # never pinged: exactly the single-engine behaviour


def test_runs_are_spread_to_the_engine_with_most_free_slots_and_get_its_docker_host() -> None:
    pool = EnginePool(parse_engines(["unix:///a.sock#slots=1", "unix:///b.sock#slots=2,gpus=4+5"], 1))
    for engine in pool.engines:  # as if both had just answered a ping (nothing listens on these sockets)
        engine.answered_at = time.monotonic() + 3600
    got = [pool.acquire() for _ in range(4)]
    assert got[3] is None
    assert [s.environment() for s in got if s] == [
        {"DOCKER_HOST": "unix:///b.sock", "CUDA_VISIBLE_DEVICES": "4"},
        {"DOCKER_HOST": "unix:///a.sock"},
        {"DOCKER_HOST": "unix:///b.sock", "CUDA_VISIBLE_DEVICES": "5"},
    ]
    assert got[1] is not None
    pool.release(got[1])
    again = pool.acquire()
    assert again is not None and again.environment() == {"DOCKER_HOST": "unix:///a.sock"}


def test_an_engine_that_does_not_answer_gets_no_run_and_is_marked_lost(tmp_path: Path) -> None:
    pool = EnginePool(parse_engines([f"unix://{tmp_path}/none.sock#slots=2"], 1))
    assert pool.acquire() is None
    assert not pool.engines[0].alive and pool.engines[0].lost_reason


def _dead_tcp_url() -> str:
    with socket.socket() as s:  # a port nobody listens on (bound and released)
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_a_silent_engine_is_reported_with_why(tmp_path: Path) -> None:
    assert ping(f"unix://{tmp_path}/none.sock") is not None
    assert ping(_dead_tcp_url(), timeout_s=1.0) is not None


def test_when_no_engine_answers_the_error_names_every_host_and_how_to_start_one(tmp_path: Path) -> None:
    hosts = [f"unix://{tmp_path}/none.sock", _dead_tcp_url()]
    pool = EnginePool(parse_engines(hosts, 1))
    with pytest.raises(EvolveError) as err:
        pool.check()
    assert all(h in err.value.problem for h in hosts)
    assert "scripts/second-engine.sh" in err.value.fix and "repeat the same command" in err.value.fix


def test_ablate_with_only_dead_engines_fails_before_writing_anything(tmp_path: Path, objective: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "abl"
    hosts = [f"unix://{tmp_path}/none.sock", _dead_tcp_url()]
    code = main(["ablate", "--domain", f"function:{objective}", "--groups", "A", "--repeats", "1", "--iterations",
                 "2", "--out", str(out), "--no-progress", "--docker-host", hosts[0], "--docker-host", hosts[1]])
    assert code == 1
    err = capsys.readouterr().err
    assert "no Docker engine answers" in err and hosts[0] in err and hosts[1] in err
    assert not out.exists()


def test_a_bad_docker_host_on_the_command_line_exits_2_and_writes_nothing(tmp_path: Path, objective: Path) -> None:
    out = tmp_path / "abl"
    code = main(["ablate", "--domain", f"function:{objective}", "--groups", "A", "--out", str(out),
                 "--docker-host", "http://gpu-box"])
    assert code == 2 and not out.exists()


def test_a_default_ablation_records_no_engine_assignments(tmp_path: Path, objective: Path) -> None:
    out = tmp_path / "abl"
    assert main(["ablate", "--domain", f"function:{objective}", "--groups", "A", "--repeats", "1", "--iterations",
                 "2", "--out", str(out), "--no-progress"]) == 0
    assert read_assignments(out) == [] and not (out / "engines.jsonl").exists()
