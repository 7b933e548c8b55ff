"""Kill the real `evolve` process with SIGKILL at random steps, resume each time, and compare
the trial sequence with an uninterrupted run of the same seed."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from kill_resume import MIXED_SPACE_OBJECTIVE as OBJECTIVE
from kill_resume import decided_trials, reference_run, run_with_kills


@pytest.mark.slow
def test_resume_after_repeated_sigkill_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    objective = tmp_path / "objective.py"
    objective.write_text(OBJECTIVE)
    common = ["--domain", f"function:{objective}", "--iterations", "200", "--seed", "11", "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_run(common, tmp_path / "ref", env=env, cwd=tmp_path)
    reference = decided_trials(tmp_path / "ref")

    run_dir = tmp_path / "killed"
    # anywhere in the first 80 % of the run: the rest leaves every kill time to land before the end
    kill_after = random.Random(1234).sample(range(1, int(0.8 * len(reference))), 5)
    kills = run_with_kills(common, run_dir, env=env, cwd=tmp_path, kill_after=kill_after)
    assert len(kills) >= 3, f"only {kills} kills landed mid-run; the test did not test resume"
    assert decided_trials(run_dir) == reference
    resumed = [json.loads(x) for x in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert sum(1 for e in resumed if e["kind"] == "run_resumed") >= 1
