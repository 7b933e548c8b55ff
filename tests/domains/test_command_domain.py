"""The command domain: parameters in as args or env, metric out by regex, every failure a status."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from bilevel_evolve.domains.command import CommandDomain
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.ground.errors import UsageError

BENCH = textwrap.dedent("""\
    import argparse, os, subprocess, sys, time
    mode = os.environ.get("MODE", "ok")
    if os.environ.get("EVOLVE_PARAM_X") is not None:
        x, name = float(os.environ["EVOLVE_PARAM_X"]), os.environ["EVOLVE_PARAM_NAME"]
    else:
        ap = argparse.ArgumentParser()
        ap.add_argument("--x", type=float)
        ap.add_argument("--name")
        args = ap.parse_args()
        x, name = args.x, args.name
    print("score: 999 (a warm-up line; the last match wins)")
    if mode == "crash":
        sys.exit(3)
    if mode == "quiet":
        print("no metric today")
        sys.exit(0)
    if mode == "flood":
        sys.stdout.write("y" * 200_000 + "\\n")
    if mode == "daemon":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open(os.environ["PID_FILE"], "w").write(str(child.pid))
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(os.environ["PID_FILE"], "w").write(str(child.pid))
        time.sleep(60)
    print(f"seed {os.environ['EVOLVE_SEED']} name {name}", file=sys.stderr)
    print(f"score: {x * 2}")
""")


def make_spec(tmp_path: Path, **overrides: Any) -> Path:
    (tmp_path / "bench.py").write_text(BENCH)
    spec = {
        "command": ["python", "bench.py"],
        "space": {
            "x": {"type": "float", "low": -5.0, "high": 5.0, "default": 1.0},
            "name": {"type": "choice", "choices": ["a", "b c"], "default": "a"},
        },
        "direction": "maximize",
        "metric_regex": r"score: ([0-9.eE+-]+)",
        "timeout_s": 30,
        **overrides,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("style", ["args", "env"])
def test_params_reach_the_program_and_the_last_regex_match_is_the_metric(style: str, tmp_path: Path) -> None:
    domain = load_domain(f"command:{make_spec(tmp_path, param_style=style)}")
    assert domain.direction == "maximize"
    result = domain.run_trial({"x": -1.5, "name": "b c"}, tmp_path / "trial", seed=11)
    assert (result.status, result.value) == ("ok", -3.0)
    log = (tmp_path / "trial" / "command.log").read_text()
    assert "seed 11 name b c" in log


def test_nonzero_exit_is_crashed(tmp_path: Path) -> None:
    domain = load_domain(f"command:{make_spec(tmp_path, env={'MODE': 'crash'})}")
    result = domain.run_trial({"x": 1.0, "name": "a"}, tmp_path / "trial", seed=0)
    assert result.status == "crashed"
    assert "status 3" in result.message


def test_missing_metric_is_failed_with_the_output_tail(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, env={"MODE": "quiet"}, metric_regex=r"final: (\d+)")
    domain = load_domain(f"command:{spec}")
    result = domain.run_trial({"x": 1.0, "name": "a"}, tmp_path / "trial", seed=0)
    assert result.status == "failed"
    assert "no metric today" in result.message


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    spec = make_spec(tmp_path, env={"MODE": "hang", "PID_FILE": str(pid_file)})
    domain = load_domain(f"command:{spec}", DomainOptions(trial_timeout_s=2))
    result = domain.run_trial({"x": 1.0, "name": "a"}, tmp_path / "trial", seed=0)
    assert result.status == "timeout"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_children_left_running_after_a_normal_exit_are_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    spec = make_spec(tmp_path, env={"MODE": "daemon", "PID_FILE": str(pid_file)})
    result = load_domain(f"command:{spec}").run_trial({"x": 1.0, "name": "a"}, tmp_path / "trial", seed=0)
    assert result.status == "ok"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_program_that_cannot_be_executed_is_a_usage_error(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, command=["./bench.py"])  # not executable: no exec bit
    domain = load_domain(f"command:{spec}")
    with pytest.raises(UsageError, match="cannot start"):
        domain.run_trial({"x": 1.0, "name": "a"}, tmp_path / "trial", seed=0)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not reaped it


def test_log_file_is_size_capped_and_keeps_the_tail(tmp_path: Path) -> None:
    domain = CommandDomain(make_spec(tmp_path, env={"MODE": "flood"}), DomainOptions(max_log_bytes=8192))
    result = domain.run_trial({"x": 2.0, "name": "a"}, tmp_path / "trial", seed=0)
    assert (result.status, result.value) == ("ok", 4.0)
    log = (tmp_path / "trial" / "command.log").read_text()
    assert len(log) < 8192 + 100
    assert "bytes of output omitted" in log
    assert log.rstrip().endswith("score: 4.0")


def test_space_override_replaces_the_spec_space(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"x": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5}}))
    domain = CommandDomain(make_spec(tmp_path, param_style="args"), DomainOptions(space_file=space))
    assert domain.space.names == ["x"]
    assert domain.argv({"x": 0.25}) [-2:] == ["--x", "0.25"]


BAD_SPECS: dict[str, tuple[Any, str]] = {
    "not json": ("{command: nope", "not valid JSON"),
    "no command": ({"space": {}, "metric_regex": "(x)"}, "command"),
    "empty command": ({"command": [], "space": {}, "metric_regex": "(x)"}, "command"),
    "regex without group": ({"command": ["python"], "metric_regex": "score: [0-9]+",
                             "space": {"x": {"type": "int", "low": 0, "high": 1, "default": 0}}}, "capture group"),
    "regex does not compile": ({"command": ["python"], "metric_regex": "score: ([0-9]+",
                                "space": {"x": {"type": "int", "low": 0, "high": 1, "default": 0}}}, "compile"),
    "bad param_style": ({"command": ["python"], "metric_regex": "(x)", "param_style": "stdin",
                         "space": {"x": {"type": "int", "low": 0, "high": 1, "default": 0}}}, "param_style"),
    "unknown field": ({"command": ["python"], "metric_regex": "(x)", "retries": 3,
                       "space": {"x": {"type": "int", "low": 0, "high": 1, "default": 0}}}, "retries"),
    "bad space": ({"command": ["python"], "metric_regex": "(x)",
                   "space": {"x": {"type": "int", "low": 5, "high": 1, "default": 0}}}, "'x' is invalid"),
    "program not found": ({"command": ["no-such-program-xyz"], "metric_regex": "(x)",
                           "space": {"x": {"type": "int", "low": 0, "high": 1, "default": 0}}}, "not found"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_a_usage_error_with_a_fix(case: str, tmp_path: Path) -> None:
    raw, expected = BAD_SPECS[case]
    path = tmp_path / "spec.json"
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    with pytest.raises(UsageError) as info:
        load_domain(f"command:{path}")
    assert expected in str(info.value)
    assert info.value.fix
