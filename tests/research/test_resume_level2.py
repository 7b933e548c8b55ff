"""SIGKILL the engine during research sessions and injections, resume, and check that nothing was
lost or repeated: same trials, same mechanism decisions, a consistent archive, no leftovers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kill_resume import reference_run, run_with_kills

from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = [pytest.mark.usefixtures("sandbox_ready"), pytest.mark.slow]


def _decisions(run_dir: Path) -> tuple[list, list, tuple]:
    events = RunStore.open(run_dir).events()
    trials = [(e.step, e.params, e.value, e.status) for e in events if e.kind == "trial"]
    assert [t[0] for t in trials] == list(range(len(trials))), "a trial was lost or repeated"
    hooks = [(e.step, e.mechanism, e.hook, json.dumps(e.result, sort_keys=True)) for e in events if e.kind == "hook"]
    active = next(e.active for e in reversed(events) if e.kind in ("injection", "rollback"))
    return trials, hooks, active


def test_resume_after_sigkill_mid_session_keeps_archive_and_active_set_consistent(tmp_path: Path) -> None:
    common = ["--domain", "function:hartmann6", "--iterations", "20", "--levels", "1,2", "--level2-every", "4",
              "--seed", "3", "--no-progress", "--archive", str(tmp_path / "archive")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_run(common, tmp_path / "ref", env=env, cwd=tmp_path)
    reference = _decisions(tmp_path / "ref")
    sessions = [e.step for e in RunStore.open(tmp_path / "ref").events() if e.kind == "research_session"]
    assert len(sessions) >= 2

    run_dir = tmp_path / "killed"
    # once step S-1 is decided, step S begins with its research session: each kill lands in one
    kills = run_with_kills(common, run_dir, env=env, cwd=tmp_path, kill_after=sessions)
    assert len(kills) >= 2, f"only {kills} kills landed mid-run"
    trials, hooks, active = _decisions(run_dir)
    assert trials == reference[0]
    assert hooks == reference[1]
    assert active == reference[2]
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.verify()
        assert report.ok, report.problems
