"""A Level 1.5 + Level 2 run of 8 iterations extended to 16, SIGKILLed at the extension's research sessions
and resumed plainly: it decides as a run of 16 from the start: the same trials, hooks, sessions,
injections, effects and rollbacks, the same mechanisms live at the end, and the archive records what a
run of 16 records for it. Real gate, real box, real mechanism containers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kill_resume import decided_trials, reference_run, run_with_kills

from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = [pytest.mark.usefixtures("sandbox_ready"), pytest.mark.slow]

SESSIONS = ("research_session", "injection", "rollback", "effect", "config_changed", "hook")
RESTARTS = ("run_finished", "run_extended", "run_resumed")


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def _outer(events: list[dict[str, Any]]) -> list[tuple]:
    """What the outer levels and the mechanisms did, in order (times and durations left out)."""
    out = []
    for e in events:
        if e["kind"] in SESSIONS:
            detail = {k: e.get(k) for k in ("mechanism", "name", "hook", "result", "after", "chosen", "active")}
            if e["kind"] == "effect":
                detail["verdict"] = e["effect"].get("verdict")
            out.append((e["kind"], e["step"], json.dumps(detail, sort_keys=True)))
    return out


def _archived(archive_dir: Path, run_id: str) -> dict[str, tuple]:
    """Per mechanism of the run: its latest status, effect verdict and hook counts in that run."""
    with Archive.open(archive_dir) as archive:
        assert archive.verify().ok
        out = {}
        for summary in archive.list(run_id=run_id):
            record = archive.get(summary.id)
            effect = record.effects.get(run_id)
            counts = {hook: {k: v for k, v in stats.items() if k != "ms"}  # the time hooks took is the machine's
                      for hook, stats in (record.hook_stats.get(run_id) or {}).items()}
            out[summary.name] = (record.status_by_run.get(run_id), effect and effect.get("verdict"), counts)
        return out


def test_a_level2_run_extended_and_killed_decides_as_a_run_of_that_length(tmp_path: Path) -> None:
    common = ["--domain", "function:hartmann6", "--levels", "1,1.5,2", "--level2-every", "4", "--seed", "3",
              "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference_run([*common, "--iterations", "16", "--archive", str(tmp_path / "ref-archive")], tmp_path / "ref",
                  env=env, cwd=tmp_path)
    reference = _events(tmp_path / "ref")

    run_dir = tmp_path / "ext"
    args = [*common, "--archive", str(tmp_path / "ext-archive")]
    reference_run([*args, "--iterations", "8"], run_dir, env=env, cwd=tmp_path)
    finished_part = (run_dir / "trace.jsonl").read_bytes()
    # once step S-1 is decided, step S begins with its research session: the extension's are at 12 and 16
    sessions = [e["step"] for e in reference if e["kind"] == "research_session" and e["step"] > 9]
    assert sessions == [12, 16]
    kills = run_with_kills(args, run_dir, env=env, cwd=tmp_path, kill_after=sessions,
                           first=["resume", str(run_dir), "--iterations", "16", "--no-progress"])
    assert kills, "no kill landed mid-extension"

    events = _events(run_dir)
    assert (run_dir / "trace.jsonl").read_bytes().startswith(finished_part)
    assert decided_trials(run_dir) == decided_trials(tmp_path / "ref")
    assert _outer(events) == _outer(reference)
    assert [e["kind"] for e in events if e["kind"] in RESTARTS][:3] == ["run_finished", "run_extended", "run_resumed"]
    assert _archived(tmp_path / "ext-archive", "ext") == _archived(tmp_path / "ref-archive", "ref")
