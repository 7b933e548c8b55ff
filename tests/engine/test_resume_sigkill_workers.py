"""Two trials in flight (`--workers 2`), the real `evolve` process SIGKILLed at random steps and resumed:
the run ends with the decisions of an uninterrupted `--workers 2` run, and no trial whose result the
engine had recorded (in the trace or in finished.jsonl) is ever started again."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from kill_resume import decided_trials, reference_run, run_with_kills

# Each trial notes its start and end (its step is its directory's name) and sleeps a seeded while, so
# that the two trials in flight finish in either order.
TRIAL = r'''
S=$(basename "$EVOLVE_TRIAL_DIR")
echo "start $S" >> "$MARKS"
sleep $(awk "BEGIN{srand($EVOLVE_SEED); print rand() * 0.04}")
echo "end $S" >> "$MARKS"
awk "BEGIN{print \"score: \" ($EVOLVE_PARAM_X - 1)^2 + ($EVOLVE_PARAM_Y - 2)^2}"
'''
SPEC = {"command": ["sh", "trial.sh"], "metric_regex": "score: ([0-9.eE+-]+)", "param_style": "env",
        "space": {"x": {"type": "float", "low": -5, "high": 5, "default": 3},
                  "y": {"type": "float", "low": -5, "high": 5, "default": -3}}}



def _recorded(run_dir: Path) -> set[int]:
    """The steps whose results the engine has written down: traced, or journaled ahead of their turn."""
    steps = {json.loads(line)["step"] for line in (run_dir / "trace.jsonl").read_text().splitlines()
             if '"kind":"trial"' in line}
    journal = run_dir / "finished.jsonl"
    if journal.exists():
        steps |= {json.loads(line)["step"] for line in journal.read_text().splitlines() if line.endswith("}")}
    return steps


@pytest.mark.slow
def test_sigkill_and_resume_with_two_workers_loses_and_repeats_nothing(tmp_path: Path) -> None:
    (tmp_path / "trial.sh").write_text(TRIAL)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    common = ["--domain", f"command:{tmp_path / 'spec.json'}", "--iterations", "60", "--seed", "11",
              "--workers", "2", "--no-progress"]
    reference_marks, marks = tmp_path / "reference.marks", tmp_path / "killed.marks"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_run(common, tmp_path / "ref", env={**env, "MARKS": str(reference_marks)}, cwd=tmp_path)
    reference = decided_trials(tmp_path / "ref")

    run_dir = tmp_path / "killed"
    at_kills: list[tuple[set[int], int]] = []  # (steps recorded, lines in the marks file) at each kill

    def note() -> None:
        at_kills.append((_recorded(run_dir), len(marks.read_text().splitlines())))

    kill_after = random.Random(77).sample(range(2, int(0.8 * len(reference))), 4)
    kills = run_with_kills(common, run_dir, env={**env, "MARKS": str(marks)}, cwd=tmp_path, kill_after=kill_after,
                           after_kill=note)
    assert len(kills) >= 3, f"only {kills} kills landed mid-run; the test did not test resume"
    assert decided_trials(run_dir) == reference
    lines = marks.read_text().splitlines()
    for recorded, position in at_kills:
        started_again = {int(line.split()[1]) for line in lines[position:] if line.startswith("start")}
        assert not recorded & started_again, f"recorded trials ran again: {sorted(recorded & started_again)}"
    assert (run_dir / "finished.jsonl").exists(), "no trial finished ahead of its turn: the test tested little"
