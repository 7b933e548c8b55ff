"""Each in-flight trial gets its own GPUs (CUDA_VISIBLE_DEVICES), never another's; bad requests are
clear errors that write nothing. This machine has no GPU: the ids are given with --gpus (or the
engine's CUDA_VISIBLE_DEVICES) and the trial is a command that prints what it sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.gpu_slots import GpuInventory, assign_gpus
from bilevel_evolve.ground.errors import UsageError

TRIAL = r'''
echo "begin $(date +%s.%N)"
echo "devices [${CUDA_VISIBLE_DEVICES-unset}]"
sleep 0.05
echo "finish $(date +%s.%N)"
awk "BEGIN{print \"score: \" ($EVOLVE_PARAM_X - 1)^2}"
'''
SPEC = {"command": ["sh", "trial.sh"], "metric_regex": "score: ([0-9.eE+-]+)", "param_style": "env",
        "space": {"x": {"type": "float", "low": -5, "high": 5, "default": 3}}}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    (tmp_path / "trial.sh").write_text(TRIAL)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


def _run(capsys: pytest.CaptureFixture, spec: Path, run_dir: Path, *flags: str) -> tuple[int, str]:
    code = main(["run", "--domain", f"command:{spec}", "--iterations", "11", "--run-dir", str(run_dir),
                 "--no-progress", *flags])
    return code, capsys.readouterr().err


def _seen(run_dir: Path) -> list[tuple[float, float, str]]:
    """(start, end, devices) of every trial."""
    out = []
    for log in sorted(run_dir.glob("trials/*/command.log")):
        text = log.read_text()
        begin, finish = (float(re.search(rf"{word} ([0-9.]+)", text).group(1))  # type: ignore[union-attr]
                         for word in ("begin", "finish"))
        out.append((begin, finish, re.search(r"devices \[(.*)\]", text).group(1)))  # type: ignore[union-attr]
    return out


def test_each_in_flight_trial_sees_only_its_own_gpus(tmp_path: Path, spec: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    code, err = _run(capsys, spec, tmp_path / "run", "--workers", "2", "--gpus", "0,1,2,3")
    assert code == 0, err
    assert "2 GPU slots of 2 (--gpus): 0,1 | 2,3" in err
    seen = _seen(tmp_path / "run")
    assert len(seen) == 12 and {devices for _, _, devices in seen} <= {"0,1", "2,3"}
    for i, (start_a, end_a, devices_a) in enumerate(seen):
        for start_b, end_b, devices_b in seen[i + 1:]:
            if start_a < end_b and start_b < end_a:  # they ran at the same time
                assert devices_a != devices_b


def test_the_engines_cuda_visible_devices_are_the_ones_shared_out(tmp_path: Path, spec: Path,
                                                                  capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    code, err = _run(capsys, spec, tmp_path / "run", "--workers", "2")
    assert code == 0, err
    assert {devices for _, _, devices in _seen(tmp_path / "run")} <= {"5", "7"}


def test_one_worker_without_a_gpu_flag_leaves_the_environment_as_it_was(tmp_path: Path, spec: Path,
                                                                        capsys: pytest.CaptureFixture,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    code, err = _run(capsys, spec, tmp_path / "run")
    assert code == 0, err
    assert {devices for _, _, devices in _seen(tmp_path / "run")} == {"unset"}


def test_without_a_gpu_the_slots_are_cpu_slots_and_it_says_so(tmp_path: Path, spec: Path,
                                                              capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code, err = _run(capsys, spec, tmp_path / "run", "--workers", "2")
    assert code == 0, err
    assert "no GPU (CUDA_VISIBLE_DEVICES of the engine is empty): 2 CPU slots" in err


@pytest.mark.parametrize("flags, fragment", [
    (["--workers", "0"], "workers"),
    (["--workers", "2", "--gpus", "0"], "2 workers but 1 GPU"),
    (["--gpus", "0,1", "--gpus-per-trial", "3"], "need 3 GPUs; there are 2"),
    (["--workers", "2", "--gpus", "0,0"], "names a device twice"),
    (["--ray-address", "127.0.0.1:1"], "--ray-address is for --executor ray"),
    (["--executor", "ray", "--gpus", "0"], "Ray places the trials"),
])
def test_bad_trial_placement_is_a_usage_error_that_writes_nothing(tmp_path: Path, spec: Path,
                                                                  capsys: pytest.CaptureFixture,
                                                                  flags: list[str], fragment: str) -> None:
    code, err = _run(capsys, spec, tmp_path / "run", *flags)
    assert code == 2 and fragment in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_gpus_per_trial_without_any_gpu_is_an_error() -> None:
    with pytest.raises(UsageError, match="asks for GPUs, but there are none"):
        assign_gpus(2, None, 1, GpuInventory((), "nvidia-smi is not on PATH"))
    slots = assign_gpus(3, None, None, GpuInventory(("0", "1", "2", "3", "4", "5", "6"), "nvidia-smi -L"))
    assert slots.slots == (("0", "1"), ("2", "3"), ("4", "5"))  # 7 GPUs, 3 workers: 2 each, one left over
