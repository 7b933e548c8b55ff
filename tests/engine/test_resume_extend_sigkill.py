"""A finished run extended with `evolve resume RUN --iterations N`, the real process SIGKILLed at random
steps of the extension and resumed with a plain `evolve resume` each time: the run ends with the
decisions of an uninterrupted run of N iterations, no trial lost or repeated, the finished part untouched."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from kill_resume import MIXED_SPACE_OBJECTIVE as OBJECTIVE
from kill_resume import decided_trials, reference_run, run_with_kills


@pytest.mark.slow
def test_an_extension_killed_by_sigkill_resumes_plainly_with_no_trial_lost_or_repeated(tmp_path: Path) -> None:
    objective = tmp_path / "objective.py"
    objective.write_text(OBJECTIVE)
    common = ["--domain", f"function:{objective}", "--levels", "1,1.5", "--seed", "11", "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_run([*common, "--iterations", "150"], tmp_path / "ref", env=env, cwd=tmp_path)
    reference = decided_trials(tmp_path / "ref")

    run_dir = tmp_path / "extended"
    reference_run([*common, "--iterations", "30"], run_dir, env=env, cwd=tmp_path)
    finished_part = (run_dir / "trace.jsonl").read_bytes()
    decided = len(decided_trials(run_dir))  # 31: the baseline and 30 iterations
    # kill points count the decisions of the whole trace: anywhere in the first 80 % of the extension
    kill_after = random.Random(4321).sample(range(decided + 1, decided + int(0.8 * (len(reference) - decided))), 4)
    kills = run_with_kills(common, run_dir, env=env, cwd=tmp_path, kill_after=kill_after,
                           first=["resume", str(run_dir), "--iterations", "150", "--no-progress"])
    assert len(kills) >= 2, f"only {kills} kills landed mid-extension; the test did not test resume"

    assert (run_dir / "trace.jsonl").read_bytes().startswith(finished_part)
    assert decided_trials(run_dir) == reference
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert [(e["iterations_before"], e["iterations"]) for e in events if e["kind"] == "run_extended"] == [(30, 150)]
    assert sum(1 for e in events if e["kind"] == "run_resumed") >= 1 + len(kills)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["iterations"] == 150 and len(config["extensions"]) == 1
